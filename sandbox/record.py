"""The ``record`` application as FreeSWITCH 1.10 runs it, with a simulated caller's audio.

``record PATH [LIMIT_SECONDS] [THRESHOLD] [SILENCE_SECONDS]`` writes an 8 kHz 16-bit mono
WAV and ends on the first of: LIMIT (0 = none), a DTMF key in ``playback_terminators``
(unset means ``*``, ``none`` means no key; the key goes in ``playback_terminator_used``),
SILENCE_SECONDS of silence when THRESHOLD is not 0 (0 seconds means FreeSWITCH's 3; sets
``silence_hits_exhausted: true``), a hangup or ``uuid_break``. The completion variables are
those of esl-captures/outbound_record*.esl, in their order: ``silence_hits_exhausted``,
``playback_terminator_used``, ``record_record_file_size``, ``record_file_size`` (44 +
2 per sample), ``record_seconds`` (whole), ``record_ms``, ``record_samples``. Audio comes
in 20 ms frames; a silence ending drops its last frame (2 s of silence records 1980 ms,
outbound_record_silence_stream.esl).

What the caller sends is the one thing a switch cannot know, so it is a setting, per
switch (``set_caller_audio``) or per call (the channel variable ``sandbox_caller_audio``
on either leg, e.g. an originate ``{sandbox_caller_audio=silence}``):

- ``talk`` (the default): the caller speaks all along (a 440 Hz tone stands for the
  voice), so only the limit, a key or a hangup ends the recording;
- ``silence``: silent audio frames (outbound_record_silence_stream.esl);
- ``none``: no audio at all, a header-only WAV of 44 bytes with ``record_ms: 0`` that
  still ends on silence (outbound_record_silence.esl, what a parked real leg sends);
- a timeline such as ``silence:1,talk:2``: each part lasts that many seconds (the last
  may be open-ended), and silence follows the end of a finite timeline.

Deviation, deliberate: a real loopback leg parked with ``&park()`` sends no audio, so on
a real FreeSWITCH ``callscript call`` records header-only files; the sandbox's default
pretends the caller talks, because that is what a dry run of a Record is for. A
directory that does not exist fails the app at once with no variables set, as the switch
fails to open the file.
"""

from __future__ import annotations

import array
import asyncio
import functools
import math
import os
import sys
import wave
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox import media
from sandbox.channel import Channel

if TYPE_CHECKING:
    from sandbox.switch import Switch

RATE = 8000
FRAME = 160
"""Samples per 20 ms frame."""
VARIABLE = "sandbox_caller_audio"
DEFAULT_AUDIO = "talk"
_SETTINGS: weakref.WeakKeyDictionary[Switch, str] = weakref.WeakKeyDictionary()


def set_caller_audio(switch: Switch, spec: str) -> None:
    """What every caller of ``switch`` sends while recorded (see the module docstring)."""
    timeline(spec)
    _SETTINGS[switch] = spec


@dataclass(frozen=True)
class Part:
    talking: bool
    seconds: float


def timeline(spec: str) -> list[Part] | None:
    """The parts of a caller-audio spec; None for ``none`` (no frames at all)."""
    spec = spec.strip().lower()
    if spec == "none":
        return None
    parts = []
    for item in spec.split(","):
        kind, _, length = item.strip().partition(":")
        if kind not in ("talk", "silence"):
            raise ValueError(f"caller audio: talk, silence or none, not {item!r}")
        parts.append(Part(kind == "talk", float(length) if length else math.inf))
    return parts


def _audio_of(ch: Channel) -> list[Part] | None:
    for leg in (ch, ch.partner):
        if leg is not None and leg.variables.get(VARIABLE):
            try:
                return timeline(leg.variables[VARIABLE])
            except ValueError:
                break
    return timeline(_SETTINGS.get(ch.switch, DEFAULT_AUDIO))


def talking_at(parts: list[Part], t: float) -> bool:
    start = 0.0
    for part in parts:
        if t < start + part.seconds:
            return part.talking
        start += part.seconds
    return False


def silence_end(parts: list[Part] | None, hits: float) -> float:
    """When ``hits`` seconds of continuous silence have passed (inf if never)."""
    if parts is None:
        return hits
    quiet_since, start = 0.0, 0.0
    for part in parts:
        if part.talking:
            quiet_since = start + part.seconds
        elif start + part.seconds - quiet_since >= hits:
            return quiet_since + hits
        start += part.seconds
    return quiet_since + hits


