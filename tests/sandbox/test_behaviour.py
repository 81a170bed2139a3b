"""Behaviour the engine relies on: digits, kills, breaks, the clock, failures."""

from __future__ import annotations

import asyncio
import contextlib

from esl import protocol
from esl.protocol import Event, FrameReader
from sandbox import Sandbox
from sandbox.clock import Clock


class ScriptedEngine:
    """Answers the sandbox's socket, runs ``apps`` in turn, records every frame."""

    def __init__(self, apps: list[tuple[str, str]], hangup: bool = True) -> None:
        self.apps, self.hangup = apps, hangup
        self.frames: list = []
        self.uuid = ""
        self.finished = asyncio.get_running_loop().create_future()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _next(self, reader: asyncio.StreamReader, parser: FrameReader):
        while True:
            frame = parser.next_frame()
            if frame is not None:
                self.frames.append(frame)
                return frame
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed")
            parser.feed(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = FrameReader()
        with contextlib.suppress(ConnectionError):
            writer.write(protocol.connect())
            self.uuid = (await self._next(reader, parser)).get("Unique-ID") or ""
            writer.write(protocol.myevents() + protocol.linger())
            for app, arg in self.apps:
                writer.write(protocol.execute(app, arg, event_uuid=f"app-{app}"))
                while True:
                    frame = await self._next(reader, parser)
                    if isinstance(frame, Event) and frame.name == "CHANNEL_EXECUTE_COMPLETE":
                        break
            if self.hangup:
                writer.write(protocol.hangup())
            while True:
                await self._next(reader, parser)
        self.finished.set_result(self.frames)

    async def started(self, app: str) -> None:
        """Until the sandbox has announced CHANNEL_EXECUTE of ``app``."""
        while not any(isinstance(f, Event) and f.name == "CHANNEL_EXECUTE"
                      and f.field("Application") == app for f in self.frames):
            await asyncio.sleep(0.001)

    def completions(self) -> list[Event]:
        return [f for f in self.frames
                if isinstance(f, Event) and f.name == "CHANNEL_EXECUTE_COMPLETE"]


async def start(apps: list[tuple[str, str]], speed: float = 1000, hangup: bool = True):
    engine = ScriptedEngine(apps, hangup)
    sandbox = Sandbox("127.0.0.1:0", engine=await engine.start(), speed=speed)
    await sandbox.start()
    return sandbox, engine


async def test_digits_reach_play_and_get_digits() -> None:
    sandbox, engine = await start([
        ("answer", ""),
        ("play_and_get_digits", "1 4 1 5000 # tone_stream://%(2000,0,440) "
                                "silence_stream://250 cs_pin \\d+ 3000")], speed=20)
    call = asyncio.ensure_future(sandbox.switch.api("originate loopback/100/default &park()"))
    await asyncio.wait_for(engine.started("play_and_get_digits"), 5)
    b_leg = engine.uuid
    reply = await sandbox.switch.api(f"uuid_recv_dtmf {b_leg} 123#")
    assert reply == f"+OK {b_leg} received DTMF 123#.\n"
    await asyncio.wait_for(engine.finished, 5)
    assert (await call).startswith("+OK ")
    done = engine.completions()[1]
    assert done.field("variable_cs_pin") == "123"
    assert done.field("variable_read_result") == "success"
    dtmf = [f.field("DTMF-Digit") for f in engine.frames
            if isinstance(f, Event) and f.name == "DTMF"]
    assert dtmf == ["1", "2", "3", "#"]
    assert sandbox.trace(b_leg)[1]["app"] == "play_and_get_digits"
    assert sandbox.trace(b_leg)[-1] == {"hangup": "NORMAL_CLEARING"}
    await sandbox.stop()


async def test_uuid_kill_mid_playback() -> None:
    sandbox, engine = await start([("answer", ""), ("playback", "tone_stream://%(60000,0,440)")],
                                  speed=1, hangup=False)
    call = asyncio.ensure_future(sandbox.switch.api("originate loopback/100/default &park()"))
    a_leg = (await asyncio.wait_for(call, 5)).split()[1]
    await asyncio.wait_for(engine.started("playback"), 5)
    assert await sandbox.switch.api(f"uuid_kill {a_leg}") == "+OK\n"
    await asyncio.wait_for(engine.finished, 5)
    names = [f.name if isinstance(f, Event) else f.content_type for f in engine.frames]
    hangup = names.index("CHANNEL_HANGUP")
    assert names[hangup + 1] == "text/disconnect-notice"
    playback = engine.completions()[1]
    assert playback.field("Application-Response") == "PLAYBACK ERROR"
    assert playback.field("Hangup-Cause") == "NORMAL_CLEARING"
    assert await sandbox.switch.api(f"uuid_exists {a_leg}") == "false"
    assert sandbox.trace(engine.uuid)[-1] == {"hangup": "NORMAL_CLEARING"}
    await sandbox.stop()


async def test_speed_scales_a_tone() -> None:
    """A 20 s tone at speed 10000 plays out in full (playback_ms 20000), in a blink.

    Nothing answers, so the originate's own timeout is raised from 60 simulated seconds
    (6 ms here, less than a loaded machine may take to play 20 s at this speed)."""
    sandbox, engine = await start([("playback", "tone_stream://%(1000,1000,440);loops=10")],
                                  speed=10000)
    asyncio.ensure_future(
        sandbox.switch.api("originate {originate_timeout=36000}loopback/100/default &park()"))
    await asyncio.wait_for(engine.finished, 5)
    done = engine.completions()[0]
    assert done.field("Application-Response") == "FILE PLAYED"
    assert done.field("variable_playback_ms") == "20000"
    assert Clock(250).real(10) == 0.04
    await sandbox.stop()


async def test_missing_file_and_unknown_app() -> None:
    sandbox, engine = await start([("playback", "/nonexistent/x.wav"), ("no_such_app", "")])
    asyncio.ensure_future(sandbox.switch.api("originate loopback/100/default &park()"))
    await asyncio.wait_for(engine.finished, 5)
    assert engine.completions()[0].field("Application-Response") == "FILE NOT FOUND"
    hangups = [f for f in engine.frames if isinstance(f, Event) and f.name == "CHANNEL_HANGUP"]
    assert hangups[0].field("Hangup-Cause") == "DESTINATION_OUT_OF_ORDER"
    await sandbox.stop()


async def test_engine_unreachable() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    sandbox = Sandbox("127.0.0.1:0", engine=f"127.0.0.1:{port}", speed=1000)
    await sandbox.start()
    result = await asyncio.wait_for(sandbox.switch.api("originate loopback/1/default &park()"), 5)
    assert result == "-ERR NORMAL_CLEARING\n"
    assert await sandbox.switch.api("show channels count") == "\n0 total.\n"
    await sandbox.stop()


async def test_api_texts() -> None:
    sandbox = Sandbox("127.0.0.1:0")
    await sandbox.start()
    api = sandbox.switch.api
    assert await api("uuid_kill 00000000-0000-4000-8000-00000000dead") == \
        "-ERR No such channel!\n"
    assert await api("uuid_getvar 00000000-0000-4000-8000-00000000dead foo") == \
        "-ERR No such channel!\n"
    assert await api("nosuchcommand") == "-ERR nosuchcommand Command not found!\n"
    assert await api("show calls as json") == '{"row_count": 0}\n'
    assert await api("originate nosuchendpoint/foo &park()") == "-ERR CHAN_NOT_IMPLEMENTED\n"
    assert (await api("status")).startswith("UP 0 years")
    await sandbox.stop()
