"""Inbound ESL against inbound_bad_password.esl and inbound_session.esl."""

from __future__ import annotations

import asyncio
import contextlib

from esl.protocol import DisconnectNotice, Frame, FrameReader
from sandbox import Sandbox
from tests.sandbox.harness import compare, recorded_frames, recording


async def holding_engine() -> tuple[asyncio.Server, str]:
    """An engine that takes the call's socket and does nothing, so the call just rings."""
    held: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(ConnectionError):
            await reader.read()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def replay_inbound(name: str, sandbox: Sandbox, drop: tuple[str, ...] = ()) -> tuple:
    """Send the recorded client commands, each after the frames recorded before it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sandbox.port)
    parser, got, seen, want = FrameReader(), [], 0, []
    skip_next = False
    for frame in recording(name):
        if frame.from_switch:
            if skip_next:
                skip_next = False
                continue
            seen += 1
            want.append(frame.data)
            while len(got) < seen:
                data = await asyncio.wait_for(reader.read(65536), 5)
                assert data, f"closed after {len(got)} frames"
                parser.feed(data)
                got.extend(parser)
        elif frame.data.decode().startswith(drop):
            skip_next = True
        else:
            writer.write(frame.data)
            await writer.drain()
    with contextlib.suppress(TimeoutError):
        while data := await asyncio.wait_for(reader.read(65536), 0.5):
            parser.feed(data)
            got.extend(parser)
    writer.close()
    wanted = FrameReader()
    for data in want:
        wanted.feed(data)
    return got, list(wanted)


async def test_bad_password() -> None:
    sandbox = Sandbox("127.0.0.1:0")
    await sandbox.start()
    try:
        got, want = await replay_inbound("inbound_bad_password", sandbox)
    finally:
        await sandbox.stop()
    compare(got, recorded_frames("inbound_bad_password"))
    assert got[-1].body == want[-1].body


async def test_inbound_session() -> None:
    server, engine = await holding_engine()
    sandbox = Sandbox("127.0.0.1:0", engine=engine, speed=100)
    await sandbox.start()
    try:
        # The recorded switch had no core database ("-ERR SQL disabled"); the sandbox
        # answers like the one of inbound_call_control.esl, so that exchange is left out.
        got, want = await replay_inbound("inbound_session", sandbox,
                                         drop=("api show channels as json",))
    finally:
        await sandbox.stop()
        server.close()
    # FreeSWITCH sends the goodbye notice after "+OK bye" (inbound_call_control.esl);
    # this recording stopped before it.
    assert isinstance(got[-1], DisconnectNotice)
    compare(got[:-1], want, loose=_status_free())
    assert [f.body for f in got if _is_api(f)][2:] == [f.body for f in want if _is_api(f)][2:]


def _is_api(frame: Frame) -> bool:
    return frame.content_type == "api/response"


def _status_free() -> set[str]:
    return {"variable_origination_caller_id_number"}
