"""B-legs of <Bridge> as calls of their own: initiated/ringing/answered/completed events.

Observed on the switch (DESIGN, "Ids"): the engine chooses each leg's uuid
(``origination_uuid`` in the ``bridge`` argument, verbs/bridge.py), and before the bridge
runs it has its switch links pass that channel's events (engine/legwatch.py). Each event
the switch reports for the leg becomes one of the leg's status events:

- CHANNEL_CREATE: ``initiated``; CHANNEL_PROGRESS or CHANNEL_PROGRESS_MEDIA: ``ringing``
  (once); CHANNEL_ANSWER: ``answered``; CHANNEL_HANGUP_COMPLETE: ``completed`` with the
  leg's own Hangup-Cause. Times are each event's Event-Date-Timestamp (the start time is
  the channel's Caller-Channel-Created-Time).
- CallStatus as Twilio gives a child call: ``completed`` once answered, else the cause's
  DialCallStatus (verbs/bridge_outcome.py ``status_of``: busy for USER_BUSY or
  CALL_REJECTED; no-answer for NO_ANSWER, NO_USER_RESPONSE, ALLOTTED_TIMEOUT,
  PROGRESS_TIMEOUT; canceled for ORIGINATOR_CANCEL, LOSE_RACE; failed otherwise), so a
  leg's CallStatus and its ``bridge-leg`` event's DialCallStatus always agree.
- Parameters: CallSid ``CA`` + the uuid's hex, ParentCallSid the caller, From the
  argument's ``origination_caller_id_number``, To the dial string after its last ``/``,
  Direction ``outbound-dial``, and the caller's AccountSid, ApiVersion, callback settings
  and tag (a Number-level statusCallback arrives with later issues).

Derived, as a fallback, for a leg that could not be watched (no switch link connected)
or whose end never came over the link (a link lost meanwhile): from what the caller's
call saw. ``initiated`` at the dial; ``ringing`` for legs that were connected,
unanswered or cancelled (a busy or failed leg may never have rung); ``answered`` at the
caller's CHANNEL_BRIDGE with that leg; ``completed`` at CHANNEL_UNBRIDGE with the cause
the verb's DialCallStatus implies (CAUSES: the leg's own cause is not on the caller's
socket). A leg observed in part gets only the events it is missing. Legs the switch
never created (sequential legs not reached) have no events: they never existed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from engine.status import CallEvents, CallStatus, Sink, now, switch_time
from esl.protocol import Event
from verbs.bridge_outcome import leg_causes, sid_of, status_of

if TYPE_CHECKING:
    from engine.legwatch import LegWatch

log = logging.getLogger(__name__)

LEG = re.compile(r"\[([^\]]*)\]([^\[]*?)(?=[,|]\[|$)")
UUID = re.compile(r"origination_uuid=([0-9a-fA-F-]{36})")
CALLER_ID = re.compile(r"origination_caller_id_number='?([^,}']*)")
CAUSES = {
    "completed": "NORMAL_CLEARING",
    "busy": "USER_BUSY",
    "no-answer": "NO_ANSWER",
    "canceled": "ORIGINATOR_CANCEL",
    "failed": "NORMAL_TEMPORARY_FAILURE",
}
RANG = {"completed", "no-answer", "canceled"}
PROGRESS = {"CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA"}


def _time(event: Event, name: str) -> datetime | None:
    """A microsecond stamp header of a switch event; None when absent, 0 or malformed."""
    value = event.field(name) or ""
    return switch_time(int(value)) if value.isdigit() else None


@dataclass
class Leg:
    """One leg of one bridge and its events, observed or derived."""

    uuid: str
    events: CallEvents
    dialled_at: datetime
    bridged_at: datetime | None = None
    unbridged_at: datetime | None = None
    watched: bool = False
    """A switch link passes its events (engine/legwatch.py)."""
    seen: bool = False
    reported: str | None = None
    """The verb's DialCallStatus for it (``bridge-leg``), once the bridge is over."""
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def sid(self) -> str:
        return self.events.sid

    def observe(self, event: Event) -> None:
        """One of this leg's channel events, from a switch link."""
        if self.ended.is_set():
            return
        moment = _time(event, "Event-Date-Timestamp") or now()
        if not self.seen:  # CHANNEL_CREATE, or the first event after a link came back
            self.seen = True
            self.events.start_time = _time(event, "Caller-Channel-Created-Time") or moment
            self.events.initiated()
        if event.name in PROGRESS and self.events.status is CallStatus.INITIATED:
            self.events.status = CallStatus.RINGING
            self.events.send("ringing", moment=moment)
        elif event.name == "CHANNEL_ANSWER":
            self.events.answered(moment)
        elif event.name == "CHANNEL_HANGUP_COMPLETE":
            answered = _time(event, "Caller-Channel-Answered-Time")
            if answered is not None:  # its CHANNEL_ANSWER may have come while a link was down
                self.events.answered(answered)
            cause = event.field("Hangup-Cause") or "NORMAL_CLEARING"
            if self.events.answer_time is not None:
                status = CallStatus.COMPLETED
            else:
                status = CallStatus(status_of(cause))
            self.events.completed(cause, False, moment, status)
            self.ended.set()

    def derive(self, status: str) -> None:
        """Whatever was not observed, from the caller's view (module docstring)."""
        if self.ended.is_set():
            return
        events = self.events
        if events.sequence == 0:
            events.start_time = self.dialled_at
            events.initiated()
        if status in RANG and events.status is CallStatus.INITIATED:
            events.ringing()
        if status == "completed":
            events.answered(self.bridged_at or self.dialled_at)
        try:
            final = CallStatus(status)
        except ValueError:
            final = CallStatus.FAILED
        cause = CAUSES.get(final.value, "NORMAL_TEMPORARY_FAILURE")
        events.completed(cause, False, self.unbridged_at or now(), final)
        self.ended.set()

    def give_up(self) -> None:
        """Its end never came over a link: derive the rest, if the leg ever existed."""
        if self.ended.is_set() or not (self.reported or self.seen):
            return
        log.warning("B-leg %s: its end never came from the switch; derived", self.sid)
        self.derive(self.reported or ("completed" if self.events.answer_time else "failed"))


