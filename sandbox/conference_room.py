"""mod_conference's rooms and members: their state, the events they fire, their sounds.

The ``conference`` application (sandbox/conference.py) and the ``conference`` api
(sandbox/conference_api.py) both act on these. Rooms are per switch (``rooms_of``) and
a room is dropped from it when its last member leaves, so a long-running sandbox keeps
none for finished calls. Events go through ``Switch.fire`` like every other event: the
connection's subscription decides who sees them (sandbox/listener.py, ``wants``).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid as uuidlib
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox import events, media

if TYPE_CHECKING:
    from sandbox.channel import Channel
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
    """The conference profile's sounds (conference.conf.xml): alone, hold music, tones."""

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
    """One conference: its members by id, who has the floor, what it is playing."""

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
        self.switch.fire(self.core(action) + head + [*before, ("Action", name), *after])

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
        self.switch.fire(fields + head + tail)

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
        media.write_silence(path, seconds)
        self.fire("stop-recording", None, after=[
            ("Path", path), ("Other-Recordings", "false"), ("Samples-Out", str(frames)),
            ("Milliseconds-Elapsed", str(int(seconds * 1000)))])


_rooms: weakref.WeakKeyDictionary[Switch, dict[str, Room]] = weakref.WeakKeyDictionary()
_ids: weakref.WeakKeyDictionary[Switch, itertools.count[int]] = weakref.WeakKeyDictionary()


def rooms_of(switch: Switch) -> dict[str, Room]:
    """The switch's live rooms by name; weakly keyed so a stopped sandbox leaves none."""
    return _rooms.setdefault(switch, {})


def next_member_id(switch: Switch) -> int:
    """Member ids count up across the switch's rooms from 1, as next_member_id() does."""
    return next(_ids.setdefault(switch, itertools.count(1)))

