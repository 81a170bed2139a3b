"""Loader for the recorded FreeSWITCH sessions in shared/esl-captures/.

Format (the captures' README): a marker line ``#### engine->switch N bytes`` or
``#### switch->engine N bytes``, then exactly N bytes of the frame and one newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DIR = Path(__file__).resolve().parents[2] / "shared" / "esl-captures"
CAPTURES = sorted(p.name for p in DIR.glob("*.esl"))
_MARKER = re.compile(rb"#### (engine->switch|switch->engine) (\d+) bytes\n")


@dataclass(frozen=True)
class Session:
    name: str
    items: tuple[tuple[str, bytes], ...]  # ("switch"|"engine", frame bytes) in order

    @property
    def switch_frames(self) -> list[bytes]:
        return [data for who, data in self.items if who == "switch"]

    @property
    def engine_frames(self) -> list[bytes]:
        return [data for who, data in self.items if who == "engine"]

    @property
    def switch_bytes(self) -> bytes:
        return b"".join(self.switch_frames)

    @property
    def engine_bytes(self) -> bytes:
        return b"".join(self.engine_frames)


@cache
def load(name: str) -> Session:
    data = (DIR / name).read_bytes()
    items, pos = [], 0
    while pos < len(data):
        match = _MARKER.match(data, pos)
        if match is None:
            raise ValueError(f"{name}: no frame marker at byte {pos}")
        size = int(match.group(2))
        start = match.end()
        who = "engine" if match.group(1) == b"engine->switch" else "switch"
        items.append((who, data[start : start + size]))
        pos = start + size + 1
    return Session(name, tuple(items))
