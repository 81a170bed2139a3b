"""mod_conference as FreeSWITCH 1.10 does it: the ``conference`` app (here), rooms and
members (sandbox/conference_room.py) and the ``conference`` api (sandbox/conference_api.py).

What the recordings show (outbound_conference.esl, inbound_conference_control.esl), and
what mod_conference.c does where they are silent:

- ``conference ROOM@PROFILE+flags{mute|deaf|moderator|endconf|nomoh|wait-mod}``: the
  flags are member flags and, when the join creates the room, conference flags too
  (``wait-mod``), as conference_function() does. A room reads ``conference_max_members``
  (1 or garbage means no limit), ``conference_moh_sound`` (only if the profile has none)
  and ``conference_flags`` from the channel that creates it; a full room refuses the
  member at once (no event, the app completes); ``conference_enter_sound`` and
  ``conference_exit_sound`` replace the profile's tones for that member.
- events, all CUSTOM conference::maintenance, in the recorded order: conference-create;
  play-file of the alone sound; add-member; floor-change; play-file of the music on
  hold (played while a member is alone or the room waits for a moderator); the enter
  tone's play-file-done; on leaving floor-change, the alone sound, del-member (its
  Conference-Size counts the members left) and the exit tone; conference-destroy. A sound
  that plays fires only play-file-done when it ends (the api's ``play`` also fires
  play-file); one that does not exist fires play-file with ``Error: File could not be
  played`` and nothing more. Like every event they go through ``Switch.fire``: an
  outbound socket sees only its own channel's, and only once it asked for
  ``event plain CUSTOM conference::maintenance`` (``myevents`` does not carry them).
- ``uuid_break`` (live control) ends the membership like a kick; a hangup takes the
  member out after CHANNEL_HANGUP (its del-member carries Hangup-Cause), ``hup`` before.
- when the last ``endconf`` member leaves, the room ends: everyone else is taken out and
  hung up unless their channel says ``hangup_after_conference=false``; ``hup`` hangs up,
  ``kick`` only takes out. Either way the member's app completes (``_none_``).
- the api: ``list``, ``count``, ``mute``/``unmute``/``deaf``/``undeaf``, ``kick``, ``hup``
  (member id, ``all`` or ``last``), ``play FILE``, ``record PATH``/``norecord``. A recording
  is a real WAV of silence as long as the recording lasted on the sandbox clock.

Deliberate simplifications: no audio mixing or talk detection (floor goes to the first
member and never moves), no pins, no ``json_list``; record events (start-recording,
stop-recording) are modelled on mod_conference.c, not on a recording; music on hold
that stops fires play-file-done, as conference_file_close() does for any file node.
"""

from __future__ import annotations

import asyncio

from sandbox import events
from sandbox.channel import Channel
from sandbox.conference_room import PROFILES, Member, Room, next_member_id, rooms_of

__all__ = ["conference", "parse_arg"]


def parse_arg(arg: str) -> tuple[str, str, set[str]]:
    """``ROOM@PROFILE+flags{a|b}`` (a ``+PIN`` is ignored): (room, profile, flags)."""
    flags: set[str] = set()
    text = arg
    if "+flags{" in text:
        text, _, rest = text.partition("+flags{")
        flags = {f.strip().lower() for f in rest.split("}")[0].replace(",", "|").split("|")}
    text = text.strip().partition("+")[0]
    room, _, profile = text.rpartition("@") if "@" in text else (text, "", "default")
    return room, profile or "default", {f for f in flags if f}


def _open_room(ch: Channel, name: str, profile: str, flags: set[str]) -> Room:
    rooms = rooms_of(ch.switch)
    room = rooms.get(name)
    if room is not None:
        return room
    prof = PROFILES.get(profile, PROFILES["default"])
    moh = prof.moh or ch.variables.get("conference_moh_sound") or None
    cflags = flags | {f.strip() for f in ch.variables.get("conference_flags", "").split("|")}
    raw = ch.variables.get("conference_max_members", "").strip()
    limit = int(raw) if raw.isdigit() and int(raw) != 1 else 0
    room = Room(ch.switch, name, profile, moh, limit, "wait-mod" in cflags)
    rooms[name] = room
    room.fire("conference-create")
    return room


async def conference(ch: Channel, arg: str) -> str | None:
    """The ``conference`` application: join, stay until taken out or gone, leave."""
    name, profile, flags = parse_arg(arg)
    ch.answer()
    if not name or not ch.is_up:
        return None
    room = _open_room(ch, name, profile, flags)
    if room.max_members and len(room.members) >= room.max_members:
        return None
    member = Member(next_member_id(ch.switch), ch, flags)
    ch.set_vars([("conference_name", name), ("app_session_uuid", room.uuid),
                 ("conference_member_id", str(member.id)),
                 ("conference_moderator", str("moderator" in flags).lower()),
                 ("conference_ghost", "false"), ("conference_uuid", room.uuid),
                 ("conference_call_key", f"conference_{name}_{events.IPV4}_"
                                         f"{ch.profile.get('Caller-ID-Number', '')}")])
    _join(room, member)
    waiters = [asyncio.ensure_future(member.done.wait()),
               asyncio.ensure_future(ch.interrupt.wait())]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    _leave(room, member)
    ch.set_var("conference_call_key", None)
    ch.set_vars([("read_codec", "L16"), ("read_rate", "8000")])
    if member.hup:  # hup takes the member out first, then hangs up (no Hangup-Cause)
        ch.hangup("NORMAL_CLEARING")
    return None


def _join(room: Room, member: Member) -> None:
    room.members[member.id] = member
    if len(room.members) == 1 and room.profile.alone:
        room.play(room.profile.alone, False)
    room.fire("add-member", member)
    if room.floor is None:
        room.set_floor(member)
    if "endconf" in member.flags:
        room.end_count += 1
    if "moderator" in member.flags:
        room.wait_mod = False
    if len(room.members) > 1:
        sound = member.channel.variables.get("conference_enter_sound") or room.profile.enter
        room.play(sound, True)
    room.update_moh()


def _leave(room: Room, member: Member) -> None:
    if room.floor == member.id:
        room.set_floor(None)
    room.members.pop(member.id, None)
    left = len(room.members)
    if left == 1 and room.profile.alone:
        room.play(room.profile.alone, False)
    room.fire("del-member", member)
    if left:
        sound = member.channel.variables.get("conference_exit_sound") or room.profile.exit
        room.play(sound, True)
    if "endconf" in member.flags:
        room.end_count -= 1
        if room.end_count == 0:
            _end(room)
    if room.members:
        room.update_moh()
    else:
        _destroy(room)


def _end(room: Room) -> None:
    """The last endconf member left: everyone out, hung up unless told otherwise."""
    for member in list(room.members.values()):
        member.done.set()
        keep = member.channel.variables.get("hangup_after_conference", "").lower()
        if keep not in ("false", "no", "off", "0"):
            member.channel.hangup("NORMAL_CLEARING")


def _destroy(room: Room) -> None:
    if room.moh_task is not None:
        room.moh_task.cancel()
        room.moh_task = None
    room.stop_recording()
    for task in list(room.playing):
        room.stop_file(task)
    rooms = rooms_of(room.switch)
    if rooms.get(room.name) is room:
        del rooms[room.name]
    room.switch.spawn(_fire_destroy(room))


async def _fire_destroy(room: Room) -> None:
    await asyncio.sleep(0)
    room.fire("conference-destroy")

