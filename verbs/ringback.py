"""<Ringback/>: tell the caller the call is ringing (``ring_ready``, a SIP 180).

There is no Twilio verb for this; it is Apidaze's. On an unanswered call ``ring_ready``
raises CHANNEL_PROGRESS (esl-captures/outbound_early_media.esl); on an answered or
early-media call it would mean nothing, so the verb then does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from verbs import attrs
from verbs.base import CONTINUE, Call, Hangup, Outcome

TAG = "Ringback"
NEEDS_ANSWER = False


@dataclass(frozen=True)
class Ringback:
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Ringback:
    attrs.check_attributes(element, ())
    attrs.check_empty(element)
    return Ringback(line=attrs.line_of(element))


async def run(call: Call, verb: Ringback) -> Outcome:
    if call.gone:
        return Hangup()
    if not call.answered:
        event = await call.execute("ring_ready")
        if event is None or call.gone:
            return Hangup()
    return CONTINUE
