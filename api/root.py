"""The API's front door: `GET /v1/` (the collections), the contract and its docs.

`/v1/openapi.json` is schemas/openapi.yaml as JSON; `/docs` is Swagger UI served from the
swagger-ui-bundle package (no CDN, so it works offline), with an Authorize button for
client credentials; `/docs/errors` is the numbered error table every error links to.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from typing import Any

import swagger_ui_bundle
import yaml
from flask import Blueprint, Response, send_from_directory

from api.errors import CODES
from api.rest import uri

blueprint = Blueprint("root", __name__)
SPEC = Path(__file__).resolve().parent.parent / "schemas" / "openapi.yaml"
COLLECTIONS = (
    "externalscripts",
    "scripts",
    "numbers",
    "rules",
    "sipaccounts",
    "deliveries",
    "calls",
)


@functools.cache
def spec() -> dict[str, Any]:
    """The contract, read once per process."""
    return yaml.safe_load(SPEC.read_text())


@blueprint.get("/v1/")
def index() -> dict:
    return {"collections": [{"name": name, "uri": uri(f"/{name}")} for name in COLLECTIONS]}


@blueprint.get("/v1/openapi.json")
def openapi() -> dict:
    return spec()


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>callscript API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script><script>
SwaggerUIBundle({url: "/v1/openapi.json", dom_id: "#ui", persistAuthorization: true});
</script></body></html>"""


@blueprint.get("/docs")
def docs() -> Response:
    return Response(PAGE, mimetype="text/html")


@blueprint.get("/docs/assets/<path:name>")
def assets(name: str) -> Response:
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, name, max_age=86400)


@blueprint.get("/docs/errors")
def errors() -> Response:
    rows = "".join(
        f'<tr id="{code}"><td>{code}</td><td>{status}</td><td>{html.escape(title)}</td></tr>'
        for code, (status, title) in CODES.items()
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>callscript API errors</title>"
        "</head><body><h1>Error codes</h1><table><tr><th>code</th><th>HTTP status</th>"
        f"<th>meaning</th></tr>{rows}</table></body></html>"
    )
    return Response(page, mimetype="text/html")
