"""Gather: attributes, nested prompt verbs, the exact play_and_get_digits argument, and
what each completion (digits, partial, none, hangup) turns into."""

from __future__ import annotations

import pytest

from tests.verbs.recording_call import SCRIPT_URL, RecordingCall, element, run
from verbs import base, gather, pause, play, speak
from verbs.base import CONTINUE, Fetch
from verbs.errors import VerbError

TAIL = "silence_stream://250 cs_gather_digits ^[0-9*#]+$"
DIGITS_42 = (("variable_read_result", "success"), ("variable_cs_gather_digits", "42"))
NO_INPUT = (("variable_read_result", "failure"),)


# ---- parse -------------------------------------------------------------------------


def test_defaults_follow_twilio():
    verb = gather.parse(element("<Gather/>"))
    assert verb == gather.Gather(action=None, method="POST", timeout=5, finish_on_key="#",
                                 num_digits=None, action_on_empty_result=False, prompt=())


def test_all_attributes():
    verb = gather.parse(element(
        '<Gather action="/menu" method="GET" timeout="10" finishOnKey="*" numDigits="4"'
        ' input="dtmf" actionOnEmptyResult="true"/>'))
    assert verb == gather.Gather("/menu", "GET", 10, "*", 4, True, ())


def test_empty_finish_on_key_and_action():
    verb = gather.parse(element('<Gather finishOnKey="" action=""/>'))
    assert verb.finish_on_key == "" and verb.action is None


def test_nested_prompt_in_order():
    verb = gather.parse(element(
        '<Gather>\n  <Speak language="fr">Tapez 1</Speak>\n  <Pause length="2"/>\n'
        '  <Play loop="2">a.wav</Play>\n</Gather>'))
    assert verb.prompt == (speak.Speak("Tapez 1", language="fr-FR"), pause.Pause(2),
                           play.Play("a.wav", 2))
    assert [v.line for v in verb.prompt] == [2, 3, 4]


@pytest.mark.parametrize("attribute, value, message", [
    ("timeout", "0", "integer from 1 to 600"),
    ("timeout", "5s", "integer from 1 to 600"),
    ("numDigits", "0", "integer from 1 to 127"),
    ("numDigits", "200", "integer from 1 to 127"),
    ("finishOnKey", "##",
     "must be one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, *, #, \"\" (empty), got '##'"),
    ("finishOnKey", "A", "must be one of"),
    ("method", "DELETE", "must be one of GET, POST"),
    ("action", "javascript:alert(1)", "http or https"),
    ("input", "speech", "must be one of dtmf"),
    ("actionOnEmptyResult", "sometimes", "true or false"),
    ("speechTimeout", "auto", "unknown attribute"),
])
def test_bad_attribute(attribute, value, message):
    with pytest.raises(VerbError) as info:
        gather.parse(element(f'\n\n<Gather {attribute}="{value}"/>'))
    assert info.value.attribute == attribute
    assert f"line 3, attribute '{attribute}'" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize("child", ["<Redirect>/x</Redirect>", "<Gather/>", "<Hangup/>",
                                   "<Dial>1</Dial>"])
def test_only_play_speak_pause_nest(child):
    with pytest.raises(VerbError) as info:
        gather.parse(element(f"<Gather>\n\n  {child}\n</Gather>"))
    assert "line 3" in str(info.value)
    assert "<Gather> may contain only Play, Speak and Pause" in str(info.value)


def test_nested_verb_errors_keep_their_line():
    with pytest.raises(VerbError, match="line 2, attribute 'loop'"):
        gather.parse(element('<Gather>\n<Play loop="x">a.wav</Play></Gather>'))


def test_stray_text_refused():
    with pytest.raises(VerbError, match="takes no text"):
        gather.parse(element("<Gather>press 1<Pause/></Gather>"))


# ---- the play_and_get_digits argument --------------------------------------------


def gather_commands(verb: gather.Gather, **kwargs) -> list[tuple[str, str]]:
    call = RecordingCall(variables=NO_INPUT, **kwargs)
    run(gather.run(call, verb))
    return call.commands


def test_argument_without_prompt():
    assert gather_commands(gather.Gather()) == [
        ("play_and_get_digits", f"1 127 1 5000 # silence_stream://1 {TAIL} 5000")]


