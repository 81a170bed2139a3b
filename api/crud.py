"""The five routes every account-owned resource has, written once.

A blueprint describes its resource (how it is shown, how fields apply to a row, what a
unique-constraint clash means) and registers the routes it offers; what is special about
it (rules' order, a SIP account's password) stays in its own module. Every route reads
rows through rest.owned/rest.scoped, so no route can reach another account's rows, and
writes to what engines route (`routing=True`) are published (api/routing.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from sqlalchemy import Select

from api import pages, rest
from api.errors import ApiError
from api.routing import changed
from engine.resources import Resource, new_sid

ROUTES = ("list", "create", "read", "update", "delete")
Answer = tuple[dict, int, dict]


@dataclass(frozen=True)
class Collection:
    model: type[Resource]
    kind: str  # singular, for ids and messages: "externalscript"
    name: str  # the collection's path segment: "externalscripts"
    show: Callable[[Any], dict[str, Any]]
    apply: Callable[[Any, dict[str, Any], bool], None]  # (row, fields, creating)
    fields: Callable[[], dict[str, Any]] = rest.body
    conflict: Callable[[Any], ApiError | None] = lambda _row: None
    query: Callable[[], Select] | None = None  # the list's order (default: oldest first)
    routing: bool = True

    def one(self, row: Resource, status: int = 200) -> Answer:
        return self.show(row), status, {"ETag": rest.etag(row)}

    def get(self, ident: str) -> Any:
        return rest.owned(self.model, ident, self.kind)

    def save(self, row: Resource) -> None:
        rest.save(row, self.conflict(row))
        if self.routing:
            changed(rest.account_sid())

    def list(self) -> dict:
        query = self.query() if self.query else rest.scoped(self.model)
        return pages.page(query, self.name, f"/{self.name}", self.show)

    def create(self) -> Answer:
        row = self.model(id=new_sid(self.kind), account_sid=rest.account_sid())
        self.apply(row, self.fields(), True)
        self.save(row)
        return self.one(row, 201)

    def read(self, ident: str) -> Answer:
        return self.one(self.get(ident))

    def update(self, ident: str) -> Answer:
        row = self.get(ident)
        rest.check_if_match(row)
        self.apply(row, self.fields(), False)
        rest.touch(row)
        self.save(row)
        return self.one(row)

    def delete(self, ident: str) -> dict:
        row = self.get(ident)
        rest.check_if_match(row)
        rest.remove(row)
        if self.routing:
            changed(rest.account_sid())
        return self.show(row)

    def register(self, blueprint: Blueprint, routes: tuple[str, ...] = ROUTES) -> None:
        base = f"/v1/{self.name}"
        table = {
            "list": (base, "GET", self.list),
            "create": (base, "POST", self.create),
            "read": (f"{base}/<ident>", "GET", self.read),
            "update": (f"{base}/<ident>", "PUT", self.update),
            "delete": (f"{base}/<ident>", "DELETE", self.delete),
        }
        for route in routes:
            path, method, view = table[route]
            blueprint.add_url_rule(path, route, view, methods=[method])
