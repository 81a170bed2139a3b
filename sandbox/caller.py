"""``callscript call``: place one simulated call on a switch and print what it ran.

It uses only real switch commands (DESIGN, "Simulated calls use real switch commands"),
so it works the same against the sandbox and against a real FreeSWITCH:
``originate {origination_caller_id_number=FROM}loopback/TO/default &park()``, then it
follows the ``-b`` leg (the one whose ``other_loopback_leg_uuid`` is the uuid originate
returned), which is the leg the dialplan hands to the engine. It presses digits with
``uuid_recv_dtmf`` when a ``play_and_get_digits`` or a ``record`` starts (one group
each), hangs up with ``uuid_kill``, and prints one JSON line per app run and a last
line with the hangup cause. ``sip_user`` makes the call look like one from a registered
SIP user: the channel carries ``sip_auth_username``, as a call authenticated by the
switch's directory does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import uuid4

from esl.connection import InboundClient
from esl.errors import ESLError
from esl.protocol import Event

EVENTS = (
    "CHANNEL_CREATE",
    "CHANNEL_ANSWER",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP_COMPLETE",
)

PRESS_ON = ("play_and_get_digits", "record")
"""Apps that take the caller's keys: each start presses the next ``--digits`` group."""


@dataclass
class CallResult:
    uuid: str = ""
    trace: list[dict[str, str]] = field(default_factory=list)
    hangup_cause: str | None = None
    error: str | None = None

    @property
    def ended(self) -> bool:
        return self.hangup_cause is not None

    @property
    def apps(self) -> list[str]:
        return [step["app"] for step in self.trace]


@dataclass
class _Follower:
    """Watches the events of one call and acts as its caller."""

    client: InboundClient
    a_uuid: str
    digits: list[str]
    out: Callable[[str], None]
    result: CallResult

    async def on_event(self, event: Event) -> bool:
        """Handle one event; True when the call has ended."""
        uuid = event.unique_id or ""
        if not self.result.uuid:
            if event.field("variable_other_loopback_leg_uuid") == self.a_uuid:
                self.result.uuid = uuid
            return False
        if uuid != self.result.uuid:
            return False
        app = event.field("Application") or ""
        if event.name == "CHANNEL_EXECUTE" and app in PRESS_ON and self.digits:
            keys = self.digits.pop(0)
            await self.client.api(f"uuid_recv_dtmf {uuid} {keys}")
        elif event.name == "CHANNEL_EXECUTE_COMPLETE" and app and app != "socket":
            step = {
                "app": app,
                "arg": event.field("Application-Data") or "",
                "response": event.field("Application-Response") or "",
            }
            self.result.trace.append(step)
            self.out(json.dumps(step))
        elif event.name == "CHANNEL_HANGUP_COMPLETE":
            self.result.hangup_cause = event.field("Hangup-Cause") or "UNKNOWN"
            self.out(json.dumps({"hangup": self.result.hangup_cause}))
            return True
        return False


async def place_call(
    switch: tuple[str, int],
    password: str,
    from_: str,
    to: str,
    digits: str = "",
    hangup_after: float | None = None,
    timeout: float = 60.0,
    out: Callable[[str], None] = print,
    ring_timeout: int = 60,
    sip_user: str | None = None,
) -> CallResult:
    """Run one call to its end (or ``timeout``).

    ``digits`` holds one group of keys per Gather or Record, comma-separated: "1,42#".
    ``ring_timeout`` is originate's own (switch seconds; the sandbox scales it)."""
    result = CallResult()
    client = await InboundClient.connect(switch[0], switch[1], password)
    try:
        await client.subscribe(EVENTS)
        a_uuid = str(uuid4())
        user = f"sip_auth_username={sip_user}," if sip_user else ""
        # In the background: a synchronous originate would only return once the call is
        # answered, and fails if the engine ends it unanswered.
        job = asyncio.create_task(
            client.bgapi(
                f"originate {{{user}origination_uuid={a_uuid},origination_caller_id_number={from_},"
                f"originate_timeout={ring_timeout}}}loopback/{to}/default &park()"
            )
        )
        groups = [group for group in digits.split(",") if group]
        follower = _Follower(client, a_uuid, groups, out, result)
        tasks = [asyncio.create_task(_follow(client, follower)), job]
        if hangup_after is not None:
            tasks.append(asyncio.create_task(_kill_after(client, result, a_uuid, hangup_after)))
        try:
            async with asyncio.timeout(timeout):
                await _until_done(tasks, result)
        except TimeoutError:
            result.error = f"the call did not end within {timeout:g} s"
            await _kill(client, result.uuid or a_uuid)
        finally:
            for task in tasks:
                task.cancel()
    finally:
        await client.close()
    return result


async def _until_done(tasks: list[asyncio.Task], result: CallResult) -> None:
    """Until the followed leg hangs up, or originate failed before any leg existed."""
    follow, job = tasks[0], tasks[1]
    await asyncio.wait([follow, job], return_when=asyncio.FIRST_COMPLETED)
    if job.done() and not follow.done():
        try:
            reply = job.result().payload.strip()
        except ESLError as exc:
            reply = str(exc)
        if not reply.startswith("+OK") and not result.uuid:
            result.error = f"originate failed: {reply}"
            return
    await follow


async def _follow(client: InboundClient, follower: _Follower) -> None:
    while True:
        event = await client.events.get()
        if await follower.on_event(event):
            return


async def _kill_after(client: InboundClient, result: CallResult, a_uuid: str, delay: float):
    await asyncio.sleep(delay)
    await _kill(client, result.uuid or a_uuid)


async def _kill(client: InboundClient, uuid: str) -> None:
    with contextlib.suppress(ESLError):
        await client.api(f"uuid_kill {uuid}")
