"""Dry runs (Apidaze's "test an external script"): `POST /v1/externalscripts/{id}/test`
runs a stored one, `GET /v1/externalscripts/test?url=…` any URL, `POST
/v1/scripts/{id}/test` a hosted script; each answers the call's trace (engine/dryrun.py
says what it holds). The script is fetched with its method (`method=` for a bare URL),
and the account's hosted scripts can be reached by name (`script:NAME`), as on a call.

The call is simulated on a sandbox switch started for it, in the request's own thread,
bounded to `DRY_RUN_SECONDS` of wall time (app setting; default 5 s), so a sync gunicorn
worker answers well inside its 30 s timeout. From, To and Digits (one comma-separated
group of keys per Gather or Record) come from the query string or the request body. They
end up in a switch command, so they are held to the characters a number, a SIP user or
a key can have. A URL given in the query passes the SSRF guard as any stored URL does,
and the simulated call's engine fetches under the API's `ALLOW_PRIVATE_URLS`.
A script that fails is still a 200: the failure is what the trace is for.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, current_app, request
from sqlalchemy import select

from api import rest
from api.errors import ApiError, invalid
from engine import dryrun
from engine.resources import ExternalScript, Script
from engine.routes import HOSTED
from esl.errors import ESLError

blueprint = Blueprint("dryrun", __name__)
log = logging.getLogger(__name__)
PARTY = re.compile(r"[A-Za-z0-9+*#._@-]{1,64}")
KEYS = re.compile(r"[0-9*#A-Da-d,]{0,64}")
DEFAULTS = {"From": "15550001111", "To": "15550002222", "Digits": ""}


def _fields() -> dict[str, Any]:
    """From, To and Digits from the query string, or from the body of a POST."""
    fields: dict[str, Any] = dict(request.args.items())
    if request.method == "POST":
        fields.update(rest.body())
    return fields


def _call_fields(fields: dict[str, Any]) -> tuple[str, str, str]:
    values = []
    for name, pattern, why in (
        ("From", PARTY, "1 to 64 of letters, digits and + * # . _ @ -"),
        ("To", PARTY, "1 to 64 of letters, digits and + * # . _ @ -"),
        ("Digits", KEYS, "keys 0-9 * # A-D, a comma between groups"),
    ):
        value = fields.get(name)
        value = DEFAULTS[name] if value in (None, "") else value
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise invalid(name, why)
        values.append(value)
    return values[0], values[1], values[2]


def _hosted() -> dict[str, bytes]:
    """The account's hosted scripts by name and by id (`script:NAME`, `script:ID`)."""
    query = select(Script.id, Script.name, Script.body).where(
        Script.account_sid == rest.account_sid()
    )
    found = {}
    for ident, name, body in rest.session().execute(query):
        found[name] = found[ident] = body.encode()
    return found


def _run(url: str, fallback_url: str | None, method: str, fields: dict[str, Any]) -> dict:
    from_, to, digits = _call_fields(fields)
    call = dryrun.DryCall(
        url, fallback_url, from_, to, digits, rest.account_sid(),
        allow_private=bool(current_app.config["ALLOW_PRIVATE_URLS"]),
        bound=float(current_app.config.get("DRY_RUN_SECONDS", dryrun.BOUND)),
        method=method, scripts=_hosted(),
    )
    try:
        trace = dryrun.run(call)
    except (OSError, ESLError) as exc:
        log.error("dry run of %s could not start its sandbox: %s", url, exc)
        raise ApiError(20503, f"the dry run's sandbox could not start: {exc}") from None
    return {"from": from_, "to": to, "digits": digits, **trace}


@blueprint.get("/v1/externalscripts/test")
def test_url() -> dict[str, Any]:
    url = rest.checked_url("url", request.args.get("url"))
    fallback = rest.checked_url("fallback_url", request.args.get("fallback_url"), False)
    method = rest.method_of("method", request.args.get("method"))
    assert url is not None
    return {"url": url, "fallback_url": fallback, **_run(url, fallback, method, _fields())}


@blueprint.post("/v1/externalscripts/<ident>/test")
def test_stored(ident: str) -> dict[str, Any]:
    row = rest.owned(ExternalScript, ident, "externalscript")
    trace = _run(row.url, row.fallback_url, row.method, _fields())
    return {"externalscript_id": row.id, "url": row.url, "fallback_url": row.fallback_url,
            **trace}


@blueprint.post("/v1/scripts/<ident>/test")
def test_hosted(ident: str) -> dict[str, Any]:
    row = rest.owned(Script, ident, "script")
    url = HOSTED + row.name
    return {"script_id": row.id, "url": url, "fallback_url": None,
            **_run(url, None, "POST", _fields())}
