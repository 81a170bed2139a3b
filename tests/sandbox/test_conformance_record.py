"""The sandbox's record, early-media and send_dtmf sessions against the recordings.

The recorded engine commands are replayed byte for byte, except the recording path
(``/rec/...`` on the recording machine), which points into this test's directory.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from esl.protocol import Event, Frame
from sandbox import Sandbox
from sandbox.record import set_caller_audio
from tests.sandbox.harness import FakeEngine, Recorded, compare, recorded_frames
from tests.sandbox.test_conformance_outbound import LOOSE as OUTBOUND_LOOSE
from tests.sandbox.test_conformance_outbound import ORIGINATE, event_index

# These sessions were recorded with a dialplan extension that sets no DP_MATCH.
LOOSE = OUTBOUND_LOOSE | {"variable_DP_MATCH"}


class Rewriting:
    """The replayed engine's writer: the recorded channel uuid (in ``api uuid_setvar``)
    becomes the sandbox channel's, known once ``connect`` has been answered."""

    def __init__(self, writer: asyncio.StreamWriter, engine: FakeEngine, recorded: str):
        self.writer, self.engine, self.recorded = writer, engine, recorded.encode()

    def write(self, data: bytes) -> None:
        self.writer.write(data.replace(self.recorded, self.engine.uuid.encode()))

    async def drain(self) -> None:
        await self.writer.drain()


class CaptureEngine(FakeEngine):
    async def _replay(self, reader, writer) -> None:  # noqa: ANN001 - the harness's types
        recorded = recorded_frames(self.name)[0].get("Unique-ID") or ""
        await super()._replay(reader, Rewriting(writer, self, recorded))


async def replay(name: str, tmp_path: Path, audio: str = "talk",
                 actions: dict[int, str] | None = None) -> list[Frame]:
    sandbox = Sandbox("127.0.0.1:0", speed=200)
    await sandbox.start()
    set_caller_audio(sandbox.switch, audio)
    engine = CaptureEngine(sandbox, name, actions)
    engine.name = name
    engine.recording = [
        frame if frame.from_switch
        else Recorded(False, frame.data.replace(b"/rec/", str(tmp_path).encode() + b"/"))
        for frame in engine.recording
    ]
    sandbox.set_engine(await engine.start())
    call = asyncio.ensure_future(sandbox.switch.api(ORIGINATE))
    try:
        return await asyncio.wait_for(engine.done, 15)
    finally:
        await engine.stop()
        await sandbox.stop()
        call.cancel()


def completion(frames: list[Frame], app: str) -> Event:
    return next(f for f in frames if isinstance(f, Event)
                and f.name == "CHANNEL_EXECUTE_COMPLETE" and f.field("Application") == app)


RECORD_VARS = ("variable_silence_hits_exhausted", "variable_playback_terminator_used",
               "variable_record_record_file_size", "variable_record_file_size",
               "variable_record_seconds", "variable_record_ms", "variable_record_samples")


def record_vars(event: Event) -> list[tuple[str, str]]:
    """The record variables in the order the event carries them."""
    return [(k, v) for k, v in event.fields if k in RECORD_VARS]


def linger_last(frames: list[Frame]) -> list[Frame]:
    """The linger notice moved after CHANNEL_HANGUP_COMPLETE.

    When nothing runs at hangup, the real switch sends the notice from another thread
    than the events: outbound_record.esl has it just before CHANNEL_HANGUP_COMPLETE,
    outbound_record_silence*.esl just after. The sandbox always sends it after."""
    notice = [f for f in frames if f.content_type == "text/disconnect-notice"]
    return [f for f in frames if f.content_type != "text/disconnect-notice"] + notice


async def test_record_ended_by_key(tmp_path: Path) -> None:
    name = "outbound_record"
    started = event_index(name, "CHANNEL_EXECUTE", "record")
    got = await replay(name, tmp_path, "none", {started: "uuid_recv_dtmf {uuid} #"})
    want = recorded_frames(name)
    compare(got, linger_last(want), LOOSE)
    assert record_vars(completion(got, "record")) == record_vars(completion(want, "record"))
    wav = tmp_path / "capture-record.wav"
    assert wav.stat().st_size == 44


async def test_record_ended_by_silence_without_audio(tmp_path: Path) -> None:
    name = "outbound_record_silence"
    got = await replay(name, tmp_path, "none")
    want = recorded_frames(name)
    compare(got, want, LOOSE)
    assert record_vars(completion(got, "record")) == record_vars(completion(want, "record"))
    assert (tmp_path / "silence.wav").stat().st_size == 44


async def test_record_ended_by_silent_audio(tmp_path: Path) -> None:
    name = "outbound_record_silence_stream"
    got = await replay(name, tmp_path, "silence")
    want = recorded_frames(name)
    compare(got, want, LOOSE)
    assert record_vars(completion(got, "record")) == record_vars(completion(want, "record"))
    path = tmp_path / "silence2.wav"
    assert path.stat().st_size == 31724
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
        assert wav.getnframes() == 15840


async def test_record_while_talking_runs_to_the_limit(tmp_path: Path) -> None:
    """Same session with a caller who talks: no silence, so the 20 s limit ends it."""
    got = await replay("outbound_record_silence", tmp_path, "talk")
    done = completion(got, "record")
    assert done.field("variable_silence_hits_exhausted") == "false"
    assert done.field("variable_record_ms") == "20000"
    assert done.field("variable_record_file_size") == str(44 + 2 * 160000)
    with wave.open(str(tmp_path / "silence.wav")) as wav:
        assert wav.getnframes() == 160000


@pytest.mark.parametrize("name", ["outbound_early_media", "outbound_send_dtmf"])
async def test_early_media_and_send_dtmf(name: str, tmp_path: Path) -> None:
    got = await replay(name, tmp_path)
    # The sandbox's CDR (sandbox/channel.py) does not write these two stamps yet.
    compare(got, recorded_frames(name),
            LOOSE | {"variable_progress_stamp", "variable_progress_media_stamp"})
    states = [(f.name, f.field("Answer-State"), f.field("Channel-Call-State"))
              for f in got if isinstance(f, Event)]
    want = [(f.name, f.field("Answer-State"), f.field("Channel-Call-State"))
            for f in recorded_frames(name) if isinstance(f, Event)]
    assert states == want
