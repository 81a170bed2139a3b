"""`POST /oauth/token`: OAuth2 client credentials (RFC 6749 §4.4), as Apidaze's API Store.

client_id/client_secret are an API key and its secret, sent in the form body or as HTTP
Basic; the answer is `{"access_token", "token_type": "Bearer", "expires_in": 3600}`.
"""

from __future__ import annotations

from flask import Blueprint

from api import credentials
from api.auth import _key, account_for_key, basic_credentials
from api.errors import ApiError
from api.rest import body

blueprint = Blueprint("oauth", __name__)


@blueprint.post("/oauth/token")
def token() -> tuple[dict, int, dict]:
    fields = body()
    if fields.get("grant_type") != "client_credentials":
        raise ApiError(20104)
    pair = basic_credentials() or (
        str(fields.get("client_id", "")),
        str(fields.get("client_secret", "")),
    )
    if not pair[0] or account_for_key(*pair) is None:
        raise ApiError(20102, "invalid client_id or client_secret")
    answer = {
        "access_token": credentials.issue_token(_key(), pair[0]),
        "token_type": "Bearer",
        "expires_in": credentials.TOKEN_LIFETIME,
    }
    return answer, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"}
