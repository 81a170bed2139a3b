"""B-legs of <Bridge> as calls of their own: initiated/ringing/answered/completed events.

The engine does not follow B-legs on a socket of their own, so their events are derived
after the bridge ends, from what the caller's call saw; this says exactly what:

- the ``bridge`` app's argument (LiveCall.execute): each leg's ``origination_uuid``
  (its CallSid), its dial string (To: the part after the last ``/``) and the common
  ``origination_caller_id_number`` (From). Direction ``outbound-dial`` as Twilio's.
- CHANNEL_BRIDGE / CHANNEL_UNBRIDGE on the caller's socket (``Bridge-B-Unique-ID``,
  ``Event-Date-Timestamp``): the connected leg's answer and end times.
- the verb's ``bridge-leg`` event (DialCallSid, DialCallStatus) per leg the switch
  reported: this emits the leg's events, in order, with ParentCallSid = the caller.

Derived, not observed: ``initiated`` is timed at the dial (the bridge app starting);
``ringing`` is sent for legs that were connected, unanswered or cancelled (a busy or
failed leg may never have rung, so it gets none); ``answered`` only for the connected
leg, at CHANNEL_BRIDGE; the hangup cause is the one DialCallStatus implies (completed:
NORMAL_CLEARING, busy: USER_BUSY, no-answer: NO_ANSWER, canceled: ORIGINATOR_CANCEL,
failed: NORMAL_TEMPORARY_FAILURE, the leg's own cause not being passed on). The leg's
events carry the caller's callback settings (a Number-level statusCallback arrives
with later issues). Legs the switch never reported (sequential legs not reached) have
no events: they never existed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from engine.status import CallEvents, CallStatus, Sink, now, switch_time

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


def sid_of(leg_uuid: str) -> str:
    return "CA" + leg_uuid.replace("-", "").lower()


@dataclass
class Leg:
    to: str
    caller_id: str
    dialled_at: datetime
    bridged_at: datetime | None = None
    unbridged_at: datetime | None = None


class BLegs:
    """The legs one call dialled, keyed by DialCallSid, until their end is reported."""

    def __init__(self, sink: Sink, parent: CallEvents) -> None:
        self.sink = sink
        self.parent = parent
        self.legs: dict[str, Leg] = {}

    def dialled(self, argument: str) -> None:
        """Read the legs out of a ``bridge`` argument (verbs/bridge.py dial_argument)."""
        match = CALLER_ID.search(argument.split("}", 1)[0]) if argument.startswith("{") else None
        caller_id = match.group(1) if match else self.parent.params.get("From", "")
        body = argument.split("}", 1)[1] if argument.startswith("{") else argument
        moment = now()
        for pairs, dial in LEG.findall(body):
            found = UUID.search(pairs)
            if found:
                to = dial.strip().rsplit("/", 1)[-1]
                self.legs[sid_of(found.group(1))] = Leg(to, caller_id, moment)

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
        """The verb reported this leg's end: its whole life as events, in order."""
        leg = self.legs.pop(sid, None) or Leg("", self.parent.params.get("From", ""), now())
        params = {
            "CallSid": sid,
            "AccountSid": self.parent.params.get("AccountSid", ""),
            "From": leg.caller_id,
            "To": leg.to,
            "Caller": leg.caller_id,
            "Called": leg.to,
            "Direction": "outbound-dial",
            "ApiVersion": self.parent.params.get("ApiVersion", ""),
        }
        events = CallEvents(
            self.sink, params, self.parent.callback, parent_sid=self.parent.sid, tag=self.parent.tag
        )
        events.start_time = leg.dialled_at
        events.initiated()
        if status in RANG:
            events.ringing()
        if status == "completed":
            events.answered(leg.bridged_at or leg.dialled_at)
        try:
            final = CallStatus(status)
        except ValueError:
            final = CallStatus.FAILED
        end = leg.unbridged_at or now()
        events.completed(CAUSES.get(final.value, "NORMAL_TEMPORARY_FAILURE"), False, end, final)
