"""A test client that checks every request and response against schemas/openapi.yaml.

Wraps Flask's test client (the real app, in process) with openapi-core: a request the
spec does not describe, or a response outside it, fails the test that made it. Requests
are made as one account, authenticated one of the three ways (`basic`, `bearer`, `query`;
query parameters work on GET only, so `query` writes go with Basic).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from flask import Flask
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from api.credentials import NewKey
from api.root import spec

AUTH_METHODS = ("basic", "bearer", "query")
_openapi: OpenAPI | None = None


def openapi() -> OpenAPI:
    global _openapi
    if _openapi is None:
        _openapi = OpenAPI.from_dict(spec())
    return _openapi


def check(sent: Request, response: Any) -> None:
    """Raise if the request or the response is outside the spec."""
    request = WerkzeugOpenAPIRequest(sent)
    openapi().validate_request(request)
    openapi().validate_response(request, WerkzeugOpenAPIResponse(response))


@dataclass
class ApiClient:
    app: Flask
    key: NewKey | None = None
    auth: str = "basic"
    validate: bool = True

    @property
    def account_sid(self) -> str:
        assert self.key is not None
        return self.key.account_sid

    def as_(self, key: NewKey | None, auth: str | None = None) -> ApiClient:
        return ApiClient(self.app, key, auth or self.auth, self.validate)

    def _token(self) -> str:
        assert self.key is not None
        cache = self.app.extensions.setdefault("test.tokens", {})
        if self.key.api_key not in cache:
            answer = self.app.test_client().post("/oauth/token", data={
                "grant_type": "client_credentials", "client_id": self.key.api_key,
                "client_secret": self.key.api_secret})
            assert answer.status_code == 200, answer.json
            cache[self.key.api_key] = answer.json["access_token"]
        return cache[self.key.api_key]

    def _credentials(self, method: str, headers: dict, query: dict) -> None:
        if self.key is None:
            return
        if self.auth == "bearer":
            headers["Authorization"] = f"Bearer {self._token()}"
        elif self.auth == "query" and method == "GET":
            query.update(api_key=self.key.api_key, api_auth=self.key.api_secret)
        else:
            pair = f"{self.key.api_key}:{self.key.api_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()

    def request(self, method: str, path: str, *, validate: bool | None = None,
                headers: dict | None = None, query: dict | None = None, **kw: Any) -> Any:
        headers, query = dict(headers or {}), dict(query or {})
        self._credentials(method, headers, query)
        args = dict(path=path, method=method, headers=headers, query_string=query, **kw)
        response = self.app.test_client().open(EnvironBuilder(**args))
        if self.validate if validate is None else validate:
            check(EnvironBuilder(**args).get_request(), response)
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)
