"""Event templates copied from the recordings of FreeSWITCH 1.10.12 (esl-captures/).

FreeSWITCH builds every channel event from the same pieces, always in this order:
the core block (Event-Name ... Event-Sequence), the channel block (Channel-State ...
Answer-State, Hangup-Cause once the call is down, the codecs), the caller profile
(``Caller-*``, empty fields left out), the other leg when the channel has one
(``Other-Type`` and ``Other-Leg-*``, outbound_bridge*.esl) and the channel variables
(``variable_*``), then the event's own headers. CHANNEL_STATE and DTMF carry no
variables; CHANNEL_HANGUP_COMPLETE repeats Hangup-Cause right after the core block, and
CHANNEL_BRIDGE/UNBRIDGE put Bridge-A/B-Unique-ID there; CHANNEL_DATA (the reply to
``connect``) puts the profile first as ``Channel-*``. Values stay raw here: the connection
percent-encodes them (plain) or not (json).
"""

from __future__ import annotations

import itertools
import time
import uuid as uuidlib
from collections.abc import Iterable
from typing import Protocol

Fields = list[tuple[str, str]]

HOSTNAME = "fs"
IPV4 = "127.0.0.1"
IPV6 = "::1"
CORE_UUID = str(uuidlib.uuid4())

# Event-Name -> (Event-Calling-File, Event-Calling-Function, Event-Calling-Line-Number)
CALLING = {
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", "626"),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", "632"),
    "CHANNEL_PROGRESS": ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value",
                         "3505"),
    "CHANNEL_PROGRESS_MEDIA": ("switch_channel.c", "switch_channel_perform_mark_pre_answered",
                               "3560"),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", "3846"),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", "2944"),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", "2967"),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", "1002"),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", "1213"),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", "3445"),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", "2408"),
    "CHANNEL_HANGUP_COMPLETE": ("switch_core_state_machine.c",
                                "switch_core_session_reporting_state", "943"),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", "677"),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", "1572"),
    "CHANNEL_DATA": ("mod_event_socket.c", "parse_command", "2021"),
}

NO_VARIABLES = {"CHANNEL_STATE", "DTMF"}
BRIDGE_EVENTS = {"CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE"}

PROFILE_KEYS = (
    "Direction", "Logical-Direction", "Dialplan", "Caller-ID-Name", "Caller-ID-Number",
    "Orig-Caller-ID-Name", "Orig-Caller-ID-Number", "Callee-ID-Name", "Callee-ID-Number",
    "ANI", "Destination-Number", "Unique-ID", "Source", "Context", "Channel-Name",
    "Profile-Index", "Profile-Created-Time", "Channel-Created-Time", "Channel-Answered-Time",
    "Channel-Progress-Time", "Channel-Progress-Media-Time", "Channel-Hangup-Time",
    "Channel-Transfer-Time", "Channel-Resurrect-Time", "Channel-Bridged-Time",
    "Channel-Last-Hold", "Channel-Hold-Accum", "Screen-Bit", "Privacy-Hide-Name",
    "Privacy-Hide-Number",
)

OTHER_KEYS = tuple(k for k in PROFILE_KEYS if k != "Profile-Index")
"""The other leg's profile as ``Other-Leg-*`` carries everything but Profile-Index."""

CODECS = (
    ("Channel-Read-Codec-Name", "L16"), ("Channel-Read-Codec-Rate", "8000"),
    ("Channel-Read-Codec-Bit-Rate", "128000"), ("Channel-Write-Codec-Name", "L16"),
    ("Channel-Write-Codec-Rate", "8000"), ("Channel-Write-Codec-Bit-Rate", "128000"),
)

_sequence = itertools.count(1000)


class ChannelLike(Protocol):
    """What the templates read from a channel (sandbox.channel.Channel)."""

    uuid: str
    name: str
    direction: str
    state: str
    state_number: int
    call_state: str
    answer_state: str
    hit_dialplan: bool
    hangup_cause: str | None
    profile: dict[str, str]
    variables: dict[str, str]
    other_leg: ChannelLike | None
    other_type: str
    bridge_ids: tuple[str, str] | None
    call_uuid: str | None


def now_us() -> int:
    return time.time_ns() // 1000


