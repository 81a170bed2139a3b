"""Signing: Standard Webhooks headers the library verifies, Twilio's X-Twilio-Signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from engine import signing

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()


def twilio_reference(url: str, params: dict[str, str] | None, key: str) -> str:
    """Twilio's published algorithm, written from its description, not from engine code."""
    data = url
    for name in sorted(params or {}):
        data += name + params[name]
    mac = hmac.new(key.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def test_headers_verify_with_the_library_and_fail_on_one_changed_byte():
    body = json.dumps({"type": "call.completed", "data": {"CallSid": "CA1"}})
    headers = signing.sign(body, "msg_1", int(time.time()), [SECRET])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert Webhook(SECRET).verify(body, headers) == json.loads(body)
    tampered = body.replace("CA1", "CA2")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, headers)


def test_rotation_gives_one_signature_per_secret_each_verifying():
    body = "CallSid=CA1"
    headers = signing.sign(body, "msg_2", time.time(), [SECRET, OLD])
    parts = headers["webhook-signature"].split(" ")
    assert len(parts) == 2 and all(p.startswith("v1,") for p in parts)
    for secret in (SECRET, OLD):
        Webhook(secret).verify(body, headers, json_parse=False)


def test_verify_helper_accepts_a_signed_form_body_and_refuses_a_bad_signature():
    body = urlencode({"CallSid": "CA1", "CallStatus": "completed"})
    headers = signing.sign(body, "msg_3", time.time(), [SECRET])
    assert signing.verify(body, headers, SECRET) == {"CallSid": "CA1", "CallStatus": "completed"}
    with pytest.raises(WebhookVerificationError):
        signing.verify(body + "x", headers, SECRET)
    with pytest.raises(WebhookVerificationError):
        signing.verify(body, headers, OLD)


def test_twilio_signature_matches_the_reference_algorithm():
    url = "https://example.com/status?x=1"
    params = {"CallSid": "CA1", "From": "+15550001111", "AccountSid": "AC0", "Digits": ""}
    assert signing.twilio_signature(url, params, SECRET) == twilio_reference(url, params, SECRET)
    assert signing.twilio_signature(url, None, SECRET) == twilio_reference(url, None, SECRET)


@pytest.mark.parametrize("bad", ["", "abc", "whsec_", "whsec_!!!notbase64", "whsec_c2hvcnQ="])
def test_bad_secrets_get_a_clear_error_without_the_value(bad):
    with pytest.raises(signing.BadSecret) as info:
        signing.check_secret(bad)
    if len(bad) > 6:
        assert bad[6:] not in str(info.value)


def test_new_secret_is_valid():
    secret = signing.new_secret()
    assert signing.check_secret(secret) == secret
    assert Webhook(secret).sign("m", __import__("datetime").datetime.now(), "b").startswith("v1,")
