"""What a FreeSWITCH ``bridge`` ended with, in Twilio's Dial terms (see verbs/bridge.py).

Read from the app's CHANNEL_EXECUTE_COMPLETE (``originate_disposition``,
``originate_causes`` as ``uuid;CAUSE`` or ``ARRAY::uuid;CAUSE|:uuid;CAUSE``,
``bridge_uuid``) and from the CHANNEL_BRIDGE/CHANNEL_UNBRIDGE events the caller's socket
carried meanwhile (their Event-Date-Timestamp gives DialCallDuration). A missing
completion (the caller's socket closed) still gives an answer: canceled, or completed
if a bridge was seen.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from esl.protocol import Event

BUSY = {"USER_BUSY", "CALL_REJECTED"}
NO_ANSWER = {"NO_ANSWER", "ALLOTTED_TIMEOUT", "NO_USER_RESPONSE", "PROGRESS_TIMEOUT"}
CANCELED = {"ORIGINATOR_CANCEL", "LOSE_RACE"}


def status_of(cause: str) -> str:
    """A leg's or the bridge's failure cause as a DialCallStatus."""
    if cause in ("SUCCESS", "NONE"):
        return "completed"
    if cause in BUSY:
        return "busy"
    if cause in NO_ANSWER:
        return "no-answer"
    if cause in CANCELED:
        return "canceled"
    return "failed"


def sid_of(leg_uuid: str) -> str:
    return "CA" + leg_uuid.replace("-", "").lower()


def leg_causes(value: str | None) -> list[tuple[str, str]]:
    """``originate_causes`` as (uuid, cause) pairs."""
    if not value:
        return []
    text = value.removeprefix("ARRAY::")
    pairs = []
    for item in text.split("|:"):
        leg, _, cause = item.partition(";")
        if leg:
            pairs.append((leg.strip(), cause.strip()))
    return pairs


@dataclass
class Result:
    status: str
    sid: str
    duration: int = 0
    bridged: bool = False
    legs: list[tuple[str, str]] = field(default_factory=list)
    """(DialCallSid, DialCallStatus) of every leg the switch reported."""

    def params(self) -> list[tuple[str, str]]:
        return [("DialCallStatus", self.status), ("DialCallSid", self.sid),
                ("DialCallDuration", str(self.duration))]


def _stamp(event: Event) -> int | None:
    try:
        return int(event.field("Event-Date-Timestamp") or "")
    except ValueError:
        return None


def _bridge_times(events: asyncio.Queue[Event]) -> tuple[Event | None, Event | None]:
    bridge = unbridge = None
    while not events.empty():
        event = events.get_nowait()
        if event.name == "CHANNEL_BRIDGE" and bridge is None:
            bridge = event
        elif event.name == "CHANNEL_UNBRIDGE":
            unbridge = event
    return bridge, unbridge


def read(done: Event | None, events: asyncio.Queue[Event], leg_uuids: list[str],
         caller_gone: bool) -> Result:
    """The Dial result of one bridge (module docstring)."""
    bridge, unbridge = _bridge_times(events)
    disposition = (done.field("variable_originate_disposition") if done else None) or ""
    causes = leg_causes(done.field("variable_originate_causes") if done else None)
    bridged = bridge is not None or disposition == "SUCCESS"
    winner = (bridge.field("Bridge-B-Unique-ID") if bridge else None) or (
        done.field("variable_bridge_uuid") if done else None)
    if bridged:
        status = "completed"
    elif caller_gone or disposition == "ORIGINATOR_CANCEL":
        status = "canceled"
    else:
        status = status_of(disposition or "NORMAL_TEMPORARY_FAILURE")
    leg = winner or (causes[-1][0] if causes else leg_uuids[-1])
    duration = 0
    if bridge is not None:
        end = unbridge or done
        start, stop = _stamp(bridge), (_stamp(end) if end is not None else None)
        if start is not None and stop is not None:
            duration = max(0, round((stop - start) / 1_000_000))
    legs = [(sid_of(u), "completed" if u == winner else status_of(c)) for u, c in causes]
    if caller_gone and not bridged:
        legs = [(sid, "canceled") for sid, _ in legs]
    return Result(status, sid_of(leg), duration, bridged, legs)
