"""``originate {vars}[vars]loopback/NUMBER[/CONTEXT] &app(arg)``, as mod_loopback runs it.

Two legs: A (``loopback/NUMBER-a``, outbound, the uuid originate returns) and B
(``loopback/NUMBER-b``, inbound), each other's ``other_loopback_leg_uuid``. The sandbox's
dialplan sends every B-leg to the engine, like ``socket ENGINE async full``; answering B
answers A first; hanging up either hangs up the other with the same cause. originate
returns ``+OK <uuid>`` once A is answered and its application has started, else
``-ERR <cause>``: the B-leg's hangup cause, or NO_ANSWER after ``originate_timeout``
(default 60 s, on the sandbox clock). An unreachable engine makes the socket application
return at once (mod_event_socket logs "Socket Error!"), so the B-leg's dialplan ends and it
hangs up NORMAL_CLEARING, hence ``-ERR NORMAL_CLEARING``. Any endpoint but loopback is
``-ERR CHAN_NOT_IMPLEMENTED`` with no channel events.
"""

from __future__ import annotations

import asyncio
import re
import uuid as uuidlib
from typing import TYPE_CHECKING

from sandbox.channel import Channel, ParkingApp

if TYPE_CHECKING:
    from sandbox.switch import Switch

_APP = re.compile(r"^&?([\w-]+)(?:\((.*)\))?$", re.S)


def parse_vars(text: str) -> tuple[list[tuple[str, str]], str]:
    """Strip leading ``{a=b,c=d}`` and ``[...]`` blocks; return their pairs and the rest."""
    pairs: list[tuple[str, str]] = []
    while text[:1] in ("{", "[", "<"):
        close = {"{": "}", "[": "]", "<": ">"}[text[0]]
        end = text.find(close)
        if end < 0:
            break
        for item in re.split(r"(?<!\\),", text[1:end]):
            name, sep, value = item.partition("=")
            if sep and name.strip():
                pairs.append((name.strip(), value.replace("\\,", ",").strip("'")))
        text = text[end + 1:]
    return pairs, text


def _make_legs(
    switch: Switch, number: str, pairs: list[tuple[str, str]]
) -> tuple[Channel, Channel]:
    values = dict(pairs)
    a_uuid = values.get("origination_uuid") or str(uuidlib.uuid4())
    cid_num = values.get("origination_caller_id_number", "0000000000")
    cid_name = values.get("origination_caller_id_name", "")
    a = switch.new_channel(a_uuid, "A", number, cid_num, cid_name)
    b = switch.new_channel(str(uuidlib.uuid4()), "B", number, cid_num, cid_name)
    a.partner, b.partner = b, a
    base = [("read_codec", "L16"), ("read_rate", "8000"), ("write_codec", "L16"),
            ("write_rate", "8000")]
    a.set_vars([("direction", "outbound"), ("is_outbound", "true"),
                ("session_id", str(a.session_id)), *base, ("channel_name", a.name),
                ("uuid", a.uuid), ("call_uuid", a.uuid), *pairs,
                ("originate_early_media", "true"), ("originate_endpoint", "loopback"),
                ("other_loopback_leg_uuid", b.uuid), ("loopback_leg", "A")])
    b.set_vars([("direction", "inbound"), ("uuid", b.uuid), ("call_uuid", b.uuid),
                ("session_id", str(b.session_id)), ("channel_name", b.name), *base, *pairs,
                ("other_loopback_leg_uuid", a.uuid), ("loopback_leg", "B")])
    return a, b


async def _route_b_leg(switch: Switch, b: Channel) -> None:
    """The dialplan: ``socket ENGINE async full`` on every B-leg."""
    host, port = switch.engine
    data = f"{host}:{port} async full"
    b.state, b.state_number, b.call_state = "CS_EXECUTE", 4, "RINGING"
    b.set_vars([("DP_MATCH", f"ARRAY::{b.number}|:{b.number}"), ("call_uuid", b.uuid),
                ("current_application_data", data), ("current_application", "socket")])
    b.parking = ParkingApp("socket", data)
    b.fire("CHANNEL_EXECUTE", [("Application", "socket"), ("Application-Data", data),
                               ("Application-UUID", b.parking.app_uuid)])
    b.set_var("socket_host", host)
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        app_uuid, b.parking = b.parking.app_uuid, None
        b.fire("CHANNEL_EXECUTE_COMPLETE", [
            ("Application", "socket"), ("Application-Data", data),
            ("Application-Response", "_none_"), ("Application-UUID", app_uuid)])
        b.hangup("NORMAL_CLEARING")
        return
    await switch.serve_outbound(b, reader, writer)


async def _start_a_app(a: Channel, app: str, arg: str) -> None:
    """What originate runs on the answered A-leg: park, or an app then hangup."""
    a.state, a.state_number = "CS_EXECUTE", 4
    if app == "park":
        a.parking = ParkingApp("park", "")
        a.set_vars([("call_uuid", a.uuid), ("current_application", "park")])
        a.fire("CHANNEL_EXECUTE", [("Application", "park"),
                                   ("Application-UUID", a.parking.app_uuid)])
        a.parked = True
        a.fire("CHANNEL_PARK")
        return

    async def run() -> None:
        await a.execute(app, arg, None, loops=False)
        a.hangup("NORMAL_CLEARING")

    a.spawn(run())


async def _await_answer(switch: Switch, a: Channel, timeout: float) -> str | None:
    """None once A is answered, else the cause it (or its B-leg) ended with."""
    answered = asyncio.ensure_future(a.answered.wait())
    down = asyncio.ensure_future(a.down.wait())
    done, pending = await asyncio.wait([answered, down], timeout=switch.clock.real(timeout),
                                       return_when=asyncio.FIRST_COMPLETED)
    for fut in pending:
        fut.cancel()
    if answered in done and a.is_up:
        return None
    if not done:
        a.hangup("NO_ANSWER")
        return "NO_ANSWER"
    return a.hangup_cause or "NORMAL_CLEARING"


async def originate(switch: Switch, arg: str) -> str:
    """The originate api command; returns its response text."""
    pairs, rest = parse_vars(arg.strip())
    dial, _, app_text = rest.partition(" ")
    parts = dial.split("/")
    if len(parts) < 2 or parts[0] != "loopback" or not parts[1]:
        return "-ERR CHAN_NOT_IMPLEMENTED\n"
    match = _APP.match(app_text.strip() or "&park()")
    app, app_arg = (match.group(1), match.group(2) or "") if match else ("park", "")
    a, b = _make_legs(switch, parts[1], pairs)
    a.fire("CHANNEL_CREATE")
    b.fire("CHANNEL_CREATE")
    a.state, a.state_number = "CS_CONSUME_MEDIA", 7
    b.spawn(_route_b_leg(switch, b))
    try:
        timeout = float(dict(pairs).get("originate_timeout", 60))
    except ValueError:
        timeout = 60.0
    cause = await _await_answer(switch, a, timeout)
    if cause is not None:
        return f"-ERR {cause}\n"
    await _start_a_app(a, app, app_arg)
    return f"+OK {a.uuid}\n"
