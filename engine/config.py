"""Operator settings: every option of every command, with its default and environment name.

The table in DESIGN's "Operator interface" is the contract. Each option also reads
``CALLSCRIPT_<COMMAND>_<OPTION>``; options that several commands take also read
``CALLSCRIPT_<OPTION>`` (the command's own variable wins; ``--listen`` is never shared);
flags win over the environment. Booleans are 1/true/yes or 0/false/no.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from verbs.base import Settings

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Option:
    name: str  # the flag without dashes, e.g. "switch-password"
    default: object = None
    help: str = ""
    kind: str = "str"  # str | int | float | bool | list (repeatable)

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env_suffix(self) -> str:
        return self.name.upper().replace("-", "_")


def _o(name: str, default: object = None, help: str = "", kind: str = "str") -> Option:
    return Option(name, default, help, kind)


SWITCH = _o("switch", "127.0.0.1:8021", "inbound ESL address(es) of the switch, comma-separated")
SWITCH_PASSWORD = _o("switch-password", "ClueCon", "inbound ESL password")
ALLOW_PRIVATE = _o(
    "allow-private-urls", False, "let script URLs reach loopback/private addresses", "bool"
)

REDIS = _o("redis", "redis://127.0.0.1:6379/0", "Redis URL")
DATABASE = _o("database", "sqlite:///callscript.db", "database URL")

COMMANDS: dict[str, list[Option]] = {
    "engine": [
        _o("listen", "127.0.0.1:8084", "where the switch's socket app connects"),
        SWITCH,
        SWITCH_PASSWORD,
        _o("default-url", None, "script for calls no number or rule matches"),
        _o("fallback-url", None, "script fetched when a call's script fails (ErrorCode, ErrorUrl)"),
        ALLOW_PRIVATE,
        REDIS,
        DATABASE,
        _o("route", [], "NUMBER=URL: the script for a dialled number (repeatable)", "list"),
        _o("media-dir", "var/media", "cache of fetched media and rendered speech"),
        _o("recordings-dir", "var/recordings", "where recordings are written"),
        _o("spool-dir", "var/spool", "events waiting for Redis"),
        _o("public-url", "http://127.0.0.1:8000", "base of every public URL"),
        _o("account-sid", "AC" + "0" * 32, "AccountSid of calls until accounts exist"),
        _o("dial-number", "sofia/gateway/default/{number}", "dial string of <Number>"),
        _o("sip-domain", "127.0.0.1", "the switch's SIP domain (<SipAccount>)"),
        _o("status-callback", None, "status webhook URL for calls that carry none of their own"),
        _o(
            "status-events",
            "completed",
            "events sent to it: initiated,ringing,answered,completed (a list) or all",
        ),
        _o("status-format", "form", "status webhook body: form (Twilio's) or json"),
    ],
    "sandbox": [
        _o("listen", "127.0.0.1:8021", "inbound ESL address"),
        _o("password", "ClueCon", "inbound ESL password"),
        _o("engine", "127.0.0.1:8084", "where the sandbox's calls connect"),
        _o("speed", 1.0, "how much faster than real time simulated durations run", "float"),
    ],
    "call": [
        SWITCH,
        SWITCH_PASSWORD,
        _o("from", "15550001111", "caller number"),
        _o("to", "15550002222", "dialled number"),
        _o("digits", "", "keys pressed when the script asks for digits"),
        _o("hangup-after", None, "hang up after this many seconds", "float"),
        _o("timeout", 60.0, "give up if the call has not ended after this many seconds", "float"),
        _o("sip-user", None, "call as this registered SIP user (routed by its rules)"),
    ],
    "demo": [
        _o("digits", "1", "keys the demo caller presses"),
        _o("speed", 20.0, "sandbox speed", "float"),
        _o("redis", None, "a Redis for the demo alone (default: it starts a redis-server of "
           "its own on a free port)"),
    ],
    "worker": [
        REDIS,
        DATABASE,
        ALLOW_PRIVATE,
        _o("webhook-secret", [], "whsec_... signing secret, newest first; two during a "
           "rotation (repeatable; prefer the environment variable)", "list"),
        _o("retry-schedule", [], "seconds between retries, comma-separated "
           "(default 5,60,300,1800,7200,28800,86400)", "list"),
        _o("batch-size", 100, "deliveries per RQ job", "int"),
        _o("sweep-grace", 60.0, "re-enqueue pending deliveries overdue by this many seconds",
           "float"),
        _o("claim-idle", 60.0, "claim other consumers' stream entries idle this many seconds",
           "float"),
    ],
    "webhooks": [
        REDIS,
        DATABASE,
        _o("webhook-secret", [], "whsec_... signing secret (as the worker's)", "list"),
        ALLOW_PRIVATE,
    ],
    "db": [DATABASE],
    "api": [
        _o("listen", "127.0.0.1:8000", "where gunicorn serves the REST API"),
        _o("public-url", "http://127.0.0.1:8000", "base of every uri and RecordingUrl"),
        _o("directory-secret", None, "secret mod_xml_curl sends (the directory endpoint)"),
        _o("sip-domain", "127.0.0.1", "the switch's SIP domain"),
        REDIS,
        DATABASE,
        ALLOW_PRIVATE,
        _o("rate-limit", "100/second", "requests per account: N/second, N/minute, N/hour"),
        _o("workers", 0, "gunicorn workers (0: 2 per core + 1)", "int"),
    ],
    "accounts": [DATABASE],
    "numbers": [DATABASE, REDIS],
}


def _shared() -> set[str]:
    seen: dict[str, int] = {}
    for options in COMMANDS.values():
        for option in options:
            seen[option.name] = seen.get(option.name, 0) + 1
    return {name for name, count in seen.items() if count > 1 and name != "listen"}


SHARED = _shared()


def parse_bool(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"{name}: expected 1/true/yes or 0/false/no, got {text!r}")


def _convert(option: Option, text: str, name: str) -> object:
    if option.kind == "bool":
        return parse_bool(text, name)
    if option.kind == "int":
        return int(text)
    if option.kind == "float":
        return float(text)
    if option.kind == "list":
        return [item for item in text.split(",") if item]
    return text


def env_default(command: str, option: Option, environ: Mapping[str, str]) -> object:
    """The option's value from the environment, else its default."""
    names = [f"CALLSCRIPT_{command.upper()}_{option.env_suffix}"]
    if option.name in SHARED:
        names.append(f"CALLSCRIPT_{option.env_suffix}")
    for name in names:
        if name in environ:
            return _convert(option, environ[name], name)
    return option.default


