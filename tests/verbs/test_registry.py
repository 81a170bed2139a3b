"""The explicit registry and the dispatch helpers."""

from __future__ import annotations

import inspect

import pytest

import verbs
from tests.verbs.recording_call import RecordingCall, element, run
from verbs import answer, gather, hangup, pause, play, redirect, speak
from verbs.base import CONTINUE, Fetch
from verbs.errors import VerbError


def test_registry_lists_every_verb_under_its_tag():
    assert set(verbs.VERBS) == {
        "Answer", "PreAnswer", "Ringback", "Hangup", "Reject", "Play", "Speak", "Pause",
        "SendDigits", "Redirect", "Gather", "Record", "Bridge", "Conference",
    }
    for tag, module in verbs.VERBS.items():
        assert tag == module.TAG
        assert isinstance(module.NEEDS_ANSWER, bool)
        assert callable(module.parse)
        assert inspect.iscoroutinefunction(module.run)


def test_needs_answer():
    # schemas/README.md: the verbs that need media answer first.
    assert {tag for tag, m in verbs.VERBS.items() if m.NEEDS_ANSWER} == {
        "Play", "Speak", "Pause", "Gather", "Record", "Bridge", "Conference", "SendDigits"}
    assert verbs.needs_answer(play.Play("a.wav"))
    assert not verbs.needs_answer(redirect.Redirect("/x"))
    assert not verbs.needs_answer(answer.Answer())
    assert not verbs.needs_answer(hangup.Hangup())
    assert verbs.needs_answer(gather.Gather())
    assert verbs.needs_answer(speak.Speak("hi"))
    assert verbs.needs_answer(pause.Pause())


def test_parse_verb_uses_the_registry():
    assert verbs.parse_verb(element('<Pause length="2"/>')) == pause.Pause(2)


@pytest.mark.parametrize("xml, tag", [("\n\n<Dial>123</Dial>", "Dial"),
                                      ("\n\n<play>a.wav</play>", "play"),
                                      ('\n\n<Play xmlns="urn:x">a.wav</Play>', "{urn:x}Play")])
def test_unknown_verb(xml, tag):
    with pytest.raises(VerbError) as info:
        verbs.parse_verb(element(xml))
    assert str(info.value) == f"line 3: unknown verb <{tag}>"
    assert info.value.line == 3


def test_run_verb_dispatches_by_class():
    call = RecordingCall()
    assert run(verbs.run_verb(call, redirect.Redirect("next.xml"))) == Fetch(
        "http://scripts.example/ivr/next.xml", "POST")
    assert run(verbs.run_verb(call, pause.Pause(1))) == CONTINUE
    assert call.commands == [("sleep", "1000")]
