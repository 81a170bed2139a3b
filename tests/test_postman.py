"""The committed Postman collection is what schemas/postman.py makes of the served spec."""

from __future__ import annotations

import json

from api.root import spec
from schemas import postman

METHODS = ("get", "post", "put", "patch", "delete")


def test_committed_collection_is_generated_from_the_current_spec():
    assert postman.OUTPUT.read_text() == postman.render(spec()), (
        "the spec changed: regenerate with `.venv/bin/python -m schemas.postman`")


def test_one_request_per_operation_in_a_folder_per_tag():
    document = spec()
    made = json.loads(postman.render(document))
    requests = {(item["request"]["method"], "/" + "/".join(item["request"]["url"]["path"]))
                for folder in made["item"] for item in folder.get("item", [folder])}
    operations = {(method.upper(), path.replace("{", ":").replace("}", ""))
                  for path, item in document["paths"].items() for method in METHODS
                  if method in item}
    assert requests == operations
    folders = {folder["name"] for folder in made["item"] if "item" in folder}
    tags = {item[m]["tags"][0] for item in document["paths"].values() for m in METHODS
            if m in item and item[m].get("tags") and item[m]["tags"][0] != "auth"}
    assert folders == tags


def test_client_credentials_as_apidaze_sets_them_up():
    made = json.loads(postman.render(spec()))
    auth = {entry["key"]: entry["value"] for entry in made["auth"]["oauth2"]}
    assert made["auth"]["type"] == "oauth2" and auth["grant_type"] == "client_credentials"
    assert (auth["clientId"], auth["clientSecret"]) == ("{{client_id}}", "{{client_secret}}")
    assert auth["accessToken"] == "{{access_token}}"
    token = made["item"][0]
    assert token["name"] == "Get Access Token" and token["request"]["auth"] == {"type": "noauth"}
    fields = {f["key"]: f["value"] for f in token["request"]["body"]["urlencoded"]}
    assert fields == {"grant_type": "client_credentials", "client_id": "{{client_id}}",
                      "client_secret": "{{client_secret}}"}
    assert "access_token" in " ".join(token["event"][0]["script"]["exec"])
    assert {v["key"] for v in made["variable"]} >= {"base_url", "client_id", "client_secret"}
