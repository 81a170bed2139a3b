"""Which script a call runs, decided from what the API stored (DESIGN, "Settled decisions").

The engine keeps routing in memory as one immutable ``Snapshot``: numbers (by their digits,
so "+15550001111" and "15550001111" dialled are the same) with their holder, target and
callback settings; each account's rules, compiled, in order; SIP usernames and their
accounts; hosted script bodies by (account, name). Targets are resolved when the snapshot
is built, so deciding a call is a few dict lookups and never touches the database.
engine/reloader.py rebuilds the snapshot when the API publishes a change (and on a timer).

Order (``resolve``): the URL the call was originated with (``callscript_url``); else the
dialled number's script when an account holds it and routes it; else the rules of the
call's account in order, each matched whole against the dialled number or the caller's
SIP user; else ``--route``; else ``--default-url``. The call's account is the number's
holder, else the account of the calling SIP user (``sip_auth_username``, else
``user_name``); it becomes the call's AccountSid. A held number's status callback
settings become the call's (its own channel variables still win); the fallback URL is
the number's, else the external script's.

Hosted scripts run without HTTP: their URL is ``script:NAME`` (or ``script:ID``, which
a rename does not break), looked up in the call's account. A relative URL in a hosted
document (``<Redirect>sales</Redirect>``, a Gather action) names another hosted script
of that account, since a hosted document has no web location to be relative to;
absolute http(s) URLs are fetched as usual.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from engine.callbacks import Callback
from engine.errors import FetchError
from engine.patterns import compile_rule, matches
from engine.resources import ExternalScript, Number, Rule, Script, SipAccount
from engine.storage import Database

log = logging.getLogger(__name__)

HOSTED = "script:"


@dataclass(frozen=True)
class Target:
    """Where a number or rule sends calls: an external script's URL or ``script:NAME``."""

    url: str
    method: str = "POST"
    fallback_url: str | None = None


@dataclass(frozen=True)
class Held:
    """A number an account holds, with what the API set on it."""

    account_sid: str
    target: Target | None
    fallback_url: str | None
    callback: Callback | None


@dataclass(frozen=True)
class CompiledRule:
    pattern: re.Pattern[str]
    target: Target

    def matches(self, number: str, user: str | None) -> bool:
        return matches(self.pattern, number) or bool(user and matches(self.pattern, user))


