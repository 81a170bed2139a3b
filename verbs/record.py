"""<Record>: record the caller into a WAV and tell the action URL (Twilio's Record).

The steps on the switch, as esl-captures/outbound_record*.esl show them:

1. ``playback tone_stream://%(500,0,1000)`` (the beep) when ``playBeep`` is true;
2. ``api uuid_setvar UUID playback_terminators KEYS`` (``finishOnKey``; ``none`` when it
   is empty, since an unset variable means ``*`` to FreeSWITCH's record and playback);
3. ``record PATH maxLength 200 timeout``: 200 is the silence threshold (FreeSWITCH's
   usual value), ``timeout`` the seconds of silence that end it. ``timeout="0"`` (never)
   is sent as ``PATH maxLength 0 0``: a zero threshold turns silence detection off,
   whereas zero hits alone would mean FreeSWITCH's default of 3 seconds;
4. ``playback_terminators`` is unset again, so later Plays are not cut short by keys.

The completion carries ``record_ms`` (0 when no audio at all arrived) and
``playback_terminator_used``. The key that ended it is taken only if a DTMF event of
that key arrived during this record (the variable outlives the app, so a stale one from
an earlier Record or Play must not be reported).

The file is ``--recordings-dir``/RE<32 hex>.wav, RE… being the RecordingSid, and
RecordingUrl is ``--public-url`` + ``/v1/recordings/`` + sid (DESIGN, "Media").
``trim="trim-silence"`` (the default) cuts leading and trailing silence (20 ms windows
whose mean amplitude is under the same threshold of 200) in a worker thread with the
``wave`` module; no new dependency. RecordingDuration is the final file's length in whole
seconds, rounded, at least 1.

Outcomes, as Twilio documents them:
- an empty recording (``record_ms`` 0, or nothing left after trimming) is deleted and the
  next verb runs; no request to ``action``;
- otherwise ``Fetch(action)`` with RecordingUrl, RecordingSid, RecordingDuration and
  Digits (the key, or empty when maxLength or silence ended it); ``action`` defaults to
  the current document;
- the caller hung up during the recording: Twilio still requests ``action`` with
  ``Digits=hangup`` (and ignores the TwiML it returns, the call being over). So does this
  verb, through ``call.load`` (the document is fetched and dropped), then Hangup.
Each non-empty recording also emits ``record-finished`` with the same parameters.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import sys
import uuid as uuidlib
import wave
from dataclasses import dataclass, field

from esl.protocol import Event
from verbs import attrs
from verbs.base import CONTINUE, Call, Fetch, Hangup, Outcome
from verbs.errors import VerbError

TAG = "Record"
NEEDS_ANSWER = True
BEEP = "tone_stream://%(500,0,1000)"
SILENCE_THRESHOLD = 200
WINDOW = 160
"""Samples in one 20 ms window at 8 kHz: FreeSWITCH's frame, the unit trimming works in."""
MAX_LENGTH = 14400
MAX_TIMEOUT = 3600
ALL_KEYS = "1234567890*#"
TRIMS = {"trim-silence": "trim-silence", "do-not-trim": "do-not-trim"}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    action: str | None = None
    method: str = "POST"
    timeout: int = 5
    max_length: int = 3600
    finish_on_key: str = ALL_KEYS
    play_beep: bool = True
    trim: bool = True
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Record:
    attrs.check_attributes(
        element, ("action", "method", "timeout", "maxLength", "finishOnKey", "playBeep", "trim")
    )
    attrs.check_empty(element)
    return Record(
        action=attrs.get_url(element, "action"),
        method=attrs.get_method(element),
        timeout=attrs.get_int(element, "timeout", 5, 0, MAX_TIMEOUT),
        max_length=attrs.get_int(element, "maxLength", 3600, 1, MAX_LENGTH),
        finish_on_key=_finish_keys(element),
        play_beep=attrs.get_bool(element, "playBeep", True),
        trim=attrs.get_enum(element, "trim", "trim-silence", TRIMS) == "trim-silence",
        line=attrs.line_of(element),
    )


def _finish_keys(element: attrs.Element) -> str:
    raw = element.get("finishOnKey")
    if raw is None:
        return ALL_KEYS
    keys = raw.strip()
    if any(key not in ALL_KEYS for key in keys):
        raise VerbError(
            f"must be keys from {ALL_KEYS} (or empty for none), got {raw!r}",
            attrs.line_of(element),
            "finishOnKey",
        )
    return "".join(dict.fromkeys(keys))


def record_arg(verb: Record, path: str) -> str:
    """The ``record`` argument: PATH LIMIT THRESHOLD SILENCE_SECONDS."""
    if verb.timeout == 0:
        return f"{path} {verb.max_length} 0 0"
    return f"{path} {verb.max_length} {SILENCE_THRESHOLD} {verb.timeout}"


