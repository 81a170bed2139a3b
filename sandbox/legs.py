"""The B-legs of a sandbox ``bridge``: channels with an other leg, and how they ring.

FreeSWITCH adds the other party to every event of a channel that has one: ``Other-Type``
(``originator`` on a B-leg, ``originatee`` on the caller once bridged) and the other
leg's caller profile as ``Other-Leg-*``; CHANNEL_BRIDGE/UNBRIDGE also carry
``Bridge-A-Unique-ID`` and ``Bridge-B-Unique-ID`` (outbound_bridge*.esl). A channel says
so through its ``other_leg``, ``other_type``, ``bridge_ids`` and ``call_uuid``
attributes, which sandbox/events.py renders; ``new_leg`` sets them on a B-leg and the
bridge sets them on the caller when a leg answers.

Every event of a B-leg reaches every connection subscribed to it whose filters pass it
(an inbound connection following legs by ``filter Unique-ID``), as on FreeSWITCH: from
CHANNEL_CREATE and CHANNEL_ORIGINATE through CHANNEL_PROGRESS, CHANNEL_ANSWER and the
``execute_on_answer`` apps to CHANNEL_HANGUP_COMPLETE with the leg's own Hangup-Cause.

A B-leg is one channel named by its dial string (``loopback/NAME-a`` for loopback, as
recorded); the far half of a loopback pair and its dialplan are not simulated, the
callee's behaviour (sandbox/callees.py) stands in for them.
"""

from __future__ import annotations

import asyncio
import math
import uuid as uuidlib
from typing import TYPE_CHECKING

from sandbox import media
from sandbox.callees import Behaviour
from sandbox.channel import Channel

if TYPE_CHECKING:
    from sandbox.switch import Switch

CONFIRM_TIMEOUT = 5.0
"""Seconds a callee has to press ``group_confirm_key`` after the confirm file."""


class LegChannel(Channel):
    """One B-leg of a bridge: an outbound channel whose originator is the caller. Only its
    type differs from Channel, so callers (and tests) can tell B-legs apart."""


def new_leg(switch: Switch, caller: Channel, dest: str, name: str,
            pairs: list[tuple[str, str]]) -> LegChannel:
    """Create and register a B-leg (CHANNEL_CREATE not yet fired: ``ring`` does)."""
    values = dict(pairs)
    leg_uuid = values.get("origination_uuid") or str(uuidlib.uuid4())
    cid_num = values.get("origination_caller_id_number",
                         caller.profile.get("Caller-ID-Number", ""))
    cid_name = values.get("origination_caller_id_name",
                          caller.profile.get("Caller-ID-Name", ""))
    leg = LegChannel(switch, leg_uuid, "A", name, cid_num, cid_name, switch.next_session())
    loopback = dest.startswith("loopback/")
    leg.name = f"loopback/{name}-a" if loopback else dest
    leg.profile["Channel-Name"] = leg.name
    leg.profile["Source"] = "mod_loopback" if loopback else "mod_sofia"
    leg.other_leg, leg.other_type, leg.call_uuid = caller, "originator", caller.uuid
    switch.add_channel(leg)
    base = [("read_codec", "L16"), ("read_rate", "8000"), ("write_codec", "L16"),
            ("write_rate", "8000")]
    leg.set_vars([("direction", "outbound"), ("is_outbound", "true"), ("uuid", leg.uuid),
                  ("session_id", str(leg.session_id)), *base])
    if loopback:
        leg.set_var("loopback_from_uuid", caller.uuid)
    leg.set_vars([("channel_name", leg.name), ("max_forwards", "70"),
                  ("originator_codec", "L16@8000h@20i"), ("originator", caller.uuid),
                  ("signal_bond", caller.uuid), ("call_uuid", caller.uuid), *pairs,
                  ("originate_early_media", "true"), ("originating_leg_uuid", caller.uuid),
                  ("originate_endpoint", "loopback" if loopback else "sofia")])
    if loopback:
        leg.set_vars([("other_loopback_leg_uuid", str(uuidlib.uuid4())),
                      ("loopback_leg", "A")])
    return leg


def on_answer_apps(leg: Channel) -> list[tuple[str, str]]:
    """``execute_on_answer``, ``execute_on_answer_1``... as ``(app, arg)`` in order."""
    apps = []
    for name, value in list(leg.variables.items()):
        if name == "execute_on_answer" or name.startswith("execute_on_answer_"):
            app, _, arg = value.strip().partition(" ")
            if app:
                apps.append((app, arg.strip()))
    return apps


async def _sleep(leg: Channel, seconds: float | None) -> bool:
    """Wait simulated ``seconds`` (None: for ever); False if the leg went down first."""
    timeout = None if seconds is None or math.isinf(seconds) else leg.switch.clock.real(seconds)
    try:
        async with asyncio.timeout(timeout):
            await leg.down.wait()
    except TimeoutError:
        return leg.is_up
    return False


async def _confirm(leg: Channel, behaviour: Behaviour) -> bool:
    """group_confirm: the file plays to the callee, who must press the key in time."""
    key = leg.variables.get("group_confirm_key", "")
    seconds = media.duration(leg.variables.get("group_confirm_file", "")) or 0.0
    if not await _sleep(leg, seconds):
        return False
    for digit in behaviour.press:
        leg.fire("DTMF", [("DTMF-Digit", digit), ("DTMF-Duration", "2000"),
                          ("DTMF-Source", "RTP")])
        if digit == key:
            return True
    if await _sleep(leg, CONFIRM_TIMEOUT):
        leg.hangup("NO_ANSWER")
    return False


async def ring(leg: LegChannel, behaviour: Behaviour) -> bool:
    """Play the callee out until it answers (True) or refuses; timeouts are the caller's.

    The leg's first events are those of switch_core_session_run's CS_INIT: CHANNEL_CREATE,
    then, an outbound channel, CHANNEL_ORIGINATE (outbound_bridge_parallel.esl)."""
    leg.fire("CHANNEL_CREATE")
    leg.fire("CHANNEL_ORIGINATE")
    leg.state, leg.state_number = "CS_CONSUME_MEDIA", 7
    await asyncio.sleep(0)
    if behaviour.refuse:
        leg.hangup(behaviour.refuse)
        return False
    leg.mark_ring_ready()
    if not await _sleep(leg, behaviour.answer_after):
        return False
    leg.mark_answered()
    for app, arg in on_answer_apps(leg):
        await leg.execute(app, arg, None, loops=False)
    if leg.variables.get("group_confirm_key") and not await _confirm(leg, behaviour):
        return False
    if behaviour.hangup_after is not None:
        leg.spawn(_hang_up_later(leg, behaviour.hangup_after))
    return leg.is_up


async def _hang_up_later(leg: Channel, seconds: float) -> None:
    if await _sleep(leg, seconds):
        leg.hangup("NORMAL_CLEARING")