class BLegs:
    """The legs one call dialled, keyed by CallSid, until the verb reports their end."""

    def __init__(self, sink: Sink, parent: CallEvents, watch: LegWatch | None = None) -> None:
        self.sink = sink
        self.parent = parent
        self.watch = watch
        self.legs: dict[str, Leg] = {}
        self._dialling: list[Leg] = []

    def _leg(self, leg_uuid: str, to: str, caller_id: str, moment: datetime) -> Leg:
        params = {
            "CallSid": sid_of(leg_uuid),
            "AccountSid": self.parent.params.get("AccountSid", ""),
            "From": caller_id,
            "To": to,
            "Caller": caller_id,
            "Called": to,
            "Direction": "outbound-dial",
            "ApiVersion": self.parent.params.get("ApiVersion", ""),
        }
        events = CallEvents(
            self.sink, params, self.parent.callback, parent_sid=self.parent.sid, tag=self.parent.tag
        )
        return Leg(leg_uuid, events, moment)

    async def dialled(self, argument: str) -> None:
        """Before the ``bridge`` app runs: its legs (verbs/bridge.py dial_argument), watched
        on the switch links when there are any."""
        match = CALLER_ID.search(argument.split("}", 1)[0]) if argument.startswith("{") else None
        caller_id = match.group(1) if match else self.parent.params.get("From", "")
        body = argument.split("}", 1)[1] if argument.startswith("{") else argument
        moment = now()
        legs = []
        for pairs, dial in LEG.findall(body):
            found = UUID.search(pairs)
            if found:
                legs.append(self._leg(found.group(1), dial.strip().rsplit("/", 1)[-1],
                                      caller_id, moment))
        self.legs.update((leg.sid, leg) for leg in legs)
        self._dialling = legs
        if self.watch is not None and legs:
            await self.watch.watch(legs)

    def over(self, done: Event | None) -> None:
        """The ``bridge`` app returned (``done``: its completion, None if the caller's
        socket closed first): the watched legs settle (engine/legwatch.py)."""
        legs, self._dialling = self._dialling, []
        watched = [leg for leg in legs if leg.watched]
        if self.watch is None or not watched:
            return
        causes = done.field("variable_originate_causes") if done is not None else None
        tried = {leg_uuid for leg_uuid, _ in leg_causes(causes)} if done is not None else None
        self.watch.settle(watched, tried)

    def bridged(self, leg_uuid: str | None, stamp: str | None, ended: bool) -> None:
        """CHANNEL_BRIDGE (ended False) or CHANNEL_UNBRIDGE of the caller with this leg."""
        leg = self.legs.get(sid_of(leg_uuid or ""))
        if leg is None:
            return
        moment = switch_time(int(stamp)) if stamp and stamp.isdigit() else None
        if ended:
            leg.unbridged_at = moment or now()
        else:
            leg.bridged_at = moment or now()

    def ended(self, sid: str, status: str) -> None:
        """The verb reported this leg's end: a leg nobody watched gets its derived events
        now; a watched one completes from the switch's own report (or settles)."""
        caller_id = self.parent.params.get("From", "")
        leg = self.legs.pop(sid, None) or self._leg(sid.removeprefix("CA"), "", caller_id, now())
        leg.reported = status
        if not leg.watched:
            leg.derive(status)
