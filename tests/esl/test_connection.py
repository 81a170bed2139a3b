"""The socket loop against recorded switch traffic, replayed over real loopback sockets.

A small replayer plays the switch: for each command it receives it sends back the frames
the real switch sent after that command, with the recorded Event-UUIDs swapped for the
ones our client chose (same length, so every Content-Length still holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket

import pytest

from esl.connection import (
    InboundClient,
    OutboundSession,
    connect_with_backoff,
    serve_outbound,
)
from esl.errors import AuthenticationError, ConnectionClosed
from esl.protocol import CommandReader
from tests.captures import load

UUID = re.compile(rb"Event-UUID: ([0-9a-f-]{36})")


def replies_per_command(name: str) -> tuple[list[bytes], list[bytes], bytes]:
    """The recorded commands, what the switch sent after each, and what it sent first."""
    commands, after, before = [], [], b""
    for who, data in load(name).items:
        if who == "engine":
            commands.append(data)
            after.append(b"")
        elif after:
            after[-1] += data
        else:
            before += data
    return commands, after, before


async def replay(reader, writer, name: str) -> None:
    commands, after, before = replies_per_command(name)
    writer.write(before)
    parser = CommandReader()
    swap: dict[bytes, bytes] = {}
    for recorded, response in zip(commands, after, strict=True):
        while (command := parser.next_command()) is None:
            data = await reader.read(65536)
            if not data:
                return
            parser.feed(data)
        sent = command.get("Event-UUID")
        match = UUID.search(recorded)
        if sent and match:
            swap[match.group(1)] = sent.encode()
        for old, new in swap.items():
            response = response.replace(old, new)
        writer.write(response)
        await writer.drain()
    writer.close()


async def run_outbound(name: str, handler) -> None:
    server = await serve_outbound(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await asyncio.wait_for(replay(reader, writer, name), 10)
    finally:
        writer.close()
        server.close()


async def test_outbound_session_runs_the_recorded_call() -> None:
    seen: dict[str, object] = {}

    async def handler(session: OutboundSession) -> None:
        channel = await session.setup()
        seen["uuid"] = session.uuid
        seen["to"] = channel.get("Caller-Destination-Number")
        answer = await session.execute("answer")
        tone = await session.execute("playback", "tone_stream://%(300,0,440)")
        digits = await session.execute(
            "play_and_get_digits",
            "1 3 1 4000 # tone_stream://%(400,0,800) silence_stream://250 cs_digits \\d+ 2000",
        )
        await session.execute("set", "cs_test=hello world")
        seen["results"] = [
            answer.field("Application-Response"),
            tone.field("Application-Response"),
            digits.field("variable_cs_digits"),
        ]
        await session.hangup()
        await asyncio.wait_for(session.closed.wait(), 5)
        seen["disconnected"] = session.disconnected

    await run_outbound("outbound_basic.esl", handler)
    await asyncio.sleep(0.05)
    assert seen["uuid"] == "d658131f-7f1a-40ef-b653-436a11b52e09"
    assert seen["to"] == "9999"
    assert seen["results"] == ["_none_", "FILE PLAYED", "42"]
    assert seen["disconnected"] is True


async def test_caller_hangup_completes_the_running_app_and_later_executes_return_none() -> None:
    seen: dict[str, object] = {}

    async def handler(session: OutboundSession) -> None:
        await session.setup()
        await session.execute("answer")
        done = await session.execute("playback", "tone_stream://%(10000,0,440)")
        seen["response"] = done.field("Application-Response") if done else None
        await asyncio.wait_for(session.closed.wait(), 5)
        seen["after"] = await session.execute("playback", "x.wav")

    await run_outbound("outbound_caller_hangs_up.esl", handler)
    await asyncio.sleep(0.05)
    assert seen == {"response": "PLAYBACK ERROR", "after": None}


@contextlib.asynccontextmanager
async def switch(name: str):
    async def serve(reader, writer):
        await replay(reader, writer, name)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_inbound_client_auth_and_api() -> None:
    async with switch("inbound_session.esl") as port:
        client = await InboundClient.connect("127.0.0.1", port, "ClueCon")
        status = await client.api("status")
        assert status.ok and status.text.startswith("UP 0 years")
        missing = await client.api("uuid_getvar 00000000-0000-0000-0000-000000000000 foo")
        assert not missing.ok and missing.text == "-ERR No such channel!\n"
        await client.close()


async def test_bad_password_is_a_clear_error() -> None:
    async with switch("inbound_bad_password.esl") as port:
        with pytest.raises(AuthenticationError, match="refused the password"):
            await InboundClient.connect("127.0.0.1", port, "wrong-password")


async def test_switch_that_is_not_there() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(ConnectionClosed, match=f"cannot reach the switch at 127.0.0.1:{port}"):
        await InboundClient.connect("127.0.0.1", port, "ClueCon")



async def test_stopping_a_reconnect_loop_is_never_lost() -> None:
    """Cancelling ``connect_with_backoff`` ends it at whatever loop step the cancel lands.

    asyncio.wait_for on Python 3.11 drops a cancel that arrives in the step where the
    connection attempt fails: the refusal is then retried and the engine never stops.
    Each round cancels one step later, so the refusal's step is among them."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lost = []
    for steps in range(40):
        task = asyncio.create_task(connect_with_backoff("127.0.0.1", port, "x", first_delay=0.01))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1)
        if not done:
            lost.append(steps)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert lost == []

async def test_switch_going_away_fails_waiting_commands() -> None:
    async def serve(reader, writer):
        writer.write(b"Content-Type: auth/request\n\n")
        await reader.read(100)
        writer.write(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
        await reader.read(100)  # the api command, then we vanish
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    client = await InboundClient.connect("127.0.0.1", server.sockets[0].getsockname()[1], "x")
    with pytest.raises(ConnectionClosed):
        await client.api("status")
    server.close()
