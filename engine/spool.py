"""The engine's disk spool: events waiting for Redis, kept in order across restarts.

Layout of ``--spool-dir`` (one directory per engine process):

- ``seg-<12 digits>.jsonl``: append-only segments, one compact JSON event per line. A new
  segment starts when the current one passes ``segment_bytes``; a segment is deleted
  once every line of it reached Redis.
- ``cursor``: ``<segment number> <byte offset>``, how far the oldest segment has been
  appended to Redis, replaced atomically (write + rename) after each chunk.
- ``rejected.jsonl``: lines that are not valid JSON (a torn write from a crash), kept for
  an operator rather than thrown away.

Durability: every append is written and flushed to the kernel at once, so a killed
engine (kill -9) loses nothing; ``fsync`` runs at most once per ``fsync_interval``
(1 s) and on close, so a power cut may lose the last second of spooled events. Delivery
to Redis is at least once: a crash between an XADD and the cursor update appends that
chunk again on restart; events carry their id, which the worker deduplicates on.

Bound: when the spool holds ``max_bytes`` (not yet in Redis), new events are refused,
not queued anywhere else: ``append`` returns how many it took and the caller logs the
refusal loudly (engine/events.py). Old events are never dropped to make room.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

PREFIX, SUFFIX = "seg-", ".jsonl"


def _number(path: Path) -> int:
    return int(path.name[len(PREFIX) : -len(SUFFIX)])


class Spool:
    """A bounded FIFO of JSON lines on disk; one writer (the event stream's task)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int = 512 * 1024 * 1024,
        segment_bytes: int = 8 * 1024 * 1024,
        fsync_interval: float = 1.0,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync_interval = fsync_interval
        self._writer: IO[bytes] | None = None
        self._synced = time.monotonic()
        self._segments = sorted(self.directory.glob(f"{PREFIX}*{SUFFIX}"), key=_number)
        self._cursor = self._read_cursor()
        self._repair_tail()
        self.size = sum(p.stat().st_size for p in self._segments) - self._cursor[1]

    @property
    def empty(self) -> bool:
        return self.size <= 0

    def _read_cursor(self) -> tuple[int, int]:
        """Where draining stopped; a cursor naming a deleted segment starts at the oldest."""
        try:
            number, offset = (self.directory / "cursor").read_text().split()
            cursor = int(number), int(offset)
        except (OSError, ValueError):
            cursor = (0, 0)
        if not self._segments or cursor[0] != _number(self._segments[0]):
            return (_number(self._segments[0]), 0) if self._segments else (0, 0)
        return cursor

    def _repair_tail(self) -> None:
        """A crash mid-write leaves a line without its newline: end it, so the next
        append starts a line of its own (the torn line goes to rejected.jsonl on drain)."""
        if not self._segments:
            return
        last = self._segments[-1]
        with last.open("rb+") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() and (handle.seek(-1, os.SEEK_END), handle.read(1))[1] != b"\n":
                handle.write(b"\n")

    def append(self, lines: list[str]) -> int:
        """Write lines in order until the cap; how many were taken (the rest refused)."""
        taken = 0
        for line in lines:
            data = line.encode() + b"\n"
            if self.size + len(data) > self.max_bytes:
                break
            writer = self._active_writer()
            writer.write(data)
            self.size += len(data)
            taken += 1
        if self._writer is not None:
            self._writer.flush()
            if time.monotonic() - self._synced >= self.fsync_interval:
                self.sync()
        return taken

    def _active_writer(self) -> IO[bytes]:
        if self._writer is not None and self._writer.tell() < self.segment_bytes:
            return self._writer
        self.close()
        number = _number(self._segments[-1]) + 1 if self._segments else 1
        path = self.directory / f"{PREFIX}{number:012d}{SUFFIX}"
        self._segments.append(path)
        if len(self._segments) == 1:
            self._cursor = (number, 0)
        self._writer = path.open("ab")
        return self._writer

    def peek(self, limit: int) -> tuple[list[str], int]:
        """Up to ``limit`` whole lines from the cursor, and the offset after them."""
        if self._writer is not None:
            self._writer.flush()
        while not self.empty:
            lines: list[str] = []
            offset = self._cursor[1]
            with self._segments[0].open("rb") as handle:
                handle.seek(offset)
                while len(lines) < limit:
                    raw = handle.readline()
                    if not raw.endswith(b"\n"):
                        break
                    offset += len(raw)
                    lines.append(raw[:-1].decode("utf-8", "replace"))
            if lines or len(self._segments) == 1:
                return lines, offset
            self.commit(offset)  # an older segment read to its end: on to the next
        return [], self._cursor[1]

    def commit(self, offset: int) -> None:
        """Everything before ``offset`` of the oldest segment is in Redis."""
        number, old = self._cursor
        self.size -= offset - old
        self._cursor = (number, offset)
        oldest = self._segments[0]
        if offset >= oldest.stat().st_size and (len(self._segments) > 1 or self.size <= 0):
            if len(self._segments) == 1:
                self.close()
            oldest.unlink()
            self._segments.pop(0)
            self._cursor = (_number(self._segments[0]), 0) if self._segments else (0, 0)
        self._write_cursor()

    def _write_cursor(self) -> None:
        tmp = self.directory / "cursor.tmp"
        tmp.write_text(f"{self._cursor[0]} {self._cursor[1]}")
        os.replace(tmp, self.directory / "cursor")

    def reject(self, line: str) -> None:
        """Keep an unreadable line for an operator instead of dropping it."""
        with (self.directory / "rejected.jsonl").open("a") as handle:
            handle.write(line + "\n")

    def sync(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            os.fsync(self._writer.fileno())
        self._synced = time.monotonic()

    def close(self) -> None:
        if self._writer is not None:
            self.sync()
            self._writer.close()
            self._writer = None


def valid(line: str) -> bool:
    """A spooled line worth appending: a JSON object (a torn line is not)."""
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
