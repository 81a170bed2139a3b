"""`/directory`: the SIP directory FreeSWITCH's mod_xml_curl fetches (binding `directory`).

FreeSWITCH POSTs a form (freeswitch-http/xml_curl_directory_requests.txt): `section`,
`key`, `user`, `domain`, and for a REGISTER `action=sip_auth` with the digest fields.
For `section=directory`, `key=id`, `domain` = `--sip-domain` and a SIP account with that
username, the answer is the directory document FreeSWITCH accepted in that recording:
the domain's dial-string, the user's password, `MWI-Account` when set, and variables:
`user_context=default` (calls from the phone enter the `default` dialplan context, where
deploy/freeswitch/ hands them to the engine), `callscript_account` (the owning account,
as the recorded sofia::register shows), and the caller ids as FreeSWITCH's own
directory users carry them (`effective_caller_id_*` internal, `outbound_caller_id_*`
external). Anything else is the "not found" document, after which FreeSWITCH treats the
user as unknown (user_exists false, REGISTER refused).

Protection: HTTP Basic, the password being `--directory-secret` (mod_xml_curl's
`gateway-credentials` with its default `auth-scheme` basic; the user name is not
checked). Missing credentials are 401, a wrong secret, or none configured, 403, before
anything is looked up, so nothing about users leaks. The switch makes a lookup per
REGISTER and per call, so these requests are exempt from the per-address rate limit.
"""

from __future__ import annotations

import logging
from xml.sax.saxutils import quoteattr

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select

from api import rest
from api.auth import basic_credentials, same
from api.errors import ApiError
from engine.resources import SipAccount

blueprint = Blueprint("directory", __name__)
log = logging.getLogger(__name__)

NOT_FOUND = ('<document type="freeswitch/xml"><section name="result">'
             '<result status="not found"/></section></document>')
DIAL_STRING = ("{^^:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@"
               "${dialed_domain}}${sofia_contact(*/${dialed_user}@${dialed_domain})}")


def _check_secret() -> None:
    secret = current_app.config.get("DIRECTORY_SECRET")
    pair = basic_credentials()
    if pair is None:
        raise ApiError(20101, WWW_Authenticate='Basic realm="callscript directory"')
    if not secret:
        log.warning("directory lookup refused: the API runs without --directory-secret")
        raise ApiError(20301, "the directory is disabled (no --directory-secret)")
    if not same(pair[1], secret):
        log.warning("directory lookup from %s refused: wrong secret", request.remote_addr)
        raise ApiError(20301, "wrong directory secret")


def _xml(text: str) -> Response:
    return Response(text, 200, mimetype="text/xml")


@blueprint.route("/directory", methods=["GET", "POST"])
def lookup() -> Response:
    _check_secret()
    fields = request.values
    domain = current_app.config["SIP_DOMAIN"]
    user = fields.get("user", "")
    wanted = (fields.get("section") == "directory" and fields.get("key", "id") == "id"
              and user and fields.get("domain", "").lower() == domain.lower())
    row = None
    if wanted:
        row = rest.session().scalar(select(SipAccount).where(SipAccount.username == user))
    if row is None:
        return _xml(NOT_FOUND)
    return _xml(document(row, domain))


def _tags(tag: str, pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<{tag} name={quoteattr(name)} value={quoteattr(value)}/>"
                   for name, value in pairs if value)


def document(row: SipAccount, domain: str) -> str:
    """One user of one domain, as FreeSWITCH 1.10 accepted it (freeswitch-http/README)."""
    params = [("password", row.password), ("MWI-Account", row.mwi_account)]
    variables = [
        ("user_context", "default"),
        ("callscript_account", row.account_sid),
        ("effective_caller_id_name", row.internal_name),
        ("effective_caller_id_number", row.internal_number),
        ("outbound_caller_id_name", row.external_name),
        ("outbound_caller_id_number", row.external_number),
    ]
    return (
        '<document type="freeswitch/xml">\n  <section name="directory">\n'
        f"    <domain name={quoteattr(domain)}>\n"
        f"      <params>{_tags('param', [('dial-string', DIAL_STRING)])}</params>\n"
        f"      <user id={quoteattr(row.username)}>\n"
        f"        <params>{_tags('param', params)}</params>\n"
        f"        <variables>{_tags('variable', variables)}</variables>\n"
        "      </user>\n    </domain>\n  </section>\n</document>\n"
    )
