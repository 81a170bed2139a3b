"""Who is calling: three ways to authenticate, checked before every /v1 request.

1. HTTP Basic `api_key:api_secret`;
2. `Authorization: Bearer <token>` from `POST /oauth/token` (client credentials);
3. `?api_key=…&api_auth=…` on a GET, so the API can be explored from a browser's address
   bar (deploy/gunicorn.conf.py logs paths without their query string, so never the secret).

A checked key (its secret's hash, not the secret) or token's key is remembered for a few
seconds, so a burst of requests does one database read, and a revoked key stops within
CACHE_SECONDS.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Callable

from flask import current_app, g, request

from api import credentials
from api.errors import ApiError
from api.rest import session

CACHE_SECONDS = 5.0
PUBLIC = ("/oauth/token", "/docs", "/v1/openapi.json", "/directory")


def _key() -> bytes:
    key = current_app.extensions.get("callscript.hash_key")
    if key is None:
        key = current_app.extensions["callscript.hash_key"] = credentials.hash_key(session())
    return key


def _cache() -> dict[tuple[str, str | None], tuple[str | None, float]]:
    return current_app.extensions.setdefault("callscript.auth_cache", {})


def _remembered(key: tuple[str, str | None], look_up: Callable[[], str | None]) -> str | None:
    """`look_up()` (a database read) for `key`, remembered CACHE_SECONDS: a cached request
    opens no database session at all."""
    cache, now = _cache(), time.monotonic()
    found = cache.get(key)
    if found and found[1] > now:
        return found[0]
    account = look_up()
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (account, now + CACHE_SECONDS)
    return account


def account_for_key(key_sid: str, secret: str) -> str | None:
    """The account of an active API key with this secret, through a short cache."""
    digest = credentials.keyed_hash(_key(), secret)
    return _remembered(
        (key_sid, digest), lambda: credentials.check_key(session(), _key(), key_sid, secret)
    )


def basic_credentials() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(20102, "the Basic credentials are not base64 of key:secret") from None
    return user, password


def _bearer(token: str) -> str:
    key_sid = credentials.read_token(_key(), token)
    account = key_sid and _remembered(
        (key_sid, None), lambda: credentials.active_key_account(session(), key_sid)
    )
    if not account:
        raise ApiError(20103)
    return account


def authenticate() -> None:
    """Set g.account_sid for /v1 requests, or raise 401; other paths pass."""
    path = request.path
    if not path.startswith("/v1") or any(path.startswith(p) for p in PUBLIC):
        return
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        g.account_sid = _bearer(header[7:].strip())
        return
    pair = basic_credentials()
    if pair is None and request.method == "GET" and "api_key" in request.args:
        pair = request.args.get("api_key", ""), request.args.get("api_auth", "")
    if pair is None:
        raise ApiError(20101, WWW_Authenticate='Basic realm="callscript"')
    account = account_for_key(*pair)
    if account is None:
        raise ApiError(20102, WWW_Authenticate='Basic realm="callscript"')
    g.account_sid = account


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
