"""The Postman collection (v2.1) of the REST API, generated from the served spec.

    python -m schemas.postman           # writes schemas/postman_collection.json
    python -m schemas.postman --check   # exits 1 if the committed file is out of date

Set up as Apidaze's: the collection authenticates with OAuth2 client credentials from the
variables `client_id` and `client_secret` (an API key and its secret); its first request,
"Get Access Token", posts them to /oauth/token and keeps the answer's access_token in the
`access_token` variable, which every other request sends as its Bearer token (Postman's
own "Get New Access Token" button works with the same settings). `base_url` is where the
API listens. Then one folder per tag, one request per operation, named by its summary,
with its path variables, its optional query parameters (disabled until ticked), and an
example body listing the fields of its schema. The output is deterministic, so the test
comparing it with the committed file fails exactly when the spec changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent / "postman_collection.json"
SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
TOKEN_PATH = "/oauth/token"
AUTH_QUERY = {"api_key", "api_auth"}  # the collection authenticates with a token instead
SAVE_TOKEN = [
    'pm.test("an access token came back", () => pm.response.to.have.status(200));',
    'pm.collectionVariables.set("access_token", pm.response.json().access_token);',
]
EXAMPLES = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}


def _kv(key: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"key": key, "value": value, **extra}


def _deref(spec: dict[str, Any], node: Any) -> Any:
    """`node` with its `$ref` (a pointer into `spec`, the whole document) followed."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _properties(spec: dict[str, Any], schema: Any) -> tuple[dict[str, Any], list[str]]:
    """Properties and required names of an object schema, allOf parts merged."""
    schema = _deref(spec, schema) or {}
    props, required = dict(schema.get("properties", {})), list(schema.get("required", []))
    for part in schema.get("allOf", []):
        more, needed = _properties(spec, part)
        props.update(more)
        required += [name for name in needed if name not in required]
    return props, required


def example(spec: dict[str, Any], schema: Any) -> dict[str, Any]:
    """A body naming the required fields (or every field when none is required)."""
    props, required = _properties(spec, schema)
    body = {}
    for name in required or list(props):
        prop = _deref(spec, props.get(name, {}))
        kind = prop.get("type", "string")
        kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
        body[name] = prop.get("default", prop.get("enum", [EXAMPLES.get(kind, "")])[0])
    return body


def _body(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = _deref(spec, operation.get("requestBody", {})).get("content", {})
    if "application/json" in content:
        text = json.dumps(example(spec, content["application/json"].get("schema")), indent=2)
        return {"mode": "raw", "raw": text, "options": {"raw": {"language": "json"}}}
    if "application/x-www-form-urlencoded" in content:
        fields = example(spec, content["application/x-www-form-urlencoded"].get("schema"))
        return {"mode": "urlencoded",
                "urlencoded": [_kv(k, str(v), type="text") for k, v in fields.items()]}
    return None


def _parameters(spec: dict[str, Any], path_item: dict, operation: dict) -> list[dict]:
    found = {}
    for param in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
        param = _deref(spec, param)
        found[(param["name"], param["in"])] = param
    return list(found.values())


def request(spec: dict[str, Any], path: str, method: str, path_item: dict) -> dict[str, Any]:
    """One Postman item for one operation of the spec."""
    operation = path_item[method]
    params = _parameters(spec, path_item, operation)
    segments = [s if not s.startswith("{") else ":" + s[1:-1] for s in path.strip("/").split("/")]
    url: dict[str, Any] = {"raw": "{{base_url}}/" + "/".join(segments),
                           "host": ["{{base_url}}"], "path": segments}
    if path.endswith("/"):
        url["raw"] += "/"
        url["path"] = [*segments, ""]
    query = [_kv(p["name"], "", disabled=True, description=p.get("description", ""))
             for p in params if p["in"] == "query" and p["name"] not in AUTH_QUERY]
    if query:
        url["query"] = query  # disabled ones stay out of "raw", as Postman writes them
    variables = [_kv(p["name"], "", description=p.get("description", ""))
                 for p in params if p["in"] == "path"]
    if variables:
        url["variable"] = variables
    headers = [_kv(p["name"], "", disabled=True, description=p.get("description", ""))
               for p in params if p["in"] == "header"]
    body = _body(spec, operation)
    if body and body["mode"] == "raw":
        headers.append(_kv("Content-Type", "application/json"))
    item = {"method": method.upper(), "header": headers, "url": url,
            "description": operation.get("description", "").strip()}
    if body:
        item["body"] = body
    return {"name": operation.get("summary") or f"{method.upper()} {path}", "request": item}


def _token_request(spec: dict[str, Any]) -> dict[str, Any]:
    item = request(spec, TOKEN_PATH, "post", spec["paths"][TOKEN_PATH])
    item["name"] = "Get Access Token"
    item["request"]["auth"] = {"type": "noauth"}
    item["request"]["header"] = [_kv("Content-Type", "application/x-www-form-urlencoded")]
    item["request"]["body"] = {"mode": "urlencoded", "urlencoded": [
        _kv("grant_type", "client_credentials", type="text"),
        _kv("client_id", "{{client_id}}", type="text"),
        _kv("client_secret", "{{client_secret}}", type="text"),
    ]}
    item["event"] = [{"listen": "test", "script": {"type": "text/javascript", "exec": SAVE_TOKEN}}]
    return item


def _auth() -> dict[str, Any]:
    settings = {"grant_type": "client_credentials", "accessTokenUrl": "{{base_url}}/oauth/token",
                "clientId": "{{client_id}}", "clientSecret": "{{client_secret}}",
                "client_authentication": "body", "accessToken": "{{access_token}}",
                "tokenType": "Bearer", "addTokenTo": "header", "tokenName": "callscript"}
    return {"type": "oauth2", "oauth2": [_kv(k, v, type="string") for k, v in settings.items()]}


def collection(spec: dict[str, Any]) -> dict[str, Any]:
    """The whole collection for `spec` (an OpenAPI document with its fragments merged)."""
    folders: dict[str, list[dict]] = {tag["name"]: [] for tag in spec.get("tags", [])}
    loose: list[dict] = [_token_request(spec)]
    for path, path_item in spec["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method not in path_item or path == TOKEN_PATH:
                continue
            item = request(spec, path, method, path_item)
            tags = path_item[method].get("tags") or []
            (folders.setdefault(tags[0], []) if tags else loose).append(item)
    info = spec.get("info", {})
    return {
        "info": {"name": info.get("title", "API"), "description": info.get("description", ""),
                 "schema": SCHEMA},
        "auth": _auth(),
        "variable": [_kv("base_url", "http://127.0.0.1:8000"), _kv("client_id", ""),
                     _kv("client_secret", ""), _kv("access_token", "")],
        "item": loose + [{"name": name, "item": items} for name, items in folders.items()
                         if items],
    }


def render(spec: dict[str, Any]) -> str:
    return json.dumps(collection(spec), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    from api.root import spec

    parser = argparse.ArgumentParser(prog="python -m schemas.postman")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render(spec())
    if args.check:
        stale = not OUTPUT.is_file() or OUTPUT.read_text() != text
        print(f"{OUTPUT.name} is {'out of date' if stale else 'up to date'}")
        return 1 if stale else 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
