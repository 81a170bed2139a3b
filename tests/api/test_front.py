"""The API's front door: the collection index, the contract, the offline docs, the error
table (served and in the README), unknown routes and methods, and the rate limit."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from api.errors import CODES
from api.root import spec
from tests.api.client import ApiClient
from tests.api.conftest import make_app, new_account

README = Path(__file__).resolve().parents[2] / "README.md"


def test_index_lists_every_collection_of_the_spec(client):
    listed = {c["name"]: c["uri"] for c in client.get("/v1/").json["collections"]}
    paths = spec()["paths"]
    in_spec = {p.split("/")[2] for p in paths if p.startswith("/v1/") and p.count("/") == 2}
    in_spec.discard("")  # /v1/ itself
    assert set(listed) == in_spec
    for name, uri in listed.items():
        assert client.get(uri).status_code == 200, name


def test_contract_and_docs_are_served_without_a_cdn(app):
    web = app.test_client()
    served = web.get("/v1/openapi.json")
    assert served.status_code == 200 and served.json["openapi"].startswith("3.1")
    page = web.get("/docs").get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/docs/assets/") for s in sources)
    for source in sources:
        assert web.get(source).status_code == 200, source
    assert "clientCredentials" in str(served.json["components"]["securitySchemes"])


def test_error_table_is_served_and_in_the_readme(app):
    served = app.test_client().get("/docs/errors").get_data(as_text=True)
    readme = README.read_text()
    for code, (status, _title) in CODES.items():
        assert f'id="{code}"' in served
        assert f"| {code} | {status} |" in readme, code


def test_unknown_route_and_method_are_json_errors(client):
    missing = client.get("/v1/nothing-here", validate=False)
    assert missing.status_code == 404 and missing.json["code"] == 20404
    wrong = client.request("PATCH", "/v1/externalscripts", validate=False)
    assert wrong.status_code == 405 and wrong.json["code"] == 20405
    assert "GET" in wrong.headers["Allow"]


def test_unauthenticated_and_bad_credentials_are_401(app):
    web = app.test_client()
    assert web.get("/v1/externalscripts").json["code"] == 20101
    answer = web.get("/v1/externalscripts", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401 and answer.json["code"] == 20103
    answer = web.get("/v1/externalscripts?api_key=SKx&api_auth=y")
    assert answer.status_code == 401 and answer.json["code"] == 20102


def test_rate_limit_is_per_account_with_retry_after(backend):
    app = make_app(backend, RATE_LIMIT="3/minute")
    first, second = (ApiClient(app, new_account(app, n)) for n in ("one", "two"))
    codes = [first.get("/v1/scripts").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = first.get("/v1/scripts")
    assert limited.json["code"] == 20429 and int(limited.headers["Retry-After"]) > 0
    assert second.get("/v1/scripts").status_code == 200  # another account's budget
    app.extensions["callscript.db"].close()


def test_requests_are_served_when_the_limits_redis_is_away(backend, caplog, closed_port):
    app = make_app(backend, RATE_LIMIT="1/minute", REDIS=f"redis://127.0.0.1:{closed_port}/0")
    client = ApiClient(app, new_account(app))
    with caplog.at_level(logging.WARNING, "api.ratelimit"):
        codes = [client.get("/v1/scripts").status_code for _ in range(3)]
    assert codes == [200, 200, 200]  # not counted, not refused
    warnings = [r.getMessage() for r in caplog.records if r.name == "api.ratelimit"]
    assert len(warnings) == 1 and "rate limits not counted" in warnings[0]
    app.extensions["callscript.db"].close()


def test_nul_characters_are_400_or_404_never_500(client):
    answer = client.post("/v1/externalscripts", json={"url": "http://127.0.0.1/x", "name": "a\0b"},
                         validate=False)
    assert answer.status_code == 400 and answer.json["message"].startswith("name:")
    for path in ("/v1/externalscripts/ES%00", "/v1/scripts/x%00", "/v1/rules/x%00"):
        assert client.get(path, validate=False).status_code == 404, path
