"""<Answer/>: answer the call now.

Twilio has no Answer verb (it answers before the first verb that needs media); this
dialect keeps an explicit one, as Apidaze does, so a script can answer before a silent
step or a Redirect. Running it on an answered call does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from verbs import attrs
from verbs.base import CONTINUE, Call, Hangup, Outcome

TAG = "Answer"
NEEDS_ANSWER = False
"""It answers itself: the engine must not answer for it."""


@dataclass(frozen=True)
class Answer:
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Answer:
    attrs.check_attributes(element, ())
    attrs.check_empty(element)
    return Answer(line=attrs.line_of(element))


async def run(call: Call, verb: Answer) -> Outcome:
    if not call.answered and not call.gone:
        await call.answer()
    return Hangup() if call.gone else CONTINUE
