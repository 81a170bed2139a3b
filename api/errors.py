"""The API's errors: one exception, a numbered code each, JSON on the wire.

Every error is `{"code", "message", "more_info"}` with the HTTP status of Apidaze's table;
`code` is stable (clients switch on it), `message` names what was wrong, `more_info` links
to the table served at /docs/errors. Handlers in api/app.py turn ApiError, werkzeug's
HTTP errors (unknown route: 404, wrong method: 405) and anything unexpected (500, logged
with its traceback, never shown) into that shape.
"""

from __future__ import annotations

from typing import Any

# code: (HTTP status, title). Append only: a code never changes meaning.
CODES: dict[int, tuple[int, str]] = {
    20001: (400, "The request body is not JSON or form-encoded"),
    20002: (400, "A required field is missing"),
    20003: (400, "A field has an invalid value"),
    20004: (400, "The script is not a valid callscript document"),
    20005: (400, "The URL is refused (not http(s), or it reaches a private address)"),
    20006: (400, "That name is already used in this account"),
    20007: (400, "That SIP username is taken in this SIP domain"),
    20008: (400, "That number is not E.164 or is already assigned"),
    20009: (400, "The pattern is not a valid regular expression"),
    20010: (400, "Invalid page or page_size"),
    20011: (400, "The list of ids does not match the account's rules"),
    20012: (400, "The delivery is pending: the worker sends it without a replay"),
    20013: (400, "Other hosted scripts run this one by name: refer to it by id to rename it"),
    20101: (401, "Authentication required"),
    20102: (401, "Invalid API key or secret"),
    20103: (401, "Invalid or expired access token"),
    20104: (401, "Unsupported grant_type (use client_credentials)"),
    20301: (403, "Forbidden"),
    20404: (404, "Not found"),
    20405: (405, "Method not allowed"),
    20412: (412, "Precondition failed: the resource changed (stale ETag in If-Match)"),
    20429: (429, "Too many requests"),
    20500: (500, "Internal server error"),
    20502: (502, "The switch answered with an error"),
    20503: (503, "Service unavailable: no engine answered, or Redis is unreachable"),
}
BY_STATUS = {status: code for code, (status, _) in sorted(CODES.items(), reverse=True)}


class ApiError(Exception):
    """An error the client caused or must know about; `code` is a key of CODES."""

    def __init__(self, code: int, message: str | None = None, **headers: str) -> None:
        self.code = code
        self.status = CODES[code][0]
        self.message = message or CODES[code][1]
        self.headers = headers
        super().__init__(self.message)

    def body(self, docs_base: str = "") -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"{docs_base}/docs/errors#{self.code}",
        }


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(20404, f"{kind} {ident} not found")


def invalid(field: str, why: str) -> ApiError:
    return ApiError(20003, f"{field}: {why}")


def missing(field: str) -> ApiError:
    return ApiError(20002, f"{field} is required")