@dataclass(frozen=True)
class Snapshot:
    numbers: Mapping[str, Held] = field(default_factory=dict)
    rules: Mapping[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    sip_users: Mapping[str, str] = field(default_factory=dict)
    scripts: Mapping[tuple[str, str], bytes] = field(default_factory=dict)

    def merged(self, part: Snapshot, accounts: frozenset[str]) -> Snapshot:
        """This snapshot with everything of `accounts` replaced by `part` (what `load`
        read for them): one account's change costs a read of its own rows, not of all."""
        return Snapshot(
            numbers={**{n: held for n, held in self.numbers.items()
                        if held.account_sid not in accounts}, **part.numbers},
            rules={**{a: r for a, r in self.rules.items() if a not in accounts}, **part.rules},
            sip_users={**{u: a for u, a in self.sip_users.items() if a not in accounts},
                       **part.sip_users},
            scripts={**{k: b for k, b in self.scripts.items() if k[0] not in accounts},
                     **part.scripts},
        )


@dataclass(frozen=True)
class Route:
    """What one call runs first, as whom, and where its events and failures go."""

    url: str | None
    method: str = "POST"
    account_sid: str | None = None  # None: the engine's --account-sid
    callback: Callback | None = None  # None: the engine's --status-callback settings
    fallback_url: str | None = None


def digits(number: str) -> str:
    return number.strip().lstrip("+")


def sip_user(channel: Any) -> str | None:
    return channel.get("variable_sip_auth_username") or channel.get("variable_user_name")


def _callback(row: Any) -> Callback | None:
    if not row.status_callback:
        return None
    events = ",".join(row.status_callback_event or ["completed"])
    try:
        return Callback.parse(
            row.status_callback, row.status_callback_method, events, row.status_callback_format
        )
    except ValueError as exc:
        log.warning("number %s: status callback ignored: %s", row.number, exc)
        return None


def _rules(rows: Any, target: Any) -> dict[str, tuple[CompiledRule, ...]]:
    """Each account's rules in order; one that cannot be used is logged and skipped."""
    rules: dict[str, list[CompiledRule]] = {}
    for row in rows:
        where = target(row)
        if where is None:
            continue
        try:
            compiled = compile_rule(row.pattern)
        except ValueError as exc:
            log.warning("rule %s: pattern %r skipped: %s", row.id, row.pattern, exc)
            continue
        rules.setdefault(row.account_sid, []).append(CompiledRule(compiled, where))
    return {account: tuple(items) for account, items in rules.items()}


NUMBER_COLUMNS = (
    Number.number, Number.account_sid, Number.externalscript_id, Number.script_id,
    Number.fallback_url, Number.status_callback, Number.status_callback_method,
    Number.status_callback_event, Number.status_callback_format,
)
RULE_COLUMNS = (Rule.id, Rule.account_sid, Rule.pattern, Rule.externalscript_id, Rule.script_id)


def load(db: Database, accounts: frozenset[str] | None = None) -> Snapshot:
    """Read the routing of `accounts` (None: of all) from the database (blocking: run it
    in a thread). Plain rows, not ORM objects: building 10,000 of those would take most
    of the second a change has to reach every engine in."""
    with db.session() as session:

        def run(*columns: Any, order: tuple[Any, ...] = ()) -> Any:
            query = select(*columns).order_by(*order)
            if accounts is not None:
                query = query.where(columns[0].table.c.account_sid.in_(accounts))
            return session.execute(query)

        external = (ExternalScript.id, ExternalScript.url, ExternalScript.method,
                    ExternalScript.fallback_url)
        targets = {ident: Target(url, method, fallback)
                   for ident, url, method, fallback in run(*external)}
        scripts: dict[tuple[str, str], bytes] = {}
        hosted = (Script.id, Script.account_sid, Script.name, Script.body)
        for ident, account, name, body in run(*hosted):
            targets[ident] = Target(HOSTED + name)
            scripts[(account, name)] = scripts[(account, ident)] = body.encode("utf-8")

        def target(row: Any) -> Target | None:
            return targets.get(row.externalscript_id or row.script_id or "")

        numbers = {
            digits(row.number): Held(row.account_sid, target(row), row.fallback_url, _callback(row))
            for row in run(*NUMBER_COLUMNS)
        }
        ordered = run(*RULE_COLUMNS, order=(Rule.account_sid, Rule.position, Rule.created_at,
                                            Rule.id))
        users = run(SipAccount.username, SipAccount.account_sid)
        return Snapshot(
            numbers=numbers,
            rules=_rules(ordered, target),
            sip_users={username: account for username, account in users},
            scripts=scripts,
        )


def resolve(
    snapshot: Snapshot, channel: Any, static: Mapping[str, str], default_url: str | None
) -> Route:
    """The route of a call from its channel data (the order is the module docstring's)."""
    own = channel.get("variable_callscript_url")
    if own:
        return Route(own)
    dialled = channel.get("Caller-Destination-Number") or ""
    user = sip_user(channel)
    held = snapshot.numbers.get(digits(dialled))
    account = held.account_sid if held else snapshot.sip_users.get(user or "")
    route = Route(
        None,
        account_sid=account,
        callback=held.callback if held else None,
        fallback_url=held.fallback_url if held else None,
    )
    target = held.target if held else None
    if target is None and account:
        rules = snapshot.rules.get(account, ())
        target = next((r.target for r in rules if r.matches(dialled, user)), None)
    if target is None:
        return replace(route, url=static.get(dialled) or default_url)
    fallback = route.fallback_url or target.fallback_url
    return replace(route, url=target.url, method=target.method, fallback_url=fallback)


def hosted_url(base: str, url: str) -> str:
    """``script:NAME`` for a hosted script: given as such, or relative to a hosted document."""
    if url.startswith(HOSTED) or not base.startswith(HOSTED):
        return url
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return url
    return HOSTED + parts.path.lstrip("/")


def hosted_body(snapshot: Snapshot, account_sid: str, url: str) -> bytes:
    """The body of ``script:NAME`` in the call's account; FetchError (11200) if none."""
    name = url[len(HOSTED):]
    body = snapshot.scripts.get((account_sid, name))
    if body is None:
        raise FetchError(f"no hosted script named {name!r} in account {account_sid}", url)
    return body
