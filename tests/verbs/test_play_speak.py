"""Play and Speak: parsing, playback per loop, fetch/render failures, hangups."""

from __future__ import annotations

import pytest

from tests.verbs.recording_call import RecordingCall, element, run
from verbs import base, play, speak
from verbs.base import CONTINUE
from verbs.errors import MediaError, VerbError

# ---- Play --------------------------------------------------------------------------


@pytest.mark.parametrize("xml, expected", [
    ("<Play>http://m.example/a.wav</Play>", play.Play("http://m.example/a.wav", 1)),
    ('<Play loop="3">\n  sounds/b.wav\n</Play>', play.Play("sounds/b.wav", 3)),
    ('<Play loop="0">/c.mp3</Play>', play.Play("/c.mp3", 0)),
])
def test_play_parse(xml, expected):
    assert play.parse(element(xml)) == expected


@pytest.mark.parametrize("xml, match", [
    ("\n<Play></Play>", "line 2: the text of <Play> must be a URL"),
    ('\n<Play loop="-1">a.wav</Play>', "line 2, attribute 'loop': must be an integer from 0"),
    ('\n<Play loop="1001">a.wav</Play>', "line 2, attribute 'loop'"),
    ('\n<Play digits="1">a.wav</Play>', "line 2, attribute 'digits': unknown attribute"),
    ("\n<Play>file:///etc/passwd</Play>", "line 2: must be an http or https URL"),
    ("\n<Play>a b.wav</Play>", "line 2: a URL may not contain spaces"),
])
def test_play_parse_bad(xml, match):
    with pytest.raises(VerbError, match=match):
        play.parse(element(xml))


def test_play_runs_playback_per_loop_on_the_fetched_file():
    call = RecordingCall()
    assert run(play.run(call, play.Play("sounds/hello.wav", 2))) == CONTINUE
    assert call.fetched == ["http://scripts.example/ivr/sounds/hello.wav"]
    assert call.commands == [("playback", "/media/hello.wav")] * 2


def test_play_loop_zero_is_capped():
    call = RecordingCall()
    run(play.run(call, play.Play("a.wav", 0)))
    assert len(call.commands) == 1000


def test_play_stops_when_the_caller_hangs_up():
    call = RecordingCall(hang_up_on=2)
    assert run(play.run(call, play.Play("a.wav", 5))) == base.Hangup()
    assert len(call.commands) == 2


def test_play_of_an_unfetchable_url_is_skipped():
    call = RecordingCall(missing=("http://scripts.example/ivr/gone.wav",))
    assert run(play.run(call, play.Play("gone.wav"))) == CONTINUE
    assert call.commands == []


def test_play_on_a_gone_call():
    call = RecordingCall()
    call.hang_up()
    assert run(play.run(call, play.Play("a.wav"))) == base.Hangup()
    assert call.fetched == []


# ---- Speak -------------------------------------------------------------------------


@pytest.mark.parametrize("xml, expected", [
    ("<Speak>Hello</Speak>", speak.Speak("Hello", "man", "en-US", 1)),
    ('<Speak voice="woman" language="fr-FR" loop="2"> Bonjour </Speak>',
     speak.Speak("Bonjour", "woman", "fr-FR", 2)),
    ('<Speak language="en-gb">Hi</Speak>', speak.Speak("Hi", language="en-GB")),
    ('<Speak language="en-UK">Hi</Speak>', speak.Speak("Hi", language="en-GB")),
    ('<Speak language="it">Ciao</Speak>', speak.Speak("Ciao", language="it-IT")),
    ('<Speak language="es-ES">Hola</Speak>', speak.Speak("Hola", language="es-ES")),
    ('<Speak language="de-DE">Hallo</Speak>', speak.Speak("Hallo", language="de-DE")),
    ('<Speak voice="alice">Hi</Speak>', speak.Speak("Hi", voice="woman")),
    ("<Speak>a &lt; b &amp; c</Speak>", speak.Speak("a < b & c")),
])
def test_speak_parse(xml, expected):
    assert speak.parse(element(xml)) == expected


@pytest.mark.parametrize("xml, match", [
    ("\n<Speak/>", "line 2: <Speak> needs text"),
    ('\n<Speak voice="Polly.Amy">Hi</Speak>',
     "line 2, attribute 'voice': must be one of man, woman, got 'Polly.Amy'"),
    ('\n<Speak language="tlh">Hi</Speak>',
     "line 2, attribute 'language': must be one of en-US, en-GB, en-AU, fr-FR"),
    ('\n<Speak language="xx-YY">Hi</Speak>', "line 2, attribute 'language'"),
    ('\n<Speak loop="x">Hi</Speak>', "line 2, attribute 'loop'"),
    ('\n<Speak rate="2">Hi</Speak>', "line 2, attribute 'rate'"),
    ("\n<Speak>Hi <break/></Speak>", "line 2: <Speak> takes plain text, not <break>"),
    (f"\n<Speak>{'x' * 4001}</Speak>", "longer than 4000"),
])
def test_speak_parse_bad(xml, match):
    with pytest.raises(VerbError, match=match):
        speak.parse(element(xml))


def test_speak_renders_then_plays_per_loop():
    call = RecordingCall()
    verb = speak.Speak("Bonjour", "woman", "fr-FR", 2)
    assert run(speak.run(call, verb)) == CONTINUE
    assert call.spoken == [("Bonjour", "fr-FR", "woman")]
    assert call.commands == [("playback", "/media/tts/woman-fr-FR-1.wav")] * 2


class BrokenTTS(RecordingCall):
    async def speech_path(self, text: str, language: str, voice: str) -> str:
        raise MediaError("espeak-ng not installed")


def test_speak_render_failure_is_skipped():
    call = BrokenTTS()
    assert run(speak.run(call, speak.Speak("Hi"))) == CONTINUE
    assert call.commands == []


def test_speak_caller_hangs_up():
    call = RecordingCall(hang_up_on=1)
    assert run(speak.run(call, speak.Speak("Hi", loop=3))) == base.Hangup()
    assert len(call.commands) == 1


def test_every_language_and_voice_is_one_the_renderer_speaks():
    from engine.media import espeak_voice

    for language in speak.LANGUAGES:
        for voice in speak.VOICES:
            assert espeak_voice(language, voice)


def test_speak_renderer_refusal_is_skipped():
    class Refusing(RecordingCall):
        async def speech_path(self, text: str, language: str, voice: str) -> str:
            raise MediaError("unsupported speech language")

    assert run(speak.run(Refusing(), speak.Speak("Hi"))) == CONTINUE
