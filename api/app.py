"""`create_app(config=None)`: the REST API as one Flask app (gunicorn: `api.app:create_app()`).

Settings come from `config` (a mapping, tests) or from `CALLSCRIPT_API_*` environment
variables (Flask's from_prefixed_env; `callscript api` sets them before starting
gunicorn): DATABASE, REDIS (rate limits are shared through it; none: per process),
PUBLIC_URL, DIRECTORY_SECRET, SIP_DOMAIN, ALLOW_PRIVATE_URLS, RATE_LIMIT.
Authentication runs before the rate limiter, so limits are per account.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from api.auth import authenticate
from api.errors import BY_STATUS, ApiError
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
    app.config.update(DEFAULTS)
    if config is None:
        app.config.from_prefixed_env("CALLSCRIPT_API")
    else:
        app.config.update(config)
    app.json.sort_keys = False
    app.extensions["callscript.db"] = open_database(app.config["DATABASE"])
    app.before_request(authenticate)
    _limiter(app)
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).blueprint)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    app.teardown_appcontext(_close_session)
    return app


def _limiter(app: Flask) -> Limiter:
    """Per-account limits (per address before authentication), shared through Redis.

    One budget per account across every route (an application limit; a default limit
    would give each route a budget of its own). The fixed window is one counter per
    account and one Redis round trip per request (a script incrementing it); the moving
    window is one round trip too but keeps a timestamp per request allowed in a list."""
    redis = app.config.get("REDIS")
    return Limiter(
        lambda: g.get("account_sid") or get_remote_address(),
        app=app,
        application_limits=[app.config["RATE_LIMIT"]],
        strategy="fixed-window",
        storage_uri=redis or "memory://",
        headers_enabled=False,  # X-RateLimit-*: two more Redis round trips on every request
        key_prefix="callscript:limits",
        swallow_errors=True,  # Redis away: serve rather than refuse every request
    )


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
    """Werkzeug's errors (unknown route, wrong method, limiter's 429) in our shape."""
    code = BY_STATUS.get(error.code or 500, 20500)
    message = error.description if error.code != 404 else f"no resource at {request.path}"
    response = _error_response(ApiError(code, message))
    response.status_code = error.code or 500
    if error.code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    if error.code == 429:
        response.headers["Retry-After"] = _retry_after()
    return response


def _retry_after() -> str:
    """Whole seconds until the breached limit's window resets (asked only on a 429)."""
    try:
        breached = next(iter(current_app.extensions["limiter"])).current_limit
        wait = breached.window[0] - time.time() if breached else 1.0
    except Exception:  # Redis away: a short wait rather than a 500
        log.warning("rate limit reset unknown; Retry-After: 1", exc_info=True)
        wait = 1.0
    return str(max(1, math.ceil(wait)))


def _unexpected(error: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.path)
    return _error_response(ApiError(20500))
