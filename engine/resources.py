"""The tables the REST API manages: accounts and their keys, scripts, numbers, rules and
SIP accounts (SQLAlchemy 2, on the Base of engine/models.py; migration "0002").

Every row but a Setting belongs to one account (`account_sid`), and every query the API
makes is scoped by it. Ids are Twilio-style: two letters naming the kind, then 32 hex
digits (`new_sid`), unguessable so an id says nothing about another account's rows.
Secrets: an API secret is kept only as a keyed hash (`ApiKey.secret_hash`, see
api/credentials.py); a webhook secret must be read back to sign, so it is kept as given.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.models import Base

PREFIXES = {
    "account": "AC",
    "key": "SK",
    "externalscript": "ES",
    "script": "SC",
    "number": "PN",
    "rule": "RL",
    "sipaccount": "SA",
}


def new_sid(kind: str) -> str:
    return PREFIXES[kind] + secrets.token_hex(16)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _account() -> Mapped[str]:
    return mapped_column(String(34), ForeignKey("accounts.sid", ondelete="CASCADE"), index=True)


class Setting(Base):
    """Deployment-wide values the API generates once (the key of the secret hashes)."""

    __tablename__ = "settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Account(Base):
    __tablename__ = "accounts"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_secrets: Mapped[list] = mapped_column(default=list)  # newest first, at most two
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = _account()
    secret_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Resource(Base):
    """Columns every account-owned resource has."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = _account()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExternalScript(Resource):
    """A customer URL serving XML (Apidaze's ExternalScript)."""

    __tablename__ = "externalscripts"

    name: Mapped[str] = mapped_column(String(64), default="")
    url: Mapped[str] = mapped_column(Text)
    fallback_url: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(8), default="POST")


class Script(Resource):
    """Hosted XML, run by the engine with no customer web server (Voximplant's scenario)."""

    __tablename__ = "scripts"
    __table_args__ = (UniqueConstraint("account_sid", "name"),)

    name: Mapped[str] = mapped_column(String(29))
    body: Mapped[str] = mapped_column(Text)


class Routed(Resource):
    """Where a call goes: an external script or a hosted script (exactly one)."""

    __abstract__ = True

    externalscript_id: Mapped[str | None] = mapped_column(
        String(34), ForeignKey("externalscripts.id", ondelete="SET NULL")
    )
    script_id: Mapped[str | None] = mapped_column(
        String(34), ForeignKey("scripts.id", ondelete="SET NULL")
    )


class Number(Routed):
    """A virtual number (E.164) the operator assigned to an account, and its routing."""

    __tablename__ = "numbers"

    number: Mapped[str] = mapped_column(String(20), unique=True)
    fallback_url: Mapped[str | None] = mapped_column(Text)
    status_callback: Mapped[str | None] = mapped_column(Text)
    status_callback_method: Mapped[str] = mapped_column(String(8), default="POST")
    status_callback_event: Mapped[list] = mapped_column(default=list)
    status_callback_format: Mapped[str] = mapped_column(String(8), default="form")


class Rule(Routed):
    """A pattern on the dialled number or SIP user, tried in `position` order."""

    __tablename__ = "rules"
    __table_args__ = (Index("ix_rules_account_position", "account_sid", "position"),)

    name: Mapped[str] = mapped_column(String(64), default="")
    pattern: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(default=0)


class SipAccount(Resource):
    """A SIP user of the switch's domain (Apidaze's sipaccount); usernames are unique."""

    __tablename__ = "sipaccounts"

    name: Mapped[str] = mapped_column(String(64), default="")
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password: Mapped[str] = mapped_column(String(128))
    internal_name: Mapped[str] = mapped_column(String(64), default="")
    internal_number: Mapped[str] = mapped_column(String(32), default="")
    external_name: Mapped[str] = mapped_column(String(64), default="")
    external_number: Mapped[str] = mapped_column(String(32), default="")
    mwi_account: Mapped[str] = mapped_column(String(64), default="")
