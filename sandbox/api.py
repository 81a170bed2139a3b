"""The ``api`` commands the sandbox implements, with mod_commands' reply texts.

Texts and trailing newlines are those of inbound_session.esl, inbound_call_control.esl
and inbound_originate_outcomes.esl (``uuid_getvar`` and ``uuid_exists`` answer without a
newline, ``+OK`` replies end with one). ``show calls as json`` answers as the recorded
switch with its core database on. ``sofia`` and ``sofia_contact`` (registrations) are in
sandbox/sofia.py.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from sandbox.conference_api import conference_api
from sandbox.originate import originate
from sandbox.sofia import sofia_api, sofia_contact

if TYPE_CHECKING:
    from sandbox.channel import Channel
    from sandbox.switch import Switch

NO_CHANNEL = "-ERR No such channel!\n"


def _status(switch: Switch, arg: str) -> str:
    up = time.time() - switch.started
    days, rest = divmod(int(up), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    ms = int((up - int(up)) * 1000)
    count = len(switch.channels)
    return (
        f"UP 0 years, {days} days, {hours} hours, {minutes} minutes, {seconds} seconds, "
        f"{ms} milliseconds, 0 microseconds\n"
        "FreeSWITCH (Version 1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit) is ready\n"
        f"{switch.sessions} session(s) since startup\n"
        f"{count} session(s) - peak {switch.peak}, last 5min {count} \n"
        "0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n"
        "1000 session(s) max\nmin idle cpu 0.00/100.00\nCurrent Stack Size/Max 240K/8192K\n"
    )


def _channel(switch: Switch, arg: str) -> tuple[Channel | None, list[str]]:
    words = arg.split()
    if not words:
        return None, []
    return switch.channels.get(words[0]), words[1:]


def _uuid_exists(switch: Switch, arg: str) -> str:
    return "true" if _channel(switch, arg)[0] is not None else "false"


def _uuid_kill(switch: Switch, arg: str) -> str:
    channel, rest = _channel(switch, arg)
    if channel is None:
        return NO_CHANNEL
    channel.hangup(rest[0] if rest else "NORMAL_CLEARING")
    return "+OK\n"


def _uuid_break(switch: Switch, arg: str) -> str:
    channel, _ = _channel(switch, arg)
    if channel is None:
        return NO_CHANNEL
    channel.break_app()
    return "+OK\n"


def _uuid_recv_dtmf(switch: Switch, arg: str) -> str:
    channel, rest = _channel(switch, arg)
    if channel is None or not rest:
        return NO_CHANNEL
    channel.receive_dtmf(rest[0])
    return f"+OK {channel.uuid} received DTMF {rest[0]}.\n"


def _uuid_send_dtmf(switch: Switch, arg: str) -> str:
    channel, rest = _channel(switch, arg)
    if channel is None or not rest:
        return NO_CHANNEL
    return f"+OK {channel.uuid} sent DTMF {rest[0]}.\n"


def _uuid_getvar(switch: Switch, arg: str) -> str:
    channel, rest = _channel(switch, arg)
    if channel is None:
        return NO_CHANNEL
    if not rest:
        return "-USAGE: <uuid> <var>\n"
    return channel.variables.get(rest[0], "_undef_")


def _uuid_setvar(switch: Switch, arg: str) -> str:
    words = arg.split(" ", 2)
    channel = switch.channels.get(words[0]) if words else None
    if channel is None:
        return NO_CHANNEL
    if len(words) < 2:
        return "-USAGE: <uuid> <var> [value]\n"
    channel.set_var(words[1], words[2] if len(words) > 2 else None)
    return "+OK\n"


def _call_row(ch: Channel) -> dict[str, str]:
    created = ch.created_us // 10**6
    row = {"uuid": ch.uuid, "direction": ch.direction,
           "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created)),
           "created_epoch": str(created), "name": ch.name, "state": ch.state,
           "cid_name": ch.profile.get("Caller-ID-Name", ""),
           "cid_num": ch.profile.get("Caller-ID-Number", ""), "ip_addr": "",
           "dest": ch.number, "presence_id": "", "presence_data": "", "accountcode": "",
           "callstate": ch.call_state, "callee_name": "", "callee_num": "",
           "callee_direction": "", "call_uuid": ch.uuid if ch.leg == "A" else "",
           "hostname": "fs", "sent_callee_name": "", "sent_callee_num": ""}
    for key in ("uuid", "direction", "created", "created_epoch", "name", "state", "cid_name",
                "cid_num", "ip_addr", "dest", "presence_id", "presence_data", "accountcode",
                "callstate", "callee_name", "callee_num", "callee_direction",
                "sent_callee_name", "sent_callee_num"):
        row[f"b_{key}"] = ""
    row["call_created_epoch"] = ""
    return row


def _show(switch: Switch, arg: str) -> str:
    words = arg.split()
    if words[:2] == ["channels", "count"] or words[:2] == ["calls", "count"]:
        return f"\n{len(switch.channels)} total.\n"
    if words[:1] in (["calls"], ["channels"]) and words[-2:] == ["as", "json"]:
        rows = [_call_row(ch) for ch in switch.channels.values()]
        if not rows:
            return '{"row_count": 0}\n'
        return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":"))
    return "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n"  # noqa: E501


COMMANDS = {
    "status": _status, "uuid_exists": _uuid_exists, "uuid_kill": _uuid_kill,
    "uuid_break": _uuid_break, "uuid_recv_dtmf": _uuid_recv_dtmf,
    "uuid_send_dtmf": _uuid_send_dtmf, "uuid_getvar": _uuid_getvar,
    "uuid_setvar": _uuid_setvar, "show": _show,
    "conference": conference_api, "sofia": sofia_api, "sofia_contact": sofia_contact,
}


async def run_api(switch: Switch, line: str) -> str:
    """Run one api command line and return its response body."""
    name, _, arg = line.strip().partition(" ")
    if name == "originate":
        return await originate(switch, arg)
    command = COMMANDS.get(name)
    if command is None:
        return f"-ERR {name} Command not found!\n"
    return command(switch, arg.strip())
