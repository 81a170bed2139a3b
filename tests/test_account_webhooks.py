"""Webhooks of an account's calls are signed with that account's own secrets.

The worker reads each account's active webhook secrets from its row (two during a
rotation, newest first); the worker's --webhook-secret only signs calls outside any
account. Real worker process, real Redis, real receiver, SQLite.
"""

from __future__ import annotations

import signal
from urllib.parse import parse_qsl

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from api import credentials
from engine.storage import open_database
from tests.services import wait_for
from tests.webhook_rig import NEW, make_pipeline, twilio_reference


def test_an_accounts_webhooks_carry_its_own_signatures(receiver, redis_clean, tmp_path):
    database = f"sqlite:///{tmp_path / 'callscript.db'}"
    db = open_database(database)
    with db.session() as session:
        key = credentials.create_account(session, "acme")
        account = credentials.find_account(session, "acme")
        secrets = credentials.webhook_secrets(session, account, rotate=True)
    db.close()
    assert len(secrets) == 2 and NEW not in secrets
    pipe = make_pipeline(redis_clean, database)
    pipe.emit(receiver.url + "/status", account_sid=key.account_sid)
    try:
        pipe.start()
        (got,) = wait_for(lambda: receiver.at("/status"), what="the webhook")
    finally:
        pipe.kill(pipe.procs[-1], signal.SIGTERM)
    assert len(got.headers["Webhook-Signature"].split(" ")) == 2
    for secret in secrets:
        Webhook(secret).verify(got.body, got.headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(got.body, got.headers, json_parse=False)
    params = dict(parse_qsl(got.body))
    assert params["AccountSid"] == key.account_sid
    assert got.headers["X-Twilio-Signature"] == twilio_reference(got.url, params, secrets[0])
