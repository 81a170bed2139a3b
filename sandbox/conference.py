"""mod_conference as FreeSWITCH 1.10 does it: the ``conference`` app and ``conference`` api.

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
  played`` and nothing more. Events reach an outbound socket only for its own channel
  and only once it subscribed to CUSTOM (``myevents`` does not carry them).
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
import itertools
import os
import uuid as uuidlib
import wave
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox import events, media
from sandbox.channel import Channel

if TYPE_CHECKING:
    from sandbox.switch import Switch

MAINTENANCE = "conference::maintenance"
SOUNDS = "/opt/freeswitch/share/freeswitch/sounds/en/us/callie"
ENTER_TONE = "tone_stream://%(200,0,500,600,700)"
EXIT_TONE = "tone_stream://%(500,0,300,200,100,50,25)"
NOT_PLAYED = "File could not be played"
CALLING = {
    "conference-create": ("mod_conference.c", "conference_new", "3848"),
    "conference-destroy": ("mod_conference.c", "conference_thread_run", "863"),
    "play-file": ("conference_file.c", "conference_file_play", "268"),
    "play-file-done": ("conference_file.c", "conference_file_close", "52"),
    "add-member": ("conference_member.c", "conference_member_add", "962"),
    "del-member": ("conference_member.c", "conference_member_del", "1355"),
    "floor-change": ("conference_member.c", "conference_member_set_floor_holder", "1158"),
    "mute-member": ("conference_api.c", "conference_api_sub_mute", "339"),
    "unmute-member": ("conference_api.c", "conference_api_sub_unmute", "492"),
    "deaf-member": ("conference_api.c", "conference_api_sub_deaf", "797"),
    "undeaf-member": ("conference_api.c", "conference_api_sub_undeaf", "839"),
    "hup-member": ("conference_api.c", "conference_api_sub_hup", "871"),
    "kick-member": ("conference_api.c", "conference_api_sub_kick", "902"),
    "api-play-file": ("conference_api.c", "conference_api_sub_play", "2817"),
    "start-recording": ("conference_record.c", "conference_record_thread_run", "270"),
    "stop-recording": ("conference_record.c", "conference_record_thread_run", "420"),
}


@dataclass(frozen=True)
class Profile:
    alone: str | None
    moh: str | None
    enter: str = ENTER_TONE
    exit: str = EXIT_TONE


PROFILES = {
    # The vanilla profile the recordings used.
    "default": Profile(f"{SOUNDS}/conference/conf-alone.wav", "local_stream://moh"),
    # deploy/freeswitch/autoload_configs/conference.conf.xml: no alone announcement, and
    # no moh-sound, so each room's music comes from conference_moh_sound (the waitUrl).
    "callscript": Profile(None, None),
}


@dataclass(eq=False)
class Member:
    id: int
    channel: Channel
    flags: set[str]
    done: asyncio.Event = field(default_factory=asyncio.Event)
    hup: bool = False

    @property
    def speak(self) -> bool:
        return "mute" not in self.flags

    @property
    def hear(self) -> bool:
        return "deaf" not in self.flags


@dataclass(eq=False)
class Room:
    switch: Switch
    name: str
    profile_name: str
    moh: str | None
    max_members: int = 0
    wait_mod: bool = False
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    members: dict[int, Member] = field(default_factory=dict)
    floor: int | None = None
    end_count: int = 0
    playing: dict[asyncio.Task[None], tuple[str, float]] = field(default_factory=dict)
    moh_task: asyncio.Task[None] | None = None
    recording: tuple[str, float] | None = None

    @property
    def profile(self) -> Profile:
        return PROFILES.get(self.profile_name, PROFILES["default"])

    # ---- events -------------------------------------------------------------------

    def fire(self, action: str, member: Member | None = None, before: events.Fields = (),
             after: events.Fields = ()) -> None:
        """One conference::maintenance event: the room's block (and the member's), then
        ``before``, ``Action``, ``after``, in the order the recordings show."""
        name = "play-file" if action == "api-play-file" else action
        head = self.member_block(member) if member is not None else self.block()
        deliver(self.switch, self.core(action) + head + [*before, ("Action", name), *after])

    def core(self, action: str) -> events.Fields:
        fields = [("Event-Subclass", MAINTENANCE)] + events.core("CUSTOM")
        file, function, line = CALLING.get(action, CALLING["play-file"])
        fields[10:13] = [("Event-Calling-File", file), ("Event-Calling-Function", function),
                         ("Event-Calling-Line-Number", line)]
        return fields

    def block(self) -> events.Fields:
        return [("Conference-Name", self.name), ("Conference-Domain", events.IPV4),
                ("Conference-Size", str(len(self.members))), ("Conference-Ghosts", "0"),
                ("Conference-Profile-Name", self.profile_name),
                ("Conference-Unique-ID", self.uuid)]

    def member_block(self, member: Member) -> events.Fields:
        ch = member.channel
        return (self.block() + [("Floor", "true" if self.floor == member.id else "false")]
                + events.channel_block(ch) + events.profile_block(ch, "Caller")
                + [("Video", "false"), ("Hear", str(member.hear).lower()), ("See", "true"),
                   ("Speak", str(member.speak).lower()), ("Talking", "false"),
                   ("Mute-Detect", "false"), ("Hold", "false"), ("Member-ID", str(member.id)),
                   ("Member-Type", "member"), ("Member-Ghost", "false"),
                   ("Energy-Level", "100"), ("Current-Energy", "0")])

    def set_floor(self, member: Member | None) -> None:
        self.floor = member.id if member is not None else None
        head = self.block() + [("Action", "floor-change"), ("Old-ID", "none")]
        fields = self.core("floor-change")
        tail = (self.member_block(member) + [("New-ID", str(member.id))] if member
                else [("New-ID", "none")])
        deliver(self.switch, fields + head + tail)

    # ---- sounds -------------------------------------------------------------------

    def play(self, sound: str, async_: bool,
             action: str = "play-file") -> asyncio.Task[None] | None:
        """A file into the room. conference_file_play() fires play-file only when the file
        cannot be opened (the recordings); the api's play fires it always. play-file-done
        follows when the file ends, or when it is stopped or flushed."""
        seconds = media.duration(sound)
        error = [("Error", NOT_PLAYED)] if seconds is None else []
        if action == "api-play-file" or seconds is None:
            self.fire(action, None, after=[("File", sound), ("Async", str(async_).lower()),
                                           *error])
        if seconds is not None:
            task = asyncio.ensure_future(self._done_after(sound, seconds))
            self.playing[task] = (sound, seconds)
            task.add_done_callback(lambda done: self.playing.pop(done, None))
            return task
        return None

    async def _done_after(self, sound: str, seconds: float) -> None:
        await self.switch.clock.sleep(min(seconds, 3600.0))
        self._file_done(sound, seconds)

    def _file_done(self, sound: str, seconds: float) -> None:
        ms = int(min(seconds, 3600.0) * 1000)
        self.fire("play-file-done", None, [
            ("seconds", str(ms // 1000)), ("milliseconds", str(ms)),
            ("samples", str(ms * 8))], [("File", sound)])

    def stop_file(self, task: asyncio.Task[None]) -> None:
        """conference_file_stop: the file node closes now, with its play-file-done."""
        playing = self.playing.pop(task, None)
        if playing is not None and not task.done():
            task.cancel()
            self._file_done(*playing)

    def update_moh(self) -> None:
        """Music while one member is alone or everyone waits for a moderator."""
        running = [m for m in self.members.values() if m.channel.is_up and not m.done.is_set()]
        wanted = self.moh and (len(running) == 1 or self.wait_mod) and not any(
            "nomoh" in m.flags for m in running)
        if wanted and self.moh_task is None:
            self.moh_task = asyncio.ensure_future(self._moh_loop())
        elif not wanted and self.moh_task is not None:
            self.moh_task.cancel()
            self.moh_task = None

    async def _moh_loop(self) -> None:
        assert self.moh is not None
        while True:
            task = self.play(self.moh, True)
            if task is None:
                await asyncio.Event().wait()  # could not be played: silence until stopped
                return
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                self.stop_file(task)
                raise

    # ---- recording ----------------------------------------------------------------

    def stop_recording(self) -> None:
        if self.recording is None:
            return
        path, started = self.recording
        self.recording = None
        seconds = (asyncio.get_running_loop().time() - started) * self.switch.clock.speed
        frames = int(seconds * 8000)
        try:
            with wave.open(path, "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(8000)
                out.writeframes(b"\0\0" * frames)
        except OSError:
            pass
        self.fire("stop-recording", None, after=[
            ("Path", path), ("Other-Recordings", "false"), ("Samples-Out", str(frames)),
            ("Milliseconds-Elapsed", str(int(seconds * 1000)))])


_rooms: weakref.WeakKeyDictionary[Switch, dict[str, Room]] = weakref.WeakKeyDictionary()
_ids: weakref.WeakKeyDictionary[Switch, itertools.count[int]] = weakref.WeakKeyDictionary()


def rooms_of(switch: Switch) -> dict[str, Room]:
    return _rooms.setdefault(switch, {})


def next_member_id(switch: Switch) -> int:
    """Member ids count up across the switch's rooms from 1, as next_member_id() does."""
    return next(_ids.setdefault(switch, itertools.count(1)))


def deliver(switch: Switch, fields: events.Fields) -> None:
    """As mod_event_socket: an outbound socket sees CUSTOM events only once it asked for
    them with ``event ... CUSTOM``; ``myevents`` alone carries channel events."""
    for connection in list(switch.connections):
        asked = "CUSTOM" in connection.names or "ALL" in connection.names
        if connection.my_uuid is not None and not asked:
            continue
        connection.offer(fields)


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


# ---- the conference api -------------------------------------------------------------


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
