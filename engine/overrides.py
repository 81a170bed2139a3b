"""Twilio's connection overrides, read from a URL's fragment, and URL redaction.

Twilio reads per-request connection settings from the webhook URL's fragment (which an
HTTP client never sends), so a customer's URL can shorten or lengthen the wait for its own
server: `#ct=` connect timeout ms (100..10000, default 5000), `#rt=` read timeout ms, the
wait for the first and each later packet (100..15000, default 15000), `#tt=` total ms for
all attempts (100..15000, default 15000), `#rc=` retries (0..5, default 1) and `#rp=`
which failures are retried (`ct` connect failure or connect timeout, `rt` read timeout,
`4xx`, `5xx`, `all`; default `ct`). Out-of-range values are clamped to the range; unknown
keys (Twilio's `e`, `sni`) and malformed values are ignored, so a customer URL that works
on Twilio works here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urlsplit, urlunsplit

_POLICIES = frozenset({"ct", "rt", "4xx", "5xx"})
# name -> (minimum, maximum); timeouts in milliseconds, as Twilio documents them.
_RANGES = {"ct": (100, 10_000), "rt": (100, 15_000), "tt": (100, 15_000), "rc": (0, 5)}
_FIELDS = {"ct": "connect", "rt": "read", "tt": "total", "rc": "retries", "rp": "retry_on"}


@dataclass(frozen=True)
class Overrides:
    """Timeouts in seconds and the retry rules for one fetch."""

    connect: float = 5.0
    read: float = 15.0
    total: float = 15.0
    retries: int = 1
    retry_on: frozenset[str] = frozenset({"ct"})


def parse_overrides(url: str, base: Overrides | None = None) -> tuple[str, Overrides]:
    """Split Twilio's `#ct=..&rt=..` fragment off `url`; returns (url without it, rules)."""
    rules = base or Overrides()
    if "#" not in url:  # the usual case, on every fetch: nothing to parse
        return url, rules
    parts = urlsplit(url)
    values: dict[str, object] = {}
    for key, raw in parse_qsl(parts.fragment):
        if key in _RANGES and raw.strip().isdigit():
            low, high = _RANGES[key]
            number = min(max(int(raw), low), high)
            values[key] = number if key == "rc" else number / 1000
        elif key == "rp":
            wanted = {p.strip().lower() for p in raw.split(",")}
            values[key] = _POLICIES if "all" in wanted else frozenset(wanted & _POLICIES)
    rules = replace(rules, **{_FIELDS[k]: v for k, v in values.items()})  # type: ignore[arg-type]
    return urlunsplit(parts._replace(fragment="")), rules


def redact(url: str) -> str:
    """The URL for messages and logs: a basic-auth password never leaves the engine."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises ValueError here, not later)
    except ValueError:  # malformed: hide everything between // and the last @
        return re.sub(r"//[^/?#]*@", "//***@", url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
