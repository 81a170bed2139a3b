"""The ``conference`` api command with mod_conference's reply texts.

``conference list`` or ``conference ROOM list|count|mute|unmute|deaf|undeaf|kick|hup|play|
record|norecord`` (inbound_conference_control.esl). Member commands take a member id,
``all`` (newest first, as mod_conference walks its list) or ``last``.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from sandbox.conference_room import Member, Room, rooms_of

if TYPE_CHECKING:
    from sandbox.switch import Switch


def _flags_of(room: Room, member: Member) -> str:
    names = [n for n, on in (("hear", member.hear), ("speak", member.speak),
                             ("floor", room.floor == member.id),
                             ("moderator", "moderator" in member.flags),
                             ("endconf", "endconf" in member.flags)) if on]
    return "|".join(names)


def _member_lines(room: Room) -> str:
    lines = []
    for member in reversed(list(room.members.values())):
        ch = member.channel
        cid = f"{ch.profile.get('Caller-ID-Name', '')};{ch.profile.get('Caller-ID-Number', '')}"
        lines.append(f"{member.id};{ch.name};{ch.uuid};{cid};{_flags_of(room, member)};0;0;100\n")
    return "".join(lines)


def _header(room: Room) -> str:
    flags = ["wait_mod"] if room.wait_mod else []
    flags += ["running", "answered", "enforce_min", "dynamic", "exit_sound", "enter_sound"]
    flags += ["recording"] if room.recording else []
    count = len(room.members)
    return (f"+OK Conference {room.name} ({count} member{'' if count == 1 else 's'} "
            f"rate: 8000 flags: {'|'.join(flags + ['json_status'])})\n")


def _targets(room: Room, word: str) -> list[Member]:
    members = list(room.members.values())
    if word == "all":
        return list(reversed(members))
    if word == "last":
        return members[-1:]
    member = room.members.get(int(word)) if word.isdigit() else None
    return [member] if member is not None else []


def _member_command(room: Room, command: str, word: str) -> str:
    """mute, unmute, deaf, undeaf, kick, hup: one ``+OK`` line per member touched."""
    targets = _targets(room, word)
    if not targets:
        return f"Non-Existent ID {word}\n"
    flag = {"mute": "mute", "unmute": "mute", "deaf": "deaf", "undeaf": "deaf"}.get(command)
    out = []
    for member in targets:
        if flag is not None:
            (member.flags.discard if command.startswith("un") else member.flags.add)(flag)
        room.fire(f"{command}-member", member)
        out.append(f"+OK {'kicked' if command == 'kick' else command} {member.id}\n")
    if command in ("kick", "hup"):
        for member in reversed(targets):
            member.hup = command == "hup"
            member.done.set()
    return "".join(out)


def _record(room: Room, words: list[str]) -> str:
    if not words:
        return "-ERR Usage: record <path>\n"
    path = words[0]
    room.stop_recording()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    room.recording = (path, asyncio.get_running_loop().time())
    room.fire("start-recording", None, after=[("Path", path)])
    return f"Record file {path}\n"


def conference_api(switch: Switch, arg: str) -> str:
    """``conference list`` or ``conference ROOM SUBCOMMAND ...`` (mod_conference replies)."""
    words = arg.split()
    rooms = rooms_of(switch)
    if not words or words[0] == "list":
        if not rooms:
            return "+OK No active conferences.\n"
        return "".join(_header(r) + _member_lines(r) for r in rooms.values())
    room = rooms.get(words[0])
    if room is None:
        return f"-ERR Conference {words[0]} not found\n"
    command, rest = (words[1] if len(words) > 1 else "list"), words[2:]
    if command == "list":
        return _member_lines(room)
    if command == "count":
        return str(len(room.members))
    if command in ("mute", "unmute", "deaf", "undeaf", "kick", "hup"):
        return _member_command(room, command, rest[0] if rest else "")
    if command == "play" and rest:
        room.play(rest[0], False, "api-play-file")
        return f"+OK (play) Playing file {rest[0]}\n"
    if command == "record":
        return _record(room, rest)
    if command == "norecord":
        room.stop_recording()
        return "+OK Stopped recording\n"
    return f"-ERR Unknown command {command}\n"