def core(name: str) -> Fields:
    """The block every event starts with; Event-Sequence grows across the switch."""
    stamp = now_us()
    seconds = stamp / 1_000_000
    calling = CALLING.get(name, ("switch_event.c", "switch_event_fire_detailed", "0"))
    return [
        ("Event-Name", name), ("Core-UUID", CORE_UUID),
        ("FreeSWITCH-Hostname", HOSTNAME), ("FreeSWITCH-Switchname", HOSTNAME),
        ("FreeSWITCH-IPv4", IPV4), ("FreeSWITCH-IPv6", IPV6),
        ("Event-Date-Local", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))),
        ("Event-Date-GMT", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(seconds))),
        ("Event-Date-Timestamp", str(stamp)),
        ("Event-Calling-File", calling[0]), ("Event-Calling-Function", calling[1]),
        ("Event-Calling-Line-Number", calling[2]), ("Event-Sequence", str(next(_sequence))),
    ]


def channel_block(ch: ChannelLike) -> Fields:
    fields = [
        ("Channel-State", ch.state), ("Channel-Call-State", ch.call_state),
        ("Channel-State-Number", str(ch.state_number)), ("Channel-Name", ch.name),
        ("Unique-ID", ch.uuid), ("Call-Direction", ch.direction),
        ("Presence-Call-Direction", ch.direction),
        ("Channel-HIT-Dialplan", "true" if ch.hit_dialplan else "false"),
        ("Channel-Call-UUID", ch.call_uuid or ch.uuid), ("Answer-State", ch.answer_state),
    ]
    if ch.hangup_cause:
        fields.append(("Hangup-Cause", ch.hangup_cause))
    fields.extend(CODECS)
    return fields


def profile_block(ch: ChannelLike, prefix: str) -> Fields:
    return [(f"{prefix}-{key}", ch.profile[key]) for key in PROFILE_KEYS
            if ch.profile.get(key)]


def other_leg_block(ch: ChannelLike) -> Fields:
    """``Other-Type`` and the other leg's profile, for a B-leg or a bridged caller."""
    other = ch.other_leg
    if other is None:
        return []
    return [("Other-Type", ch.other_type)] + [
        (f"Other-Leg-{key}", other.profile[key]) for key in OTHER_KEYS if other.profile.get(key)]


def bridge_block(ch: ChannelLike, name: str) -> Fields:
    """``Bridge-A/B-Unique-ID``, which CHANNEL_BRIDGE/UNBRIDGE carry after the core block."""
    if ch.bridge_ids is None or name not in BRIDGE_EVENTS:
        return []
    return [("Bridge-A-Unique-ID", ch.bridge_ids[0]), ("Bridge-B-Unique-ID", ch.bridge_ids[1])]


def variable_block(ch: ChannelLike) -> Fields:
    return [(f"variable_{name}", value) for name, value in ch.variables.items()]


def channel_event(ch: ChannelLike, name: str, extra: Iterable[tuple[str, str]] = ()) -> Fields:
    """A channel event as FreeSWITCH serialises it, ``extra`` headers last."""
    fields = core(name) + bridge_block(ch, name)
    if name == "CHANNEL_HANGUP_COMPLETE" and ch.hangup_cause:
        fields.append(("Hangup-Cause", ch.hangup_cause))
    fields += channel_block(ch) + profile_block(ch, "Caller") + other_leg_block(ch)
    if name not in NO_VARIABLES:
        fields += variable_block(ch)
    fields.extend(extra)
    return fields


def channel_data(ch: ChannelLike) -> Fields:
    """The outbound socket's reply to ``connect`` (outbound_basic.esl, first frame)."""
    return (core("CHANNEL_DATA") + profile_block(ch, "Channel") + channel_block(ch)
            + profile_block(ch, "Caller") + variable_block(ch)
            + [("Content-Type", "command/reply"), ("Reply-Text", "+OK\n"),
               ("Socket-Mode", "async"), ("Control", "full")])


def background_job(job_uuid: str, command: str, arg: str) -> Fields:
    return core("BACKGROUND_JOB") + [
        ("Job-UUID", job_uuid), ("Job-Command", command), ("Job-Command-Arg", arg)]


GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def goodbye_notice(session_uuid: str | None = None) -> bytes:
    """mod_event_socket's send_disconnect(): the last frame before it closes a socket."""
    head = "Content-Type: text/disconnect-notice\n"
    if session_uuid:
        head += f"Controlled-Session-UUID: {session_uuid}\nContent-Disposition: disconnect\n"
    return f"{head}Content-Length: {len(GOODBYE)}\n\n{GOODBYE}".encode()


def linger_notice(session_uuid: str, channel_name: str, linger: int) -> bytes:
    """Sent once when a lingering outbound socket's channel goes down."""
    return (
        "Content-Type: text/disconnect-notice\n"
        f"Controlled-Session-UUID: {session_uuid}\nContent-Disposition: linger\n"
        f"Channel-Name: {channel_name}\nLinger-Time: {linger}\nContent-Length: 0\n\n"
    ).encode()
