"""A sandbox serving many calls keeps nothing per finished call, except capped traces.

``callscript sandbox`` is a long-running process (dry runs, demos), so every structure it
fills per call must be emptied when the call ends: channels, connections and their
myevents index, conference rooms, background tasks; traces are kept for the most recent
calls only (``Switch.trace_limit``).
"""

from __future__ import annotations

import asyncio
import contextlib

from esl import protocol
from esl.protocol import Event, FrameReader
from sandbox import Sandbox
from sandbox.conference_room import rooms_of

CALLS = 300
BATCH = 25
APPS = {
    "plain": [("answer", ""), ("playback", "tone_stream://%(100,0,440)")],
    "bridge": [("answer", ""), ("bridge", "loopback/tone/default")],
    "conf": [("answer", ""), ("sched_hangup", "+1"), ("conference", "long-run@default")],
}


class ManyCallsEngine:
    """Serves every call the sandbox sends: runs the apps its number names, hangs up."""

    def __init__(self) -> None:
        self.finished = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = FrameReader()

        async def next_frame():
            while (frame := parser.next_frame()) is None:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("closed")
                parser.feed(data)
            return frame

        with contextlib.suppress(ConnectionError):
            writer.write(protocol.connect())
            number = (await next_frame()).get("Caller-Destination-Number") or ""
            writer.write(protocol.myevents() + protocol.linger())
            for app, arg in APPS[number.rstrip("0123456789")]:
                writer.write(protocol.execute(app, arg))
                while not (isinstance(frame := await next_frame(), Event)
                           and frame.name == "CHANNEL_EXECUTE_COMPLETE"):
                    pass
            writer.write(protocol.hangup())
            while True:
                await next_frame()
        writer.close()
        self.finished += 1


async def until(condition, seconds: float = 10.0) -> None:
    """Poll ``condition`` (the sandbox tears down over a few loop turns)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "the sandbox did not settle"
        await asyncio.sleep(0.01)


async def test_hundreds_of_calls_leave_nothing_behind() -> None:
    engine = ManyCallsEngine()
    sandbox = Sandbox("127.0.0.1:0", engine=await engine.start(), speed=1000)
    switch = sandbox.switch
    switch.trace_limit = 100
    await sandbox.start()
    try:
        kinds = list(APPS)
        for start in range(0, CALLS, BATCH):
            replies = await asyncio.gather(*(
                # originate_timeout: a loaded test machine is slow at speed 1000
                switch.api(f"originate {{originate_timeout=3600}}loopback/{kinds[i % 3]}{i}"
                           "/default &park()")
                for i in range(start, start + BATCH)))
            assert [r for r in replies if not r.startswith("+OK ")] == []
        await until(lambda: engine.finished == CALLS and not switch.channels
                    and not switch.connections and not switch._tasks)
        last = replies[-1].split()[1]
        assert switch._bound == {} and switch._unbound == set()
        assert rooms_of(switch) == {}
        assert switch.sessions > 2 * CALLS  # A and B legs, and the bridges' B-legs
        assert len(switch.traces) == 100  # the most recent calls' only
        assert sandbox.trace(last)[-1] == {"hangup": "ALLOTTED_TIMEOUT"}  # conf: sched_hangup
    finally:
        await sandbox.stop()
        engine.server.close()


async def test_traces_drop_the_oldest_first() -> None:
    sandbox = Sandbox("127.0.0.1:0", engine="127.0.0.1:9")
    switch = sandbox.switch
    switch.trace_limit = 3
    for n in range(5):
        switch.new_channel(f"uuid-{n}", "A", "100", "1000", "")
        switch.channels.clear()
    assert list(switch.traces) == ["uuid-2", "uuid-3", "uuid-4"]
    assert sandbox.trace("uuid-0") == []
