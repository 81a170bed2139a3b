"""Parsing Record, Reject, PreAnswer, Ringback, SendDigits and Gather's digit attributes;
Record's switch argument and its silence trimming on real WAV files."""

from __future__ import annotations

import array
import math
import wave
from pathlib import Path

import pytest

from esl.protocol import Event
from tests.verbs.recording_call import element
from verbs import gather, parse_verb, preanswer, record, reject, ringback, senddigits
from verbs.errors import VerbError

# ---- Record -------------------------------------------------------------------------


def test_record_defaults_follow_twilio() -> None:
    verb = record.parse(element("<Record/>"))
    assert verb == record.Record(action=None, method="POST", timeout=5, max_length=3600,
                                 finish_on_key="1234567890*#", play_beep=True, trim=True)


def test_record_all_attributes() -> None:
    verb = record.parse(element(
        '<Record action="/rec" method="GET" timeout="0" maxLength="60" finishOnKey="#*"'
        ' playBeep="false" trim="do-not-trim"/>'))
    assert verb == record.Record("/rec", "GET", 0, 60, "#*", False, False)
    assert record.parse(element('<Record finishOnKey=""/>')).finish_on_key == ""


@pytest.mark.parametrize("attribute, value, message", [
    ("timeout", "3601", "integer from 0 to 3600"),
    ("maxLength", "0", "integer from 1 to 14400"),
    ("finishOnKey", "A", "must be keys from 1234567890"),
    ("trim", "yes", "trim-silence, do-not-trim"),
    ("playBeep", "maybe", "true or false"),
    ("transcribe", "true", "unknown attribute"),
])
def test_record_bad_attributes(attribute: str, value: str, message: str) -> None:
    with pytest.raises(VerbError, match=message) as caught:
        record.parse(element(f'<Record {attribute}="{value}"/>'))
    assert repr(attribute) in str(caught.value)


def test_record_takes_no_text() -> None:
    with pytest.raises(VerbError, match="takes no text"):
        record.parse(element("<Record>http://x/</Record>"))


def test_record_arg() -> None:
    verb = record.Record(max_length=20, timeout=2)
    assert record.record_arg(verb, "/r/RE1.wav") == "/r/RE1.wav 20 200 2"
    assert record.record_arg(record.Record(timeout=0), "/r/a.wav") == "/r/a.wav 3600 0 0"


def write(path: Path, parts: list[tuple[bool, float]]) -> None:
    """A WAV of loud (a tone) and quiet (zeros) stretches."""
    samples = array.array("h")
    for loud, seconds in parts:
        for n in range(int(seconds * 8000)):
            samples.append(int(3000 * math.sin(n / 3)) if loud else 0)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())


def test_trim_silence_cuts_both_ends(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    write(path, [(False, 1.0), (True, 1.5), (False, 2.0)])
    assert record.trim_silence(str(path)) == 1.5
    assert record.wav_seconds(str(path)) == 1.5


def test_trim_silence_of_silence_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    write(path, [(False, 1.0)])
    assert record.trim_silence(str(path)) == 0


# ---- Reject, PreAnswer, Ringback, SendDigits ----------------------------------------


def test_reject() -> None:
    assert reject.parse(element("<Reject/>")).reason == "rejected"
    assert reject.parse(element('<Reject reason="BUSY"/>')).reason == "busy"
    with pytest.raises(VerbError, match="rejected, busy"):
        reject.parse(element('<Reject reason="later"/>'))


@pytest.mark.parametrize("tag, module", [("PreAnswer", preanswer), ("Ringback", ringback)])
def test_no_attribute_verbs(tag: str, module) -> None:
    assert parse_verb(element(f"<{tag}/>")) == module.parse(element(f"<{tag}/>"))
    with pytest.raises(VerbError, match="unknown attribute"):
        module.parse(element(f'<{tag} loop="1"/>'))


def test_send_digits() -> None:
    assert senddigits.parse(element("<SendDigits> 12w*#abW </SendDigits>")).digits == "12w*#ABW"
    for bad in ("", "12 3", "12x", "1@500"):
        with pytest.raises(VerbError, match="SendDigits"):
            senddigits.parse(element(f"<SendDigits>{bad}</SendDigits>"))


# ---- Gather's digit attributes ------------------------------------------------------


def test_gather_digit_attributes() -> None:
    verb = gather.parse(element(
        '<Gather minDigits="2" maxDigits="6" validDigits="#d1b" interDigitTimeout="3"/>'))
    assert (verb.min_digits, verb.max_digits, verb.valid_digits, verb.inter_digit_timeout) \
        == (2, 6, "1#BD", 3)
    assert gather.app_arg(verb, "P").split(" ") == [
        "2", "6", "1", "5000", "#", "P", "silence_stream://250", "cs_gather_digits",
        "^[1#BD]+$", "3000"]


@pytest.mark.parametrize("xml, attribute, message", [
    ('<Gather numDigits="2" maxDigits="3"/>', "maxDigits", "not both"),
    ('<Gather numDigits="2" minDigits="3"/>', "minDigits", "must not exceed"),
    ('<Gather maxDigits="2" minDigits="3"/>', "minDigits", "must not exceed"),
    ('<Gather validDigits=""/>', "validDigits", "keys from"),
    ('<Gather validDigits="1 2"/>', "validDigits", "keys from"),
    ('<Gather interDigitTimeout="0"/>', "interDigitTimeout", "integer from 1 to 600"),
    ('<Gather minDigits="0"/>', "minDigits", "integer from 1 to 127"),
])
def test_gather_bad_digit_attributes(xml: str, attribute: str, message: str) -> None:
    with pytest.raises(VerbError, match=message) as caught:
        gather.parse(element(xml))
    assert repr(attribute) in str(caught.value)


def completion(*fields: tuple[str, str]) -> Event:
    return Event(headers=(), fields=(("Event-Name", "CHANNEL_EXECUTE_COMPLETE"), *fields))


def test_gather_entry_rules() -> None:
    verb = gather.Gather(valid_digits="12")
    digits = ("variable_cs_gather_digits", "12")
    assert gather.entered(verb, completion(("variable_read_result", "success"), digits)) == "12"
    assert gather.entered(verb, completion(("variable_read_result", "timeout"), digits)) == "12"
    assert gather.entered(verb, completion(("variable_read_result", "failure"), digits)) == ""
    bad = ("variable_cs_gather_digits", "13")
    assert gather.entered(verb, completion(("variable_read_result", "success"), bad)) == ""
