"""`create_app(config=None)`: the REST API as one Flask app (gunicorn: `api.app:create_app()`).

Settings come from `config` (a mapping, tests) or from `CALLSCRIPT_API_*` environment
variables (Flask's from_prefixed_env; `callscript api` sets them before starting
gunicorn): DATABASE, REDIS (rate limits are shared through it; none: per process),
PUBLIC_URL, DIRECTORY_SECRET, SIP_DOMAIN, ALLOW_PRIVATE_URLS, RATE_LIMIT, ROW_MEMO (bytes
of rendered list rows each worker keeps, api/pages.py; 0 keeps none).
Authentication runs before the rate limiter, so limits are per account.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from api.auth import authenticate
from api.errors import BY_STATUS, ApiError
from api.jsonprovider import OrjsonProvider
from api.pages import RowMemo
from api.ratelimit import RateLimit
from engine.storage import open_database

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "DATABASE": "sqlite:///callscript.db",
    "REDIS": None,
    "PUBLIC_URL": "http://127.0.0.1:8000",
    "DIRECTORY_SECRET": None,
    "SIP_DOMAIN": "127.0.0.1",
    "ALLOW_PRIVATE_URLS": False,
    "RATE_LIMIT": "100/second",
    "ROW_MEMO": 8 << 20,
}
BLUEPRINTS = (
    "api.root",
    "api.oauth",
    "api.externalscripts",
    "api.scripts",
    "api.dryrun",
    "api.numbers",
    "api.rules",
    "api.deliveries",
    "api.calls",
    "api.sipaccounts",
    "api.directory",
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config.update(DEFAULTS)
    if config is None:
        app.config.from_prefixed_env("CALLSCRIPT_API")
    else:
        app.config.update(config)
    app.extensions["callscript.db"] = open_database(app.config["DATABASE"])
    limit, redis_url = app.config["RATE_LIMIT"], app.config["REDIS"]
    app.extensions["callscript.limits"] = RateLimit.of(limit, redis_url)
    app.extensions["callscript.rows"] = RowMemo(int(app.config["ROW_MEMO"]))
    app.before_request(authenticate)
    app.before_request(_count)
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).blueprint)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    app.teardown_appcontext(_close_session)
    return app


def _count() -> None:
    """One request against the account's budget (the address's before authentication);
    the switch's directory lookups are never refused."""
    if request.blueprint != "directory":
        current_app.extensions["callscript.limits"].hit(g.get("account_sid") or request.remote_addr)


def _close_session(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()


def _error_response(error: ApiError) -> Response:
    response = jsonify(error.body(request.host_url.rstrip("/")))
    response.status_code = error.status
    for name, value in error.headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def _api_error(error: ApiError) -> Response:
    return _error_response(error)


def _http_error(error: HTTPException) -> Response:
    """Werkzeug's errors (unknown route, wrong method) in our shape."""
    code = BY_STATUS.get(error.code or 500, 20500)
    message = error.description if error.code != 404 else f"no resource at {request.path}"
    response = _error_response(ApiError(code, message))
    response.status_code = error.code or 500
    if error.code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _unexpected(error: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.path)
    return _error_response(ApiError(20500))