def _params(arg: str) -> tuple[str, float, float, float]:
    words = arg.split()
    number = lambda i: float(words[i]) if len(words) > i and words[i].isdigit() else 0.0  # noqa: E731
    path = words[0] if words else ""
    thresh, hits = number(2), number(3)
    limit = number(1) or math.inf
    silence = (hits or 3.0) if thresh else math.inf
    return path, limit, silence, thresh


async def _listen(ch: Channel, seconds: float, keys: str) -> tuple[str, str]:
    """Wait up to ``seconds`` of simulated time: ('time'|'key'|'break', key)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ch.switch.clock.real(seconds) if not math.isinf(seconds) else None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - loop.time())
        getter = asyncio.ensure_future(ch.dtmf.get())
        stop = asyncio.ensure_future(ch.interrupt.wait())
        done, _ = await asyncio.wait({getter, stop}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        getter.cancel()
        stop.cancel()
        if getter in done and not getter.cancelled():
            digit = getter.result()
            if digit in keys:
                return "key", digit
            continue
        return ("break", "") if stop in done else ("time", "")


def _terminators(ch: Channel) -> str:
    value = ch.variables.get("playback_terminators")
    if value is None:
        return "*"
    return "" if value.lower() == "none" else value


async def record(ch: Channel, arg: str) -> str | None:
    path, limit, silence, _ = _params(arg)
    if not path or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        return None
    parts = _audio_of(ch)
    ends = min(limit, silence_end(parts, silence))
    while not ch.dtmf.empty():
        ch.dtmf.get_nowait()
    ch.collecting = True
    started = asyncio.get_running_loop().time()
    try:
        kind, key = await _listen(ch, ends, _terminators(ch))
    finally:
        ch.collecting = False
    if kind == "time":
        seconds = ends
    else:
        elapsed = (asyncio.get_running_loop().time() - started) * ch.switch.clock.speed
        seconds = min(elapsed, ends)
    by_silence = kind == "time" and ends < limit
    frames = int(seconds * 50 + 1e-9) - (1 if by_silence else 0)
    samples = 0 if parts is None else max(frames, 0) * FRAME
    await asyncio.to_thread(write_wav, path, parts, samples)
    ch.set_var("silence_hits_exhausted", "true" if by_silence else "false")
    if key:
        ch.set_var("playback_terminator_used", key)
    size = str(44 + 2 * samples)
    ch.set_vars([("record_record_file_size", size), ("record_file_size", size),
                 ("record_seconds", str(samples // RATE)), ("record_ms", str(samples // 8)),
                 ("record_samples", str(samples))])
    return None


@functools.cache
def _frame(talking: bool, index: int) -> bytes:
    """One 20 ms frame as WAV bytes; 440 Hz repeats every 50 frames, hence the cache."""
    if not talking:
        return bytes(2 * FRAME)
    start = (index % 50) * FRAME
    frame = array.array("h", (int(4000 * math.sin(2 * math.pi * 440 * (start + n) / RATE))
                              for n in range(FRAME)))
    if sys.byteorder == "big":
        frame.byteswap()
    return frame.tobytes()


def write_wav(path: str, parts: list[Part] | None, samples: int) -> None:
    """The recording: a tone where the caller talks, zeros where silent."""
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for index in range(samples // FRAME):
            out.writeframes(_frame(talking_at(parts or [], index / 50), index % 50))


# ---- record_session (Bridge's record attribute) -------------------------------------

_SESSIONS: dict[tuple[str, str], float] = {}
"""Running ``record_session``s by (channel uuid, path): when each started. An entry lives
only until ``stop_record_session`` or the channel's hangup, so none outlives its call."""


async def record_session(ch: Channel, arg: str) -> str | None:
    """Start recording the channel into ``arg``; the WAV is written when it stops."""
    path = arg.strip()
    if path:
        _SESSIONS[(ch.uuid, path)] = asyncio.get_running_loop().time()
        ch.spawn(_stop_at_hangup(ch, path))
    return None


async def stop_record_session(ch: Channel, arg: str) -> str | None:
    _write_session(ch, arg.strip())
    return None


async def _stop_at_hangup(ch: Channel, path: str) -> None:
    await ch.down.wait()
    _write_session(ch, path)


def _write_session(ch: Channel, path: str) -> None:
    """Silence as long as the (simulated) recording lasted: the sandbox mixes no audio."""
    started = _SESSIONS.pop((ch.uuid, path), None)
    if started is not None:
        seconds = (asyncio.get_running_loop().time() - started) * ch.switch.clock.speed
        media.write_silence(path, seconds)
