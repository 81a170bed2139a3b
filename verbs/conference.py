"""<Conference>room</Conference>: join a conference room (Twilio's Dial/Conference).

One FreeSWITCH ``conference`` app is the whole membership; the next verb runs when it
completes (kicked, the room ended by an ``endConferenceOnExit`` member, live control) and
the call ends when the caller hangs up. Before it, ``set`` writes the channel variables
mod_conference reads:

- ``hangup_after_conference=false``: otherwise a room that ends hangs up everyone in it
  (conference_thread_run), and the caller's document could not go on;
- ``conference_max_members`` (``maxParticipants``): read when the join creates the room,
  so every member sets it; a full room refuses the caller at once (the app completes
  without a join, and the next verb runs);
- ``conference_enter_sound``/``conference_exit_sound`` (``beep``): the profile's tones, or
  ``silence_stream://1`` to keep this member's coming or going silent;
- ``conference_moh_sound``: the hold music, read when the room is created (the callscript
  profile has no ``moh-sound`` of its own, so this wins). With ``waitUrl`` it is that
  document's Play/Speak/Pause as one ``file_string://`` (Redirect followed up to
  ``MAX_WAIT_REDIRECTS`` times); anything else there is refused, logged, and the default
  ``local_stream://moh`` plays instead. It plays while a member is alone or waiting.

The app argument is ``NAME@callscript+flags{...}``: ``mute`` (``muted``), ``endconf``
(``endConferenceOnExit``), ``moderator|nomoh`` for a member who starts the conference
(``startConferenceOnEnter``, the default) and ``wait-mod`` for one who does not: those
wait, hearing the hold music, until a moderator joins. NAME is ``AccountSid_room``, so
two accounts never share a room.

Status events come from the member's own CUSTOM conference::maintenance events (the
engine subscribes on the call's socket: ``myevents`` does not carry them), emitted as
``conference-<event>`` with Twilio's parameters when listed in ``statusCallbackEvent``:
join (add-member), leave (del-member), mute (mute-member/unmute-member), start (the
join of the first moderator, checked with ``conference NAME list``; it also starts the
recording of ``record="record-from-start"`` into ``--recordings-dir``/ConferenceSid.wav),
end (reported by the member whose leaving ends the room: the endConferenceOnExit one,
or the last one out). start and end are sent once per room and callback URL by an engine
process. ConferenceSid is ``CF`` + the room's Conference-Unique-ID.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import urljoin

from esl.protocol import Event
from verbs import attrs, gather, pause, play, redirect, speak
from verbs.base import CONTINUE, Call, Hangup, Outcome
from verbs.errors import VerbError

TAG = "Conference"
NEEDS_ANSWER = True
APP = "conference"
PROFILE = "callscript"
MAINTENANCE = "conference::maintenance"
ENTER_TONE = "tone_stream://%(200,0,500,600,700)"
EXIT_TONE = "tone_stream://%(500,0,300,200,100,50,25)"
SILENT = "silence_stream://1"
DEFAULT_MOH = "local_stream://moh"
MAX_WAIT_REDIRECTS = 3
MAX_PARTICIPANTS = 250
EVENTS = ("start", "end", "join", "leave", "mute")
ROOM = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
BEEPS = {"true": "true", "false": "false", "onenter": "onEnter", "onexit": "onExit"}
RECORD = {"do-not-record": "do-not-record", "record-from-start": "record-from-start"}

log = logging.getLogger(__name__)
_reported: OrderedDict[tuple[str, str, str], None] = OrderedDict()
"""(event, room uuid, callback URL) already sent by this process: start and end once."""


@dataclass(frozen=True)
class Conference:
    room: str
    muted: bool = False
    beep: str = "true"
    start_on_enter: bool = True
    end_on_exit: bool = False
    max_participants: int = MAX_PARTICIPANTS
    wait_url: str | None = None
    wait_method: str = "POST"
    record: str = "do-not-record"
    status_callback: str | None = None
    status_events: tuple[str, ...] = ("start", "end")
    status_method: str = "POST"
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Conference:
    attrs.check_attributes(element, (
        "muted", "beep", "startConferenceOnEnter", "endConferenceOnExit", "maxParticipants",
        "waitUrl", "waitMethod", "record", "statusCallback", "statusCallbackEvent",
        "statusCallbackMethod"))
    room = attrs.text_of(element, 64)
    if not ROOM.fullmatch(room):
        raise VerbError("the room name must be 1 to 64 letters, digits, _ . or -, "
                        f"got {room!r}", attrs.line_of(element), None)
    return Conference(
        room=room,
        muted=attrs.get_bool(element, "muted", False),
        beep=attrs.get_enum(element, "beep", "true", BEEPS),
        start_on_enter=attrs.get_bool(element, "startConferenceOnEnter", True),
        end_on_exit=attrs.get_bool(element, "endConferenceOnExit", False),
        max_participants=attrs.get_int(element, "maxParticipants", MAX_PARTICIPANTS, 2,
                                       MAX_PARTICIPANTS),
        wait_url=attrs.get_url(element, "waitUrl"),
        wait_method=attrs.get_method(element, "waitMethod"),
        record=attrs.get_enum(element, "record", "do-not-record", RECORD),
        status_callback=attrs.get_url(element, "statusCallback", document=False),
        status_events=_events(element),
        status_method=attrs.get_method(element, "statusCallbackMethod"),
        line=attrs.line_of(element),
    )


def _events(element: attrs.Element) -> tuple[str, ...]:
    raw = element.get("statusCallbackEvent")
    if raw is None:
        return ("start", "end")
    words = raw.replace(",", " ").split()
    bad = [w for w in words if w not in EVENTS]
    if not words or bad:
        raise VerbError(f"must be a list of {', '.join(EVENTS)}, got {raw!r}",
                        attrs.line_of(element), "statusCallbackEvent")
    return tuple(dict.fromkeys(words))


def room_name(call: Call, room: str) -> str:
    """The switch's name for a room: the account's sid first, so accounts never meet."""
    return f"{call.params.get('AccountSid', 'AC')}_{room}"


def app_arg(name: str, verb: Conference) -> str:
    flags = ["mute"] if verb.muted else []
    flags += ["endconf"] if verb.end_on_exit else []
    flags += ["moderator", "nomoh"] if verb.start_on_enter else ["wait-mod"]
    return f"{name}@{PROFILE}+flags{{{'|'.join(flags)}}}"


def channel_vars(verb: Conference, moh: str) -> list[tuple[str, str]]:
    enter = ENTER_TONE if verb.beep in ("true", "onEnter") else SILENT
    leave = EXIT_TONE if verb.beep in ("true", "onExit") else SILENT
    return [("hangup_after_conference", "false"),
            ("conference_max_members", str(verb.max_participants)),
            ("conference_enter_sound", enter), ("conference_exit_sound", leave),
            ("conference_moh_sound", moh)]


# ---- hold music from waitUrl -------------------------------------------------------


async def hold_music(call: Call, verb: Conference) -> str:
    """The waitUrl's Play/Speak/Pause as one sound; the default on any trouble."""
    if verb.wait_url is None:
        return DEFAULT_MOH
    url, method = call.resolve(verb.wait_url), verb.wait_method
    parts: list[str] = []
    for _ in range(MAX_WAIT_REDIRECTS + 1):
        verbs: Sequence[Any] | None = await call.load(url, method)
        if verbs is None:
            return DEFAULT_MOH
        following = None
        for nested in verbs:
            if isinstance(nested, redirect.Redirect):
                following = nested
                break
            if not isinstance(nested, play.Play | speak.Speak | pause.Pause):
                log.error("call %s: waitUrl %s may hold only Play, Speak, Pause and "
                          "Redirect, not <%s>: default hold music", call.sid, url,
                          type(nested).__name__)
                return DEFAULT_MOH
            parts += await gather.sound_files(call, nested, forever=1)
        if following is None:
            break
        url, method = urljoin(url, following.url), following.method
    if not parts:
        return DEFAULT_MOH
    return parts[0] if len(parts) == 1 else "file_string://" + "!".join(parts)