def test_argument_with_attributes_and_one_file():
    verb = gather.Gather(timeout=3, finish_on_key="*", num_digits=4,
                         prompt=(play.Play("http://m.example/menu.wav"),))
    assert gather_commands(verb) == [
        ("play_and_get_digits", f"1 4 1 3000 * /media/menu.wav {TAIL} 3000")]


def test_argument_no_finish_key_is_none():
    assert gather_commands(gather.Gather(finish_on_key="")) == [
        ("play_and_get_digits", f"1 127 1 5000 none silence_stream://1 {TAIL} 5000")]


def test_prompt_joins_every_nested_verb_and_loop():
    verb = gather.Gather(prompt=(speak.Speak("Press 1", "woman", "en-GB"), pause.Pause(2),
                                 play.Play("b.wav", loop=2), pause.Pause(0)))
    prompt = ("file_string:///media/tts/woman-en-GB-1.wav!silence_stream://2000"
              "!/media/b.wav!/media/b.wav")
    assert gather_commands(verb) == [
        ("play_and_get_digits", f"1 127 1 5000 # {prompt} {TAIL} 5000")]


def test_prompt_loop_zero_is_capped_inside_gather():
    (command,) = gather_commands(gather.Gather(prompt=(play.Play("b.wav", loop=0),)))
    assert command[1].count("/media/b.wav") == gather.PROMPT_LOOP_FOREVER


def test_prompt_leaves_out_unfetchable_files():
    verb = gather.Gather(prompt=(play.Play("gone.wav"), play.Play("ok.wav")))
    commands = gather_commands(verb, missing=(SCRIPT_URL.rsplit("/", 1)[0] + "/gone.wav",))
    assert commands == [("play_and_get_digits", f"1 127 1 5000 # /media/ok.wav {TAIL} 5000")]


def test_prompt_leaves_out_paths_the_switch_would_split():
    verb = gather.Gather(prompt=(speak.Speak("Hi"),))
    commands = gather_commands(verb, speech_dir="/my media")
    assert commands == [
        ("play_and_get_digits", f"1 127 1 5000 # silence_stream://1 {TAIL} 5000")]


def test_play_and_get_digits_runs_without_spaces_in_its_fields():
    verb = gather.Gather(prompt=(speak.Speak("Hello there, press one"), pause.Pause(1)))
    (command,) = gather_commands(verb)
    assert len(command[1].split(" ")) == 10


# ---- outcomes ----------------------------------------------------------------------


def test_digits_fetch_the_default_action_the_current_document():
    call = RecordingCall(variables=DIGITS_42)
    assert run(gather.run(call, gather.Gather())) == Fetch(SCRIPT_URL, "POST",
                                                           (("Digits", "42"),))


def test_relative_action_is_resolved_and_method_kept():
    call = RecordingCall(variables=DIGITS_42)
    outcome = run(gather.run(call, gather.Gather(action="../pin", method="GET")))
    assert outcome == Fetch("http://scripts.example/pin", "GET", (("Digits", "42"),))


def test_partial_entry_ended_by_timeout_is_submitted():
    call = RecordingCall(variables=(("variable_read_result", "timeout"),
                                    ("variable_cs_gather_digits", "4")))
    assert run(gather.run(call, gather.Gather(action="/a"))) == Fetch(
        "http://scripts.example/a", "POST", (("Digits", "4"),))


def test_no_input_falls_through():
    call = RecordingCall(variables=NO_INPUT)
    assert run(gather.run(call, gather.Gather(action="/a"))) == CONTINUE


def test_no_input_with_action_on_empty_result():
    call = RecordingCall(variables=NO_INPUT)
    verb = gather.Gather(action="/a", action_on_empty_result=True)
    assert run(gather.run(call, verb)) == Fetch("http://scripts.example/a", "POST",
                                                (("Digits", ""),))


def test_caller_hangs_up_during_gather():
    call = RecordingCall(variables=DIGITS_42, hang_up_on=1)
    assert run(gather.run(call, gather.Gather())) == base.Hangup()


def test_gone_before_gather():
    call = RecordingCall()
    call.hang_up()
    assert run(gather.run(call, gather.Gather())) == base.Hangup()
    assert call.commands == []
