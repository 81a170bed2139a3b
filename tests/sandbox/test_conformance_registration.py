"""The sandbox's mod_sofia registrations against inbound_registration.esl: a phone
registered with the recording's values gives the recorded events, and the recorded
commands get the recorded answers, byte for byte but for the expiry's clock."""

from __future__ import annotations

import asyncio
import re

from esl.protocol import Event, Frame, FrameReader
from sandbox import Sandbox
from sandbox.sofia import register, sofia_of
from tests.sandbox.harness import compare, recorded_frames, recording

NAME = "inbound_registration"
CORE = 14  # Event-Subclass, then the 13 headers of events.core()
EXPIRY = re.compile(rb"(EXP|exp)\([^)]*\) (EXPSECS|expsecs)\((\d+)\)")


def alice(sandbox: Sandbox) -> None:
    """The recording's phone: sipp as alice from 127.0.0.1:5096, directory variables."""
    register(sandbox.switch, "alice", "127.0.0.1", ip="127.0.0.1", port=5096, agent="sipp",
             expires=120, call_id="1-23398@127.0.0.1",
             variables={"user_context": "default", "callscript_account": "AC1"})


async def replay(sandbox: Sandbox) -> list[Frame]:
    """Send the recorded commands, each once the frames recorded before it arrived; the
    phone registers when the subscription is acknowledged (the recording's third frame)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sandbox.port)
    parser, got, seen = FrameReader(), [], 0
    for frame in recording(NAME):
        if frame.from_switch:
            seen += 1
            while len(got) < seen:
                data = await asyncio.wait_for(reader.read(65536), 5)
                assert data, f"closed after {len(got)} frames"
                parser.feed(data)
                got.extend(parser)
                if len(got) == 3 and seen == 3:
                    alice(sandbox)
        else:
            writer.write(frame.data)
            await writer.drain()
    writer.close()
    return got


def _expiry_free(body: bytes) -> bytes:
    return EXPIRY.sub(rb"\1(T) \2(S)", body)


async def test_registration_session() -> None:
    sandbox = Sandbox("127.0.0.1:0")
    await sandbox.start()
    try:
        got = await replay(sandbox)
    finally:
        await sandbox.stop()
    want = recorded_frames(NAME)
    compare(got, want)
    for mine, theirs in zip(got, want, strict=True):
        if isinstance(mine, Event):
            assert mine.field("Event-Subclass") == theirs.field("Event-Subclass")
            if mine.field("Event-Subclass") != "sofia::expire":  # its expires is a time
                assert mine.fields[CORE:] == theirs.fields[CORE:]
        elif mine.content_type == "api/response":
            assert _expiry_free(mine.body) == _expiry_free(theirs.body)
    listed = [f for f in got if f.content_type == "api/response" and EXPIRY.search(f.body)]
    assert len(listed) == 2
    for frame in listed:
        secs = int(EXPIRY.search(frame.body).group(3))
        assert 0 < secs <= 180  # expires 120 + mod_sofia's 60 s late margin


async def test_expire_event_and_flush_leave_nothing() -> None:
    sandbox = Sandbox("127.0.0.1:0")
    await sandbox.start()
    try:
        got = await replay(sandbox)
        expire = [f for f in got if isinstance(f, Event)][-1]
        assert expire.field("Event-Subclass") == "sofia::expire"
        recorded = [f for f in recorded_frames(NAME) if isinstance(f, Event)][-1]
        assert [k for k, _ in expire.fields] == [k for k, _ in recorded.fields]
        assert expire.field("contact") == recorded.field("contact")
        assert sofia_of(sandbox.switch).registrations == {}
        assert await sandbox.switch.api("sofia_contact */alice@127.0.0.1") == (
            "error/user_not_registered")
    finally:
        await sandbox.stop()


async def test_several_registrations_and_narrowing() -> None:
    sandbox = Sandbox("127.0.0.1:0")
    await sandbox.start()
    try:
        switch = sandbox.switch
        register(switch, "bob", port=5070, call_id="b1")
        register(switch, "bob", port=5071, call_id="b2")
        register(switch, "carol", port=5072, call_id="c1")
        assert await switch.api("sofia_contact */bob@127.0.0.1") == (
            "sofia/internal/sip:bob@127.0.0.1:5070,sofia/internal/sip:bob@127.0.0.1:5071")
        text = await switch.api("sofia status profile internal reg")
        assert "Total items returned: 3\n" in text
        narrowed = await switch.api("sofia xmlstatus profile internal reg 5072")
        assert narrowed.count("<registration>") == 1 and "carol@127.0.0.1" in narrowed
        answer = await switch.api("sofia profile internal flush_inbound_reg b1")
        assert answer == "+OK flushing all registrations matching specified call_id\n"
        assert set(sofia_of(switch).registrations) == {"b2", "c1"}
        assert await switch.api("sofia profile internal flush_inbound_reg") == (
            "+OK flushing all registrations\n")
        empty = await switch.api("sofia xmlstatus profile internal reg")
        assert empty.endswith("<profile>\n  <registrations>\n  </registrations>\n</profile>\n")
    finally:
        await sandbox.stop()


async def test_profile_down_and_bad_syntax_answer_as_mod_sofia() -> None:
    sandbox = Sandbox("127.0.0.1:0")
    await sandbox.start()
    try:
        switch = sandbox.switch
        assert await switch.api("sofia xmlstatus profile external reg") == "Invalid Profile!\n"
        assert await switch.api("sofia status") == "Invalid Syntax!\n"
        assert await switch.api("sofia profile nope flush_inbound_reg x") == (
            "Invalid Profile [nope]")
        sofia_of(switch).profiles.clear()
        assert await switch.api("sofia xmlstatus profile internal reg") == "Invalid Profile!\n"
        assert (await switch.api("sofia gateway list")).startswith("-ERR")
    finally:
        await sandbox.stop()
