"""`/v1/sipaccounts`: SIP users of the switch's domain (Apidaze's sipaccount), CRUD,
a new password on demand, and the registration status asked of the switch.

Shape: id, name, sip{username, password}, callerid{internal_name, internal_number,
external_name, external_number}, voicemail{mwi_account}, created_at, updated_at, uri.
Writes take that nested shape in JSON, or Apidaze's flat fields (username, password,
name, internal_caller_id_name/_number, external_caller_id_name/_number, mwi_account),
in JSON or a form. PUT changes the fields it is given.

- Usernames are unique within `--sip-domain` across every account (one domain per
  switch): a taken one is 400, code 20007. They keep to RFC 3261's unreserved
  characters, so they need no escaping in a SIP URI, a dial string or the directory XML.
- A password not given is generated (24 characters, 144 random bits); `POST
  .../password` replaces it. Reads show it, as Apidaze's do: the phone needs it.
- Nothing that reaches the switch may hold `$`, `{` or `}`: FreeSWITCH expands `${...}`
  in directory values, which would let a caller-id run switch API commands.
- `GET .../status` goes through an engine over Redis (api/switch.py), which asks its
  switch (engine/switch_requests.py): registered, contact, expires (seconds left),
  user_agent, network_ip, network_port, transport, ping_status, call_id, registrations.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Blueprint, current_app
from sqlalchemy import select

from api import rest, switch
from api.crud import Collection
from api.errors import ApiError, invalid, missing
from engine.resources import SipAccount

blueprint = Blueprint("sipaccounts", __name__)
KIND = "sipaccount"
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~+-]{0,63}")
PASSWORD = re.compile(r"[A-Za-z0-9!#%&()*+,./:;<=>?@^_|~\[\]-]{8,128}")
NUMBER = re.compile(r"\+?[0-9*#]{1,31}")
MWI = re.compile(r"[A-Za-z0-9._~+-]{1,64}(@[A-Za-z0-9.-]{1,190})?")
TEXT = re.compile(r"[^\x00-\x1f\x7f${}]*")
GROUPS = {
    "sip": {"username": "username", "password": "password"},
    "callerid": {key: key for key in ("internal_name", "internal_number",
                                      "external_name", "external_number")},
    "voicemail": {"mwi_account": "mwi_account"},
}
FLAT = {
    "name": "name", "username": "username", "password": "password",
    "internal_caller_id_name": "internal_name", "internal_caller_id_number": "internal_number",
    "external_caller_id_name": "external_name", "external_caller_id_number": "external_number",
    "mwi_account": "mwi_account",
}


def show(row: SipAccount) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "sip": {"username": row.username, "password": row.password},
        "callerid": {"internal_name": row.internal_name, "internal_number": row.internal_number,
                     "external_name": row.external_name, "external_number": row.external_number},
        "voicemail": {"mwi_account": row.mwi_account},
        **rest.times(row),
        "uri": rest.uri(f"/sipaccounts/{row.id}"),
    }


def new_password() -> str:
    return secrets.token_urlsafe(18)


def columns(data: dict[str, Any]) -> dict[str, Any]:
    """The body's fields by column, from the flat form and the nested shape alike."""
    found = {column: data[field] for field, column in FLAT.items() if field in data}
    for group, keys in GROUPS.items():
        part = data.get(group)
        if part is None:
            continue
        if not isinstance(part, dict):
            raise invalid(group, "an object is required")
        found.update({column: part[key] for key, column in keys.items() if key in part})
    return found


def _checked(field: str, value: Any, pattern: re.Pattern[str], limit: int, why: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > limit or not pattern.fullmatch(value):
        raise invalid(field, why)
    return value


def _username(row: SipAccount, value: Any) -> str:
    if value in (None, ""):
        raise missing("username")
    name = _checked("username", value, USERNAME, 64,
                    "1 to 64 letters, digits and . _ ~ + - (starting with a letter or digit)")
    taken = rest.session().scalar(
        select(SipAccount.id).where(SipAccount.username == name, SipAccount.id != row.id))
    if taken is not None:
        raise taken_error(name)
    return name


def taken_error(name: str) -> ApiError:
    domain = current_app.config["SIP_DOMAIN"]
    return ApiError(20007, f"username {name!r} is taken in SIP domain {domain}")


def _apply(row: SipAccount, data: dict[str, Any], creating: bool) -> None:
    fields = columns(data)
    if creating or "username" in fields:
        row.username = _username(row, fields.get("username"))
    if creating or "password" in fields:
        given = _checked("password", fields.get("password"), PASSWORD, 128,
                         "8 to 128 letters, digits or punctuation other than $ { } ' \" ` \\")
        row.password = given or new_password()
    for column in ("internal_number", "external_number"):
        if creating or column in fields:
            setattr(row, column, _checked(column, fields.get(column), NUMBER, 32,
                                          "digits, * and #, with an optional leading +"))
    for column in ("name", "internal_name", "external_name"):
        if creating or column in fields:
            setattr(row, column, _checked(column, fields.get(column), TEXT, 64,
                                          "at most 64 characters, without $ { } or controls"))
    if creating or "mwi_account" in fields:
        row.mwi_account = _checked("mwi_account", fields.get("mwi_account"), MWI, 64,
                                   "a SIP user, or user@domain")


COLLECTION = Collection(
    SipAccount, KIND, "sipaccounts", show, _apply, conflict=lambda row: taken_error(row.username)
)  # routing too: a call from a SIP user is routed by its account's rules
COLLECTION.register(blueprint)


@blueprint.post("/v1/sipaccounts/<ident>/password")
def password(ident: str) -> tuple[dict, int, dict]:
    """A new generated password; the old one stops working at the phone's next REGISTER."""
    row = COLLECTION.get(ident)
    row.password = new_password()
    rest.touch(row)
    rest.save(row)
    return COLLECTION.one(row)


@blueprint.get("/v1/sipaccounts/<ident>/status")
def status(ident: str) -> dict:
    row = COLLECTION.get(ident)
    domain = current_app.config["SIP_DOMAIN"]
    result = switch.ask("registration", domain, user=row.username)
    return {"id": row.id, "username": row.username, "domain": domain, **result,
            "uri": rest.uri(f"/sipaccounts/{row.id}/status")}
