"""Answer, Hangup, Pause and Redirect: parsing and running."""

from __future__ import annotations

import pytest

from tests.verbs.recording_call import RecordingCall, element, run
from verbs import answer, base, hangup, pause, redirect
from verbs.base import CONTINUE, Fetch
from verbs.errors import VerbError

# ---- Answer ------------------------------------------------------------------------


def test_answer_parse():
    assert answer.parse(element("<Answer/>")) == answer.Answer()
    assert answer.parse(element("\n<Answer/>")).line == 2


@pytest.mark.parametrize("xml, match", [('\n<Answer now="1"/>', "attribute 'now'"),
                                        ("\n<Answer>yes</Answer>", "takes no text")])
def test_answer_parse_bad(xml, match):
    with pytest.raises(VerbError, match=match) as info:
        answer.parse(element(xml))
    assert "line 2" in str(info.value)


def test_answer_run_answers_once():
    call = RecordingCall(answered=False)
    assert run(answer.run(call, answer.Answer())) == CONTINUE
    assert run(answer.run(call, answer.Answer())) == CONTINUE
    assert call.commands == [("answer", "")]


def test_answer_run_when_gone():
    call = RecordingCall(answered=False)
    call.hang_up()
    assert run(answer.run(call, answer.Answer())) == base.Hangup()
    assert call.commands == []


# ---- Hangup ------------------------------------------------------------------------


def test_hangup():
    assert hangup.parse(element("<Hangup/>")) == hangup.Hangup()
    call = RecordingCall()
    assert run(hangup.run(call, hangup.Hangup())) == base.Hangup("NORMAL_CLEARING")
    assert call.commands == []


def test_hangup_parse_bad():
    with pytest.raises(VerbError, match="line 3, attribute 'reason'"):
        hangup.parse(element('\n\n<Hangup reason="busy"/>'))


# ---- Pause -------------------------------------------------------------------------


@pytest.mark.parametrize("xml, length", [("<Pause/>", 1), ('<Pause length="0"/>', 0),
                                         ('<Pause length="15"/>', 15),
                                         ('<Pause length="3600"/>', 3600)])
def test_pause_parse(xml, length):
    assert pause.parse(element(xml)) == pause.Pause(length)


@pytest.mark.parametrize("value", ["-1", "1.5", "abc", "3601", ""])
def test_pause_parse_bad_length(value):
    with pytest.raises(VerbError) as info:
        pause.parse(element(f'\n<Pause length="{value}"/>'))
    assert info.value.attribute == "length"
    assert "line 2, attribute 'length': must be an integer from 0 to 3600" in str(info.value)


def test_pause_parse_unknown_attribute():
    with pytest.raises(VerbError, match="attribute 'seconds'"):
        pause.parse(element('<Pause seconds="2"/>'))


def test_pause_run_sleeps_in_milliseconds():
    call = RecordingCall()
    assert run(pause.run(call, pause.Pause(3))) == CONTINUE
    assert call.commands == [("sleep", "3000")]


def test_pause_zero_does_nothing():
    call = RecordingCall()
    assert run(pause.run(call, pause.Pause(0))) == CONTINUE
    assert call.commands == []


def test_pause_caller_hangs_up():
    call = RecordingCall(hang_up_on=1)
    assert run(pause.run(call, pause.Pause(5))) == base.Hangup()


# ---- Redirect ----------------------------------------------------------------------


@pytest.mark.parametrize("xml, expected", [
    ("<Redirect>next.xml</Redirect>", redirect.Redirect("next.xml", "POST")),
    ('<Redirect method="GET"> http://other.example/a.xml </Redirect>',
     redirect.Redirect("http://other.example/a.xml", "GET")),
    ('<Redirect method="post">/x?a=1&amp;b=2</Redirect>', redirect.Redirect("/x?a=1&b=2")),
])
def test_redirect_parse(xml, expected):
    assert redirect.parse(element(xml)) == expected


@pytest.mark.parametrize("xml, match", [
    ("\n<Redirect/>", "line 2: the text of <Redirect> must be a URL"),
    ('\n<Redirect method="PUT">/x</Redirect>', "line 2, attribute 'method': must be one of"),
    ("\n<Redirect>file:///etc/passwd</Redirect>", "line 2: must be an http or https URL"),
    ('\n<Redirect loop="2">/x</Redirect>', "line 2, attribute 'loop'"),
])
def test_redirect_parse_bad(xml, match):
    with pytest.raises(VerbError, match=match):
        redirect.parse(element(xml))


def test_redirect_run_resolves_against_the_document():
    call = RecordingCall()
    assert run(redirect.run(call, redirect.Redirect("../menu.xml", "GET"))) == Fetch(
        "http://scripts.example/menu.xml", "GET", ())
    absolute = redirect.Redirect("https://b.example/x.xml")
    assert run(redirect.run(call, absolute)) == Fetch("https://b.example/x.xml", "POST")
    assert call.commands == []
