"""<SendDigits>1234#</SendDigits>: send DTMF to the caller (``send_dtmf``).

Twilio does this with ``<Play digits="...">``; Apidaze and this dialect have a verb. The
text holds ``0-9``, ``*``, ``#`` and ``A-D`` (lower-case a-d accepted, sent upper-case),
plus FreeSWITCH's pauses ``w`` (half a second) and ``W`` (one second), which the switch
honours inside ``send_dtmf``. Anything else (spaces included: the switch would stop at
the first one) is a document error, so a typo is never sent as some other tone.
``send_dtmf`` completes at once and raises no DTMF event on the sending channel
(esl-captures/outbound_send_dtmf.esl), so there is nothing to read back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from verbs import attrs
from verbs.base import CONTINUE, Call, Hangup, Outcome
from verbs.errors import VerbError

TAG = "SendDigits"
NEEDS_ANSWER = True
MAX_DIGITS = 256
_DIGITS = re.compile(r"[0-9*#A-DwW]+")


@dataclass(frozen=True)
class SendDigits:
    digits: str
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> SendDigits:
    attrs.check_attributes(element, ())
    text = attrs.text_of(element, MAX_DIGITS)
    digits = "".join(c.upper() if c in "abcd" else c for c in text)
    if not _DIGITS.fullmatch(digits):
        raise VerbError(
            "<SendDigits> takes DTMF digits 0-9 * # A-D and w/W pauses, "
            f"got {text!r}",
            attrs.line_of(element),
            None,
        )
    return SendDigits(digits=digits, line=attrs.line_of(element))


async def run(call: Call, verb: SendDigits) -> Outcome:
    if call.gone:
        return Hangup()
    event = await call.execute("send_dtmf", verb.digits)
    return Hangup() if event is None or call.gone else CONTINUE
