"""Drive the sandbox over real sockets with the commands of a recorded session.

``FakeEngine`` accepts the sandbox's outbound connection and replays the recorded
engine->switch frames, each sent once as many frames have arrived as the recording shows
before it. ``actions`` run api commands (as another client would) after a given recorded
frame arrives: that is how the recordings' DTMF, uuid_break and far-end hangups happen.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import unquote

from esl.encode import url_encode
from esl.protocol import Event, Frame, FrameReader
from sandbox import Sandbox
from tests import captures

TIMEOUT = 10.0


@dataclass(frozen=True)
class Recorded:
    """One recorded frame (tests/captures.py keeps them as ("switch"|"engine", bytes))."""

    from_switch: bool
    data: bytes


def recording(name: str) -> list[Recorded]:
    session = captures.load(name if name.endswith(".esl") else f"{name}.esl")
    return [Recorded(who == "switch", data) for who, data in session.items]


class FakeEngine:
    """An engine stand-in replaying one recorded outbound session."""

    def __init__(self, sandbox: Sandbox, name: str, actions: dict[int, str] | None = None):
        self.sandbox = sandbox
        self.recording = recording(name)
        self.actions = actions or {}
        self.frames: list[Frame] = []
        self.raw: list[bytes] = []
        self.done = asyncio.get_running_loop().create_future()
        self.uuid = ""
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._replay(reader, writer)
            await self._drain(reader, FrameReader())
            self.done.set_result(self.frames)
        except Exception as exc:  # noqa: BLE001 - reported through the future
            if not self.done.done():
                self.done.set_exception(exc)
        finally:
            writer.close()

    async def _replay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser, seen = FrameReader(), 0
        for frame in self.recording:
            if frame.from_switch:
                seen += 1
                await self._until(reader, parser, seen)
                action = self.actions.get(seen - 1)
                if action:
                    await self.sandbox.switch.api(action.format(uuid=self.uuid))
                continue
            writer.write(frame.data)
            await writer.drain()

    async def _until(self, reader: asyncio.StreamReader, parser: FrameReader, count: int) -> None:
        while len(self.frames) < count:
            data = await asyncio.wait_for(reader.read(65536), TIMEOUT)
            if not data:
                raise AssertionError(f"closed after {len(self.frames)} frames, wanted {count}")
            self._feed(parser, data)

    async def _drain(self, reader: asyncio.StreamReader, parser: FrameReader) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError):
            while data := await asyncio.wait_for(reader.read(65536), 2.0):
                self._feed(parser, data)

    def _feed(self, parser: FrameReader, data: bytes) -> None:
        parser.feed(data)
        for frame in parser:
            self.frames.append(frame)
            if not self.uuid and frame.get("Unique-ID"):
                self.uuid = frame.get("Unique-ID") or ""


# ---- comparing with the recording ---------------------------------------------------


def recorded_frames(name: str) -> list[Frame]:
    parser = FrameReader()
    for frame in recording(name):
        if frame.from_switch:
            parser.feed(frame.data)
    return list(parser)


def shape(frame: Frame) -> tuple[str, str]:
    """What must match exactly: the frame type and its Event-Name or reply text."""
    if isinstance(frame, Event):
        return frame.content_type, frame.name
    if frame.content_type == "command/reply":
        text = frame.get("Reply-Text") or ""
        return frame.content_type, text.split(" Job-UUID")[0]
    if frame.content_type == "api/response":
        return frame.content_type, frame.body.decode().split(" ")[0]
    return frame.content_type, frame.get("Content-Disposition") or ""


def names(frame: Frame) -> set[str]:
    if isinstance(frame, Event):
        return {key for key, _ in frame.fields}
    return {key for key, _ in frame.headers}


def check_encoding(frame: Frame) -> None:
    """Every event-plain value is percent-encoded exactly as FreeSWITCH would."""
    if frame.content_type != "text/event-plain":
        return
    head = frame.body.split(b"\n\n", 1)[0].decode()
    for line in head.split("\n"):
        _, _, raw = line.partition(": ")
        assert raw == url_encode(unquote(raw)), line


def check_lengths(frame: Frame) -> None:
    length = frame.get("Content-Length")
    assert int(length or 0) == len(frame.body)
    if isinstance(frame, Event) and frame.content_type == "text/event-plain" and frame.payload:
        assert frame.field("Content-Length") == str(len(frame.payload.encode()))


def compare(got: list[Frame], want: list[Frame], loose: set[str] = frozenset()) -> None:
    """Same frame sequence, same reply texts, same header names (``loose`` aside)."""
    assert [shape(f) for f in got] == [shape(f) for f in want]
    for index, (mine, theirs) in enumerate(zip(got, want, strict=True)):
        check_encoding(mine)
        check_lengths(mine)
        missing = {n for n in names(theirs) - names(mine) if n not in loose}
        extra = {n for n in names(mine) - names(theirs) if n not in loose}
        assert not missing and not extra, (index, shape(theirs), missing, extra)
