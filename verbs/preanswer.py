"""<PreAnswer/>: open early media, so the Play/Speak/Pause that follow are heard before
the call is answered (``pre_answer``, a SIP 183 with SDP).

``pre_answer`` raises CHANNEL_PROGRESS_MEDIA (``Answer-State: early``;
esl-captures/outbound_early_media.esl). From then on the engine does not auto-answer for
Play, Speak and Pause (engine/loop.py asks ``call.early``); every other verb that needs
media (Gather, Record, Bridge, Conference, SendDigits) still answers first, because
they take input from the caller or hand the call on, which Twilio only does on an
answered call, and a caller cannot press keys into a 183 on most networks. An explicit
<Answer/> answers as usual. On an answered call the verb does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from verbs import attrs
from verbs.base import CONTINUE, Call, Hangup, Outcome

TAG = "PreAnswer"
NEEDS_ANSWER = False

EARLY_MEDIA_VERBS = frozenset({"Play", "Speak", "Pause"})
"""The verbs that run in early media without answering (engine/loop.py)."""


@dataclass(frozen=True)
class PreAnswer:
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> PreAnswer:
    attrs.check_attributes(element, ())
    attrs.check_empty(element)
    return PreAnswer(line=attrs.line_of(element))


async def run(call: Call, verb: PreAnswer) -> Outcome:
    if call.gone:
        return Hangup()
    if not call.answered:
        event = await call.execute("pre_answer")
        if event is None or call.gone:
            return Hangup()
    return CONTINUE
