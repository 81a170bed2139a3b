"""Accounts and what proves who a caller is: API keys, access tokens, webhook secrets.

An API secret is 32 random bytes shown once; the database keeps only HMAC-SHA256 of it
keyed by a deployment key (the `hash-key` setting, made on first use). A high-entropy
secret needs no slow KDF, so checking one costs microseconds, not a bcrypt per request;
the key means a leaked table alone cannot be used to test guesses offline.
An access token (OAuth2 client credentials) is stateless: the key's sid and an expiry,
signed with the same deployment key; it stops working when its key is revoked.
Webhook secrets must be read back to sign, so they are kept as given (newest first, at
most two during a rotation; DESIGN, "Settled decisions").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import signing
from engine.resources import Account, ApiKey, Setting, new_sid, utcnow

TOKEN_LIFETIME = 3600
TOKEN_PREFIX = "cs1."


def hash_key(session: Session) -> bytes:
    """The deployment's hashing key, created (and committed) the first time it is needed."""
    row = session.get(Setting, "hash-key")
    if row is None:
        row = Setting(name="hash-key", value=secrets.token_hex(32))
        session.add(row)
        session.commit()
    return bytes.fromhex(row.value)


def keyed_hash(key: bytes, secret: str) -> str:
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class NewKey:
    account_sid: str
    api_key: str
    api_secret: str

    def as_dict(self) -> dict[str, str]:
        return {"account_sid": self.account_sid, "api_key": self.api_key,
                "api_secret": self.api_secret}


def find_account(session: Session, name_or_sid: str) -> Account | None:
    query = select(Account).where(or_(Account.sid == name_or_sid, Account.name == name_or_sid))
    return session.scalars(query).first()


def add_key(session: Session, account: Account) -> NewKey:
    secret = secrets.token_urlsafe(32)
    row = ApiKey(sid=new_sid("key"), account_sid=account.sid,
                 secret_hash=keyed_hash(hash_key(session), secret))
    session.add(row)
    session.commit()
    return NewKey(account.sid, row.sid, secret)


def create_account(session: Session, name: str) -> NewKey:
    """A new account with one API key and a webhook secret; ValueError if the name is taken."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ValueError("an account name is 1 to 64 characters")
    if find_account(session, name) is not None:
        raise ValueError(f"an account named {name!r} exists")
    account = Account(sid=new_sid("account"), name=name, webhook_secrets=[signing.new_secret()])
    session.add(account)
    try:
        session.flush()
    except IntegrityError:  # made by someone else since the check above
        session.rollback()
        raise ValueError(f"an account named {name!r} exists") from None
    return add_key(session, account)


def revoke_key(session: Session, account: Account, key_sid: str) -> bool:
    row = session.get(ApiKey, key_sid)
    if row is None or row.account_sid != account.sid or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.commit()
    return True


def webhook_secrets(session: Session, account: Account, rotate: bool = False) -> list[str]:
    """The account's active webhook secrets, newest first; `rotate` adds one, keeps two."""
    if rotate or not account.webhook_secrets:
        account.webhook_secrets = [signing.new_secret(), *account.webhook_secrets][:2]
        session.commit()
    return list(account.webhook_secrets)


def check_key(session: Session, key: bytes, key_sid: str, secret: str) -> str | None:
    """The account of an active key whose secret matches, else None."""
    row = session.get(ApiKey, key_sid)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, keyed_hash(key, secret)):
        return None
    return row.account_sid


def active_key_account(session: Session, key_sid: str) -> str | None:
    row = session.get(ApiKey, key_sid)
    return None if row is None or row.revoked_at is not None else row.account_sid


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def issue_token(key: bytes, key_sid: str, now: float | None = None) -> str:
    claims = {"k": key_sid, "e": int((now or time.time()) + TOKEN_LIFETIME)}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{TOKEN_PREFIX}{payload}.{mac}"


def read_token(key: bytes, token: str, now: float | None = None) -> str | None:
    """The key sid a valid, unexpired token was issued to, else None."""
    if not token.startswith(TOKEN_PREFIX) or token.count(".") != 2:
        return None
    payload, mac = token[len(TOKEN_PREFIX):].split(".")
    good = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, good):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        key_sid, expires = str(claims["k"]), int(claims["e"])
    except (ValueError, KeyError, TypeError):
        return None
    return key_sid if expires > (now or time.time()) else None
