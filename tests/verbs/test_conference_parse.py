"""<Conference> parsing: every attribute, its default, and what is refused; the switch
argument and channel variables built from it; the waitUrl hold music."""

from __future__ import annotations

import pytest

from tests.verbs.recording_call import RecordingCall, element, run
from verbs import conference
from verbs.conference import Conference, app_arg, channel_vars, hold_music, parse
from verbs.errors import VerbError
from verbs.pause import Pause
from verbs.play import Play
from verbs.redirect import Redirect


def conf(attrs: str = "", room: str = "room-1") -> Conference:
    return parse(element(f"<Conference {attrs}>{room}</Conference>"))


def test_defaults() -> None:
    assert conf() == Conference(room="room-1", muted=False, beep="true", start_on_enter=True,
                                end_on_exit=False, max_participants=250, wait_url=None,
                                wait_method="POST", record="do-not-record",
                                status_callback=None, status_events=("start", "end"),
                                status_method="POST")


@pytest.mark.parametrize(("attrs", "field", "value"), [
    ('muted="true"', "muted", True),
    ('beep="false"', "beep", "false"),
    ('beep="onEnter"', "beep", "onEnter"),
    ('beep="onExit"', "beep", "onExit"),
    ('startConferenceOnEnter="false"', "start_on_enter", False),
    ('endConferenceOnExit="true"', "end_on_exit", True),
    ('maxParticipants="2"', "max_participants", 2),
    ('waitUrl="/hold.xml"', "wait_url", "/hold.xml"),
    ('waitMethod="get"', "wait_method", "GET"),
    ('record="record-from-start"', "record", "record-from-start"),
    ('statusCallback="https://cb.example/c"', "status_callback", "https://cb.example/c"),
    ('statusCallbackEvent="join leave mute"', "status_events", ("join", "leave", "mute")),
    ('statusCallbackMethod="GET"', "status_method", "GET"),
])
def test_each_attribute(attrs: str, field: str, value: object) -> None:
    assert getattr(conf(attrs), field) == value


@pytest.mark.parametrize(("attrs", "room", "attribute"), [
    ('maxParticipants="1"', "r", "maxParticipants"),
    ('maxParticipants="251"', "r", "maxParticipants"),
    ('beep="sometimes"', "r", "beep"),
    ('muted="maybe"', "r", "muted"),
    ('record="always"', "r", "record"),
    ('statusCallbackEvent="start hold"', "r", "statusCallbackEvent"),
    ('statusCallbackEvent=""', "r", "statusCallbackEvent"),
    ('waitUrl="ftp://x/y"', "r", "waitUrl"),
    ('waitMethod="PUT"', "r", "waitMethod"),
    ('coach="CA1"', "r", "coach"),
    ("", "two words", None),
    ("", "", None),
    ("", "a@b+flags{endconf}", None),
])
def test_refused(attrs: str, room: str, attribute: str | None) -> None:
    with pytest.raises(VerbError) as caught:
        conf(attrs, room)
    assert caught.value.attribute == attribute


def test_switch_argument_and_variables() -> None:
    verb = conf('muted="true" endConferenceOnExit="true" beep="onExit"')
    assert app_arg("AC1_room-1", verb) == (
        "AC1_room-1@callscript+flags{mute|endconf|moderator|nomoh}")
    assert app_arg("x", conf('startConferenceOnEnter="false"')) == "x@callscript+flags{wait-mod}"
    assert dict(channel_vars(verb, "local_stream://moh")) == {
        "hangup_after_conference": "false", "conference_max_members": "250",
        "conference_enter_sound": "silence_stream://1",
        "conference_exit_sound": conference.EXIT_TONE,
        "conference_moh_sound": "local_stream://moh"}


class WaitCall(RecordingCall):
    """Serves side documents from a dict (None: it cannot be fetched)."""

    def __init__(self, documents: dict[str, list | None]) -> None:
        super().__init__()
        self.documents = documents
        self.sid, self.uuid, self.params = "CA" + "0" * 32, "0" * 32, {"AccountSid": "AC1"}
        self.loaded: list[tuple[str, str]] = []

    async def load(self, url, method="POST", params=()):
        self.loaded.append((url, method))
        return self.documents.get(url)


def test_wait_url_becomes_hold_music_following_redirects() -> None:
    base = "http://scripts.example/ivr/"
    call = WaitCall({base + "hold": [Redirect(url="hold2", method="GET")],
                     base + "hold2": [Play(url="/music.wav", loop=2), Pause(length=2)]})
    music = run(hold_music(call, conf('waitUrl="hold"')))
    assert call.loaded == [(base + "hold", "POST"), (base + "hold2", "GET")]
    assert music.startswith("file_string://") and music.endswith("!silence_stream://2000")
    assert music.count("music.wav") == 2


def test_wait_url_with_another_verb_gets_the_default_music() -> None:
    from verbs.hangup import Hangup

    call = WaitCall({"http://scripts.example/ivr/hold": [Pause(length=1), Hangup()]})
    assert run(hold_music(call, conf('waitUrl="hold"'))) == conference.DEFAULT_MOH
    assert run(hold_music(WaitCall({}), conf('waitUrl="gone"'))) == conference.DEFAULT_MOH
    loop = {"http://scripts.example/ivr/a": [Redirect(url="a")]}
    assert run(hold_music(WaitCall(loop), conf('waitUrl="a"'))) == conference.DEFAULT_MOH
