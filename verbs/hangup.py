"""<Hangup/>: end the call (Twilio's Hangup; no attributes).

The verb only returns the outcome: the engine owns the hangup, so the call record, the
status events and the end-of-document case all go through one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from verbs import attrs, base
from verbs.base import Call, Outcome

TAG = "Hangup"
NEEDS_ANSWER = False
"""Hanging up an unanswered call is allowed (it simply ends; Reject says how)."""


@dataclass(frozen=True)
class Hangup:
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Hangup:
    attrs.check_attributes(element, ())
    attrs.check_empty(element)
    return Hangup(line=attrs.line_of(element))


async def run(call: Call, verb: Hangup) -> Outcome:
    return base.Hangup()
