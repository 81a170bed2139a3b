"""The verbs of the native dialect, one module each, and the explicit registry.

A verb module declares ``TAG`` (its element name), ``NEEDS_ANSWER`` (the engine answers
the call before the first verb that needs it, as Twilio does), a frozen dataclass,
``parse(element) -> Verb`` and ``async run(call, verb) -> Outcome``. The registry is a
plain dict written out by hand (no import-time discovery): adding a verb is visible in this
file, and an element that is not in it is an error ("unknown verb"), never skipped.
"""

from __future__ import annotations

from types import ModuleType

from verbs import (
    answer,
    attrs,
    bridge,
    conference,
    gather,
    hangup,
    pause,
    play,
    preanswer,
    record,
    redirect,
    reject,
    ringback,
    senddigits,
    speak,
)
from verbs.base import Call, Outcome
from verbs.errors import VerbError

Verb = (
    answer.Answer
    | hangup.Hangup
    | play.Play
    | speak.Speak
    | pause.Pause
    | gather.Gather
    | redirect.Redirect
    | record.Record | reject.Reject | preanswer.PreAnswer | ringback.Ringback
    | senddigits.SendDigits
    | conference.Conference
    | bridge.Bridge
)

VERBS: dict[str, ModuleType] = {
    answer.TAG: answer,
    hangup.TAG: hangup,
    play.TAG: play,
    speak.TAG: speak,
    pause.TAG: pause,
    gather.TAG: gather,
    redirect.TAG: redirect,
    record.TAG: record, reject.TAG: reject, preanswer.TAG: preanswer,
    ringback.TAG: ringback, senddigits.TAG: senddigits,
    conference.TAG: conference,
    bridge.TAG: bridge,
}
"""TAG → verb module: every element a <Response> may hold."""

_BY_CLASS: dict[type, ModuleType] = {
    answer.Answer: answer,
    hangup.Hangup: hangup,
    play.Play: play,
    speak.Speak: speak,
    pause.Pause: pause,
    gather.Gather: gather,
    redirect.Redirect: redirect,
    record.Record: record, reject.Reject: reject, preanswer.PreAnswer: preanswer,
    ringback.Ringback: ringback, senddigits.SendDigits: senddigits,
    conference.Conference: conference,
    bridge.Bridge: bridge,
}


def parse_verb(element: attrs.Element) -> Verb:
    """Parse one child of <Response>; an unknown tag is a VerbError naming its line."""
    tag = element.tag if isinstance(element.tag, str) else "?"
    module = VERBS.get(tag)
    if module is None:
        raise VerbError(f"unknown verb <{tag}>", element.sourceline, None)
    return module.parse(element)


def module_of(verb: Verb) -> ModuleType:
    return _BY_CLASS[type(verb)]


def needs_answer(verb: Verb) -> bool:
    return bool(module_of(verb).NEEDS_ANSWER)


async def run_verb(call: Call, verb: Verb) -> Outcome:
    """Run a parsed verb with its own module's ``run``."""
    return await module_of(verb).run(call, verb)


__all__ = ["VERBS", "Verb", "VerbError", "module_of", "needs_answer",
           "parse_verb", "run_verb"]
