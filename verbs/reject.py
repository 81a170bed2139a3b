"""<Reject reason="rejected|busy"/>: refuse an unanswered call (Twilio's Reject).

On an unanswered call the switch is told to ``respond 603 Decline`` (``rejected``) or
``respond 486 Busy Here`` (``busy``), then the verb returns ``Hangup`` with the cause the
caller's side should see, ``CALL_REJECTED`` or ``USER_BUSY``: the engine hangs up with
that cause (engine/loop.py). Both steps are needed: on a SIP channel ``respond`` sends the
final response, but on loopback channels it does nothing
(esl-captures/outbound_hangup_before_answer.esl), so the hangup is what ends the call
everywhere. After answer there is nothing left to refuse: Twilio then simply hangs up,
and so does this verb (NORMAL_CLEARING, no ``respond``).

NEEDS_ANSWER is false: answering first would defeat the verb.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from verbs import attrs
from verbs.base import Call, Hangup, Outcome

TAG = "Reject"
NEEDS_ANSWER = False

REASONS = {"rejected": "rejected", "busy": "busy"}
RESPONSES = {"rejected": ("603 Decline", "CALL_REJECTED"), "busy": ("486 Busy Here", "USER_BUSY")}


@dataclass(frozen=True)
class Reject:
    reason: str = "rejected"
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Reject:
    attrs.check_attributes(element, ("reason",))
    attrs.check_empty(element)
    reason = attrs.get_enum(element, "reason", "rejected", REASONS)
    return Reject(reason=reason, line=attrs.line_of(element))


async def run(call: Call, verb: Reject) -> Outcome:
    if call.gone or call.answered:
        return Hangup()
    response, cause = RESPONSES[verb.reason]
    await call.execute("respond", response)
    return Hangup(cause)
