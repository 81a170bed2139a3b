"""Signing webhooks: Standard Webhooks headers and Twilio's X-Twilio-Signature.

Every attempt is signed when it is sent (Standard Webhooks receivers refuse timestamps
older than five minutes, and a retry can come hours later). The `webhook-signature`
header carries one `v1,<base64>` signature per active secret, newest first, so during a
rotation a receiver holding either secret accepts the call; the signatures come from the
`standardwebhooks` library's own signer, keyed by the base64-decoded secret, so they are
exactly what its verifier expects. `X-Twilio-Signature` is keyed by the whole newest
`whsec_...` string as UTF-8: that string is what a customer gives Twilio's
RequestValidator, so Twilio code validates our calls unchanged.

Secrets never appear in messages or logs: `BadSecret` names what is wrong, not the value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets as _random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = [
    "BadSecret",
    "WebhookVerificationError",
    "check_secret",
    "new_secret",
    "sign",
    "twilio_signature",
    "verify",
]

PREFIX = "whsec_"


class BadSecret(ValueError):
    """A webhook secret that is not `whsec_` followed by base64 (the value is never shown)."""


def check_secret(secret: str) -> str:
    """Return `secret` unchanged if it is `whsec_<base64>` of at least 16 bytes, else raise.

    Checked when the worker starts, so a typo is one clear error, not a signature every
    receiver rejects.
    """
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise BadSecret("a webhook secret must start with 'whsec_' (then base64)")
    text = secret[len(PREFIX):]
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadSecret(
            f"a webhook secret must be 'whsec_' followed by base64; the {len(text)} "
            "characters after 'whsec_' are not valid base64"
        ) from None
    if len(key) < 16:
        raise BadSecret(f"a webhook secret must hold at least 16 bytes, this one {len(key)}")
    return secret


def new_secret() -> str:
    """A fresh secret (32 random bytes), for the demo and for operators."""
    return PREFIX + base64.b64encode(_random.token_bytes(32)).decode()


def _unix(timestamp: datetime | int | float) -> datetime:
    if isinstance(timestamp, datetime):
        return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(timestamp), tz=UTC)


def sign(
    body: str | bytes,
    webhook_id: str,
    timestamp: datetime | int | float,
    secrets: Sequence[str],
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, one signature per secret."""
    if not secrets:
        raise BadSecret("no webhook secret configured")
    text = body.decode() if isinstance(body, bytes) else body
    when = _unix(timestamp)
    signatures = [Webhook(check_secret(s)).sign(webhook_id, when, text) for s in secrets]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def twilio_signature(url: str, params: Mapping[str, str] | None, secret: str) -> str:
    """base64(HMAC-SHA1(secret, URL + sorted POST params as name+value)).

    `params` is None for GET requests (the query string is already part of `url`) and for
    JSON bodies, where Twilio's algorithm signs the URL alone.
    """
    data = url
    if params:
        data += "".join(name + value for name, value in sorted(params.items()))
    digest = hmac.new(check_secret(secret).encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify(body: str | bytes, headers: Mapping[str, str], secret: str) -> Any:
    """Verify a webhook as a customer would; return the JSON document or the form fields.

    `Webhook.verify` parses the body as JSON only after the signature matched, so a
    `json.JSONDecodeError` means a good signature on a form-encoded body: that is a
    verified call, not an error. A bad signature raises `WebhookVerificationError`.
    """
    text = body.decode() if isinstance(body, bytes) else body
    try:
        return Webhook(check_secret(secret)).verify(text, dict(headers))
    except json.JSONDecodeError:
        return dict(parse_qsl(text, keep_blank_values=True))
