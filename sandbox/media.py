"""How long the sandbox pretends a sound lasts, from what FreeSWITCH's playback accepts.

``tone_stream://%(on,off,freq...)`` (segments add up, ``;loops=N`` repeats them, a
negative count loops until stopped), ``silence_stream://MS`` (0 or negative: forever),
``file_string://a!b!c`` (each in turn) and local files: a WAV's length comes from its
header; another existing file is taken as 8 kHz 16-bit mono, its size giving its length.
``None`` means the file does not exist, which playback reports as ``FILE NOT FOUND``.
"""

from __future__ import annotations

import math
import os
import re
import wave
from pathlib import Path

FOREVER = math.inf
_SEGMENT = re.compile(r"%\(([^)]*)\)")
_LOOPS = re.compile(r";\s*loops=(-?\d+)")


def tone_seconds(spec: str) -> float:
    total_ms = 0.0
    for segment in _SEGMENT.findall(spec):
        parts = [p.strip() for p in segment.split(",")]
        try:
            total_ms += float(parts[0]) + (float(parts[1]) if len(parts) > 1 else 0.0)
        except ValueError:
            continue
    loops_match = _LOOPS.search(spec)
    loops = int(loops_match.group(1)) if loops_match else 1
    if loops < 0:
        return FOREVER
    return total_ms * max(loops, 1) / 1000.0


def silence_seconds(spec: str) -> float:
    ms = spec.split(",", 1)[0].strip()
    try:
        value = float(ms)
    except ValueError:
        return 0.0
    return FOREVER if value <= 0 else value / 1000.0


def file_seconds(path: str) -> float | None:
    if not os.path.isfile(path):
        return None
    try:
        with wave.open(path, "rb") as wav:
            return wav.getnframes() / float(wav.getframerate() or 8000)
    except (wave.Error, EOFError, OSError):
        return os.path.getsize(path) / 16000.0


def duration(spec: str) -> float | None:
    """Seconds of simulated audio in ``spec``; None when a file is missing."""
    spec = spec.strip()
    if spec.startswith("file_string://"):
        total = 0.0
        for part in spec[len("file_string://"):].split("!"):
            seconds = duration(part)
            if seconds is None:
                return None
            total += seconds
        return total
    if spec.startswith("tone_stream://"):
        return tone_seconds(spec)
    if spec.startswith("silence_stream://"):
        return silence_seconds(spec[len("silence_stream://"):])
    if spec.startswith("file://"):
        spec = spec[len("file://"):]
    return file_seconds(spec)


def write_silence(path: str, seconds: float, rate: int = 8000) -> int:
    """Write ``seconds`` of 16-bit mono silence as a WAV; the frames written.

    The sandbox mixes no audio, but conference and session recordings must still be
    real files of the right length. A path that cannot be written is left alone (0):
    FreeSWITCH only logs a failed recording, the call goes on."""
    frames = int(max(seconds, 0.0) * rate)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with wave.open(path, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(b"\0\0" * frames)
    except OSError:
        return 0
    return frames
