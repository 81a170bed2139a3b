"""Status callback settings: where and how a call's events are delivered.

Apart from engine/status.py (the events themselves) because these settings come from
outside the call: the engine's options (``--status-callback``, ``--status-events``,
``--status-format``, checked by engine/config.py when the engine starts) or the call's own
channel variables (``callscript_status_callback`` with ``_method``, ``_events``,
``_format``; set by the API's originate later), which replace the defaults as a whole.
Invalid per-call settings are logged and the defaults used, so a typo never fails a call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("engine.status")  # where this warning was logged before the split

LIFECYCLE = ("initiated", "ringing", "answered", "completed")


def parse_events(text: str) -> tuple[str, ...]:
    """``completed``, ``initiated,answered``, ``all``: checked, in the given order."""
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.replace(" ", ",").split(",")))
    names = tuple(n for n in names if n)
    if not names:
        raise ValueError(
            "status events: give at least one of initiated,ringing,answered,completed, or all"
        )
    if "all" in names:
        return ("all",)
    unknown = [n for n in names if n not in LIFECYCLE]
    if unknown:
        raise ValueError(
            f"status events: unknown {', '.join(unknown)} (expected {','.join(LIFECYCLE)} or all)"
        )
    return names


@dataclass(frozen=True)
class Callback:
    """Where and how a call's events are delivered (the worker reads it from each event)."""

    url: str
    method: str = "POST"
    events: tuple[str, ...] = ("completed",)
    format: str = "form"

    @classmethod
    def parse(
        cls, url: str, method: str = "POST", events: str = "completed", format: str = "form"
    ) -> Callback:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"status callback must be an http(s) URL, got {url!r}")
        if method.upper() not in ("GET", "POST"):
            raise ValueError(f"status callback method must be GET or POST, got {method!r}")
        if format.lower() not in ("form", "json"):
            raise ValueError(f"status format must be form or json, got {format!r}")
        return cls(url, method.upper(), parse_events(events), format.lower())

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "method": self.method,
            "events": list(self.events),
            "format": self.format,
        }


def callback_of(channel: Mapping[str, str] | Any, default: Callback | None) -> Callback | None:
    """The call's own settings from its channel variables, else the engine's defaults."""
    url = channel.get("variable_callscript_status_callback")
    if not url:
        return default
    try:
        return Callback.parse(
            url,
            channel.get("variable_callscript_status_callback_method") or "POST",
            channel.get("variable_callscript_status_callback_events") or "completed",
            channel.get("variable_callscript_status_callback_format") or "form",
        )
    except ValueError as exc:
        log.warning("call's own status callback ignored, engine defaults used: %s", exc)
        return default