def add_options(
    parser: argparse.ArgumentParser, command: str, environ: Mapping[str, str] | None = None
) -> None:
    environ = os.environ if environ is None else environ
    for option in COMMANDS[command]:
        default = env_default(command, option, environ)
        flag = f"--{option.name}"
        help_text = f"{option.help} (env CALLSCRIPT_{command.upper()}_{option.env_suffix})"
        if option.kind == "bool":
            parser.add_argument(
                flag,
                dest=option.dest,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=help_text,
            )
        elif option.kind == "list":
            parser.add_argument(
                flag, dest=option.dest, action="append", default=None, help=help_text
            )
            parser.set_defaults(**{f"{option.dest}_env": default})
        else:
            kind = {"int": int, "float": float}.get(option.kind, str)
            parser.add_argument(flag, dest=option.dest, type=kind, default=default, help=help_text)


def finish(args: argparse.Namespace, command: str) -> argparse.Namespace:
    """Lists given as flags replace the environment's; unset lists take it."""
    for option in COMMANDS[command]:
        if option.kind == "list" and getattr(args, option.dest) is None:
            setattr(args, option.dest, list(getattr(args, f"{option.dest}_env") or []))
    return args


def host_port(text: str, default_port: int) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``host``."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    return host, int(port)


@dataclass(frozen=True)
class EngineConfig:
    """What the call runtime needs, resolved from the options."""

    listen: tuple[str, int] = ("127.0.0.1", 8084)
    switches: tuple[tuple[str, int], ...] = (("127.0.0.1", 8021),)
    switch_password: str = "ClueCon"
    default_url: str | None = None
    fallback_url: str | None = None
    allow_private_urls: bool = False
    routes: tuple[tuple[str, str], ...] = ()
    media_dir: str = "var/media"
    recordings_dir: str = "var/recordings"
    account_sid: str = "AC" + "0" * 32
    public_url: str = "http://127.0.0.1:8000"
    dial_number: str = "sofia/gateway/default/{number}"
    sip_domain: str = "127.0.0.1"
    max_fetches: int = 200
    max_redirects_in_a_row: int = 10
    redis: str | None = None  # None: status events are logged, not streamed (tests, bench)
    database: str | None = None  # None: no routing from the API (tests, bench)
    spool_dir: str = "var/spool"
    status_callback: str | None = None
    status_events: str = "completed"
    status_format: str = "form"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> EngineConfig:
        routes = []
        for item in args.route:
            number, sep, url = item.partition("=")
            if not sep or not number or not url:
                raise ValueError(f"--route expects NUMBER=URL, got {item!r}")
            routes.append((number.strip(), url.strip()))
        return cls(
            listen=host_port(args.listen, 8084),
            switches=tuple(host_port(s.strip(), 8021) for s in args.switch.split(",") if s),
            switch_password=args.switch_password,
            default_url=args.default_url,
            fallback_url=args.fallback_url,
            allow_private_urls=args.allow_private_urls,
            routes=tuple(routes),
            media_dir=args.media_dir,
            recordings_dir=args.recordings_dir,
            account_sid=args.account_sid,
            public_url=args.public_url,
            dial_number=args.dial_number,
            sip_domain=args.sip_domain,
            redis=args.redis or None,
            database=args.database or None,
            spool_dir=args.spool_dir,
            **_status_settings(args),
        )

    @property
    def settings(self) -> Settings:
        return Settings(
            recordings_dir=self.recordings_dir,
            public_url=self.public_url,
            dial_number=self.dial_number,
            sip_domain=self.sip_domain,
        )


def _status_settings(args: argparse.Namespace) -> dict[str, str | None]:
    """--status-* checked now, so a typo stops the engine at start, not at the first call."""
    from engine.status import Callback, parse_events

    if args.status_callback:
        Callback.parse(args.status_callback, "POST", args.status_events, args.status_format)
    else:
        parse_events(args.status_events)
    return {
        "status_callback": args.status_callback or None,
        "status_events": args.status_events,
        "status_format": args.status_format,
    }


def parse(command: str, argv: Sequence[str], environ: Mapping[str, str] | None = None):
    parser = argparse.ArgumentParser(prog=f"callscript {command}")
    add_options(parser, command, environ)
    return finish(parser.parse_args(list(argv)), command)
