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
    | preanswer.PreAnswer
    | ringback.Ringback
    | hangup.Hangup
    | reject.Reject
    | play.Play
    | speak.Speak
    | pause.Pause
    | senddigits.SendDigits
    | redirect.Redirect
    | gather.Gather
    | record.Record
    | bridge.Bridge
    | conference.Conference
)

VERBS: dict[str, ModuleType] = {
    module.TAG: module
    for module in (
        answer,
        preanswer,
        ringback,
        hangup,
        reject,
        play,
        speak,
        pause,
        senddigits,
        redirect,
        gather,
        record,
        bridge,
        conference,
    )
}
"""TAG → verb module: every element a <Response> may hold. Each module's dataclass is
named after its tag (``play.Play``), which is how a parsed verb finds its module."""

_BY_CLASS: dict[type, ModuleType] = {getattr(m, tag): m for tag, m in VERBS.items()}


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


__all__ = ["VERBS", "Verb", "VerbError", "module_of", "needs_answer", "parse_verb", "run_verb"]