def _new_path(directory: str, sid: str) -> str:
    """Make the directory (the switch will not) and name the file after the sid."""
    os.makedirs(directory, exist_ok=True)
    return os.path.abspath(os.path.join(directory, f"{sid}.wav"))


async def _set_terminators(call: Call, keys: str | None) -> None:
    """uuid_setvar over the call's own socket, as recorded (no app in the trace)."""
    value = "" if keys is None else f" {keys or 'none'}"
    reply = await call.api(f"uuid_setvar {call.uuid} playback_terminators{value}")
    if not reply.startswith("+OK"):
        log.warning("call %s: uuid_setvar playback_terminators: %s", call.sid, reply.strip())


async def _record(call: Call, verb: Record, path: str) -> tuple[Event | None, str]:
    """Run ``record``; its completion and the terminator key (if this record's)."""
    await _set_terminators(call, verb.finish_on_key)
    with call.listen() as events:
        done = await call.execute("record", record_arg(verb, path))
    pressed = set()
    while not events.empty():
        event = events.get_nowait()
        if event.name == "DTMF":
            pressed.add(event.field("DTMF-Digit") or "")
    used = done.field("variable_playback_terminator_used") if done is not None else None
    key = used if used and used in pressed and used in verb.finish_on_key else ""
    if not call.gone:
        await _set_terminators(call, None)
    return done, key


async def _duration(path: str, record_ms: int, trim: bool) -> int:
    """Seconds of audio kept (0 = empty); the switch's count if the file is not here."""
    try:
        seconds = await asyncio.to_thread(trim_silence if trim else wav_seconds, path)
    except (OSError, EOFError, wave.Error) as exc:
        log.warning("recording %s not readable here (%s): using record_ms", path, exc)
        seconds = record_ms / 1000
    return max(1, round(seconds)) if seconds > 0 else 0


async def run(call: Call, verb: Record) -> Outcome:
    if call.gone:
        return Hangup()
    sid = "RE" + uuidlib.uuid4().hex
    try:
        path = await asyncio.to_thread(_new_path, call.settings.recordings_dir, sid)
    except OSError as exc:
        log.error("call %s: Record skipped, recordings dir unusable: %s", call.sid, exc)
        return CONTINUE
    if any(c.isspace() for c in path):
        log.error("call %s: Record skipped: %r has a space", call.sid, path)
        return CONTINUE
    if verb.play_beep:
        beep = await call.execute("playback", BEEP)
        if beep is None or call.gone:
            return Hangup()
    done, key = await _record(call, verb, path)
    hung_up = call.gone
    if done is None:
        return Hangup()
    record_ms = int(done.field("variable_record_ms") or 0)
    seconds = await _duration(path, record_ms, verb.trim) if record_ms > 0 else 0
    if seconds == 0:
        await asyncio.to_thread(_remove, path)
        return Hangup() if hung_up else CONTINUE
    params = (
        ("RecordingUrl", f"{call.settings.public_url.rstrip('/')}/v1/recordings/{sid}"),
        ("RecordingSid", sid),
        ("RecordingDuration", str(seconds)),
        ("Digits", "hangup" if hung_up else key),
    )
    call.emit("record-finished", dict(params))
    action = call.resolve(verb.action) if verb.action else call.url
    if hung_up:
        await call.load(action, verb.method, params)
        return Hangup()
    return Fetch(action, verb.method, params)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def wav_seconds(path: str) -> float:
    with wave.open(path, "rb") as wav:
        return wav.getnframes() / float(wav.getframerate() or 8000)


def _loud(samples: array.array, start: int) -> bool:
    window = samples[start : start + WINDOW]
    return sum(abs(s) for s in window) > SILENCE_THRESHOLD * len(window)


def trim_silence(path: str) -> float:
    """Cut leading and trailing silent windows of a 16-bit mono WAV in place; the
    seconds left. Other formats are left as they are (only measured)."""
    with wave.open(path, "rb") as wav:
        params = wav.getparams()
        if params.sampwidth != 2 or params.nchannels != 1:
            return params.nframes / float(params.framerate or 8000)
        samples = array.array("h", wav.readframes(params.nframes))
    if sys.byteorder == "big":
        samples.byteswap()
    starts = range(0, len(samples), WINDOW)
    loud = [start for start in starts if _loud(samples, start)]
    kept = samples[loud[0] : loud[-1] + WINDOW] if loud else array.array("h")
    if len(kept) != len(samples):
        if sys.byteorder == "big":
            kept.byteswap()
        with wave.open(path + ".tmp", "wb") as out:
            out.setparams(params)
            out.writeframes(kept.tobytes())
        os.replace(path + ".tmp", path)
    return len(kept) / float(params.framerate or 8000)
