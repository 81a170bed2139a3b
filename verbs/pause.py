"""<Pause length="1"/>: silence for ``length`` seconds (Twilio's Pause).

Runs FreeSWITCH's ``sleep`` (milliseconds), which keeps reading media, so a hangup
during the pause ends it at once. ``length="0"`` is accepted and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from verbs import attrs
from verbs.base import CONTINUE, Call, Hangup, Outcome

TAG = "Pause"
NEEDS_ANSWER = True
MAX_LENGTH = 3600
"""One hour: longer is almost certainly a mistake (the attribute is in seconds)."""


@dataclass(frozen=True)
class Pause:
    length: int = 1
    line: int | None = field(default=None, compare=False)

    @property
    def milliseconds(self) -> int:
        return self.length * 1000


def parse(element: attrs.Element) -> Pause:
    attrs.check_attributes(element, ("length",))
    attrs.check_empty(element)
    length = attrs.get_int(element, "length", 1, 0, MAX_LENGTH)
    return Pause(length=length, line=attrs.line_of(element))


async def run(call: Call, verb: Pause) -> Outcome:
    if call.gone:
        return Hangup()
    if verb.length == 0:
        return CONTINUE
    event = await call.execute("sleep", str(verb.milliseconds))
    return Hangup() if event is None or call.gone else CONTINUE