# ---- running ----------------------------------------------------------------------


async def run(call: Call, verb: Conference) -> Outcome:
    if call.gone:
        return Hangup()
    name = room_name(call, verb.room)
    await call.subscribe("CUSTOM", MAINTENANCE)
    for var, value in channel_vars(verb, await hold_music(call, verb)):
        if await call.execute("set", f"{var}={value}") is None:
            return Hangup()
    member = Member(call, verb, name)
    with call.listen() as queue:
        joined = asyncio.ensure_future(call.execute(APP, app_arg(name, verb)))
        while not joined.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({joined, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                await member.on_event(getter.result())
            else:
                getter.cancel()
        while not queue.empty():
            await member.on_event(queue.get_nowait())
    if joined.result() is None or call.gone:
        return Hangup()
    return CONTINUE


class Member:
    """One caller's membership: turns its conference events into status events."""

    def __init__(self, call: Call, verb: Conference, name: str) -> None:
        self.call, self.verb, self.name = call, verb, name
        self.sid = ""
        self.sequence = 0

    async def on_event(self, event: Event) -> None:
        if event.field("Event-Subclass") != MAINTENANCE:
            return
        if event.field("Conference-Name") != self.name or event.unique_id != self.call.uuid:
            return
        self.sid = "CF" + (event.field("Conference-Unique-ID") or "").replace("-", "")
        action = event.field("Action")
        if action == "add-member":
            self.report("join", "participant-join")
            if self.verb.start_on_enter and await self.starts_room():
                await self.started(event)
        elif action in ("mute-member", "unmute-member"):
            self.report("mute", f"participant-{action.split('-')[0]}",
                        {"Muted": "true" if action == "mute-member" else "false"})
        elif action == "del-member":
            self.report("leave", "participant-leave")
            if self.verb.end_on_exit or event.field("Conference-Size") == "0":
                why = ("participant-with-end-conference-on-exit-left" if self.verb.end_on_exit
                       else "last-participant-left")
                self.report("end", "conference-end", {"ReasonConferenceEnded": why,
                                                      "CallSidEndingConference": self.call.sid})

    async def starts_room(self) -> bool:
        """True if no other member is a moderator: this join starts the conference."""
        listing = await self.call.api(f"conference {self.name} list")
        others = [line.split(";") for line in listing.splitlines() if line.count(";") >= 5]
        return not any("moderator" in f[5].split("|") for f in others if f[2] != self.call.uuid)

    async def started(self, event: Event) -> None:
        self.report("start", "conference-start")
        if self.verb.record != "record-from-start":
            return
        folder = self.call.settings.recordings_dir
        path = os.path.abspath(os.path.join(folder, f"{self.sid}.wav"))
        await asyncio.to_thread(os.makedirs, folder, exist_ok=True)
        reply = await self.call.api(f"conference {self.name} record {path}")
        if reply.startswith("-"):
            log.error("call %s: conference recording refused: %s", self.call.sid, reply.strip())

    def report(self, kind: str, name: str, extra: dict[str, str] | None = None) -> None:
        verb = self.verb
        if kind not in verb.status_events:
            return
        url = self.call.resolve(verb.status_callback) if verb.status_callback else ""
        if kind in ("start", "end") and not _first_report(kind, self.sid, url):
            return
        self.sequence += 1
        data = {
            "ConferenceSid": self.sid, "FriendlyName": verb.room,
            "AccountSid": self.call.params.get("AccountSid", ""),
            "CallSid": self.call.sid, "StatusCallbackEvent": name,
            "SequenceNumber": str(self.sequence), "Timestamp": formatdate(usegmt=True),
            "Muted": str(verb.muted).lower(), "Hold": "false", "Coaching": "false",
            "StartConferenceOnEnter": str(verb.start_on_enter).lower(),
            "EndConferenceOnExit": str(verb.end_on_exit).lower(),
            **(extra or {}),
        }
        if url:
            data |= {"callback_url": url, "callback_method": verb.status_method}
        self.call.emit(f"conference-{kind}", data)


def _first_report(kind: str, sid: str, url: str) -> bool:
    key = (kind, sid, url)
    if key in _reported:
        return False
    _reported[key] = None
    while len(_reported) > 10_000:
        _reported.popitem(last=False)
    return True
