"""The ``bridge`` application as FreeSWITCH 1.10 runs it, with simulated callees.

``bridge {global}[leg]dest,[leg]dest|[leg]dest``: ``,`` rings legs together (the first
to answer wins, the others end ``LOSE_RACE``), ``|`` tries the next group when one fails.
Leg variables (``{...}`` for all, ``[...]`` for one) are set on the leg;
``origination_uuid`` names it, ``origination_caller_id_number/name`` set its caller id,
``leg_timeout`` ends an unanswered leg with ALLOTTED_TIMEOUT, ``originate_timeout``
(default 60) ends a group with NO_ANSWER, ``execute_on_answer[_N]`` apps run on the leg
when it answers, ``group_confirm_key``/``group_confirm_file`` make the callee confirm.

What the caller's channel shows, from outbound_bridge*.esl: the outcome variables
(``originated_legs``, ``originate_causes`` as ``uuid;CAUSE`` or ``ARRAY::a|:b``,
``originate_disposition``, ``DIALSTATUS``, ``last_bridge_hangup_cause``, and on failure
``originate_signal_bond``/``originate_failed_cause``), CHANNEL_BRIDGE when a leg
answers, CHANNEL_UNBRIDGE (after the B-leg's HANGUP_COMPLETE) with
``bridge_hangup_cause``. A failed bridge hangs the caller up with the failure cause
unless ``continue_on_fail`` is true or the cause is NO_ANSWER, NO_USER_RESPONSE or
ORIGINATOR_CANCEL; a caller hanging up while legs ring ends them ORIGINATOR_CANCEL.
While bridged, ``bridge_terminate_key`` pressed by the caller ends the bridge, and
``hangup_after_bridge=true`` hangs the caller up after it. Not simulated: media (the
ringback tone, early media and recordings are silence of the right length).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable

from sandbox import callees, events, legs
from sandbox.channel import Channel
from sandbox.originate import parse_vars

ENDPOINTS = ("loopback/", "sofia/", "user/")
GOES_ON = {"NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL"}
DIALSTATUS = {"SUCCESS": "SUCCESS", "USER_BUSY": "BUSY", "NO_ANSWER": "NOANSWER",
              "ORIGINATOR_CANCEL": "CANCEL"}
Leg = tuple[list[tuple[str, str]], str]


def split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside ``{}``/``[]`` blocks (and not when escaped)."""
    parts, depth, current, prev = [], 0, "", ""
    for char in text:
        if char in "{[<":
            depth += 1
        elif char in "}]>":
            depth = max(0, depth - 1)
        if char == sep and depth == 0 and prev != "\\":
            parts.append(current)
            current = ""
        else:
            current += char
        prev = char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_dial(arg: str) -> list[list[Leg]]:
    """Groups (``|``) of legs (``,``), each leg its variables and dest. A leading ``{}``
    applies to every leg of every group; a group may start with its own ``{}``."""
    text = arg.strip()
    common: list[tuple[str, str]] = []
    if text.startswith("{"):
        end = text.find("}")
        common, _ = parse_vars(text[: end + 1])
        text = text[end + 1:]
    groups = []
    for group_text in split_top(text, "|"):
        group_pairs = list(common)
        if group_text.startswith("{"):
            end = group_text.find("}")
            group_pairs += parse_vars(group_text[: end + 1])[0]
            group_text = group_text[end + 1:]
        group = []
        for leg_text in split_top(group_text, ","):
            pairs, dest = parse_vars(leg_text)
            group.append((group_pairs + pairs, dest.strip()))
        groups.append(group)
    return groups


def _seconds(values: dict[str, str], name: str) -> float | None:
    try:
        return float(values[name]) if name in values else None
    except ValueError:
        return None


async def _leg_timeout(leg: Channel, values: dict[str, str]) -> None:
    """End the leg if unanswered after leg_timeout (ALLOTTED_TIMEOUT) or originate_timeout."""
    leg_t, group_t = _seconds(values, "leg_timeout"), _seconds(values, "originate_timeout") or 60
    seconds, cause = (leg_t, "ALLOTTED_TIMEOUT") if leg_t and leg_t < group_t else (
        group_t, "NO_ANSWER")
    await asyncio.wait([asyncio.ensure_future(leg.answered.wait())],
                       timeout=leg.switch.clock.real(seconds))
    if leg.is_up and not leg.answered.is_set():
        leg.hangup(cause)


async def _race(caller: Channel, group: list[Leg], tried: list[Channel]) -> Channel | None:
    """Ring one group; the winner, or None (every leg of it is then down)."""
    directory = callees.callees_of(caller.switch)
    rings: dict[asyncio.Future, Channel] = {}
    for pairs, dest in group:
        name = callees.callee_name(dest)
        leg = legs.new_leg(caller.switch, caller, dest, name, pairs)
        tried.append(leg)
        caller.set_var("originate_signal_bond", leg.uuid)
        caller.set_var("originated_legs", _array(
            f"{t.uuid};{t.profile['Callee-ID-Name']};{t.profile['Callee-ID-Number']}"
            for t in tried))
        rings[asyncio.ensure_future(legs.ring(leg, directory.lookup(name)))] = leg
        leg.spawn(_leg_timeout(leg, dict(pairs)))
    winner = await _first_answer(caller, rings)
    for leg in rings.values():
        if leg is not winner and leg.is_up:
            leg.hangup("LOSE_RACE" if winner is not None else "ORIGINATOR_CANCEL")
    for leg in rings.values():
        if leg is not winner:
            await leg.gone.wait()
            caller.set_var("last_bridge_hangup_cause", leg.hangup_cause or "NORMAL_CLEARING")
    return winner


async def _first_answer(caller: Channel, rings: dict[asyncio.Future, Channel]) -> Channel | None:
    """The first leg whose ring ends answered and up; None if all fail or the caller goes."""
    down = asyncio.ensure_future(caller.down.wait())
    pending = set(rings)
    winner = None
    while pending and winner is None:
        done, pending = await asyncio.wait(pending | {down}, return_when=asyncio.FIRST_COMPLETED)
        if down in done:
            break
        pending.discard(down)
        winner = next((rings[t] for t in done if t.result() and rings[t].is_up), None)
    for task in [*pending, down]:
        task.cancel()
    return winner


def _array(items: Iterable[str]) -> str:
    """FreeSWITCH's list variables: one item as is, several as ``ARRAY::a|:b``."""
    items = list(items)
    return items[0] if len(items) == 1 else "ARRAY::" + "|:".join(items)


async def _bridged(caller: Channel, leg: Channel) -> None:
    """Connected until either side hangs up or the caller presses the terminate key."""
    key = caller.variables.get("bridge_terminate_key", "")
    caller.set_vars([("bridge_to", leg.uuid), ("last_bridge_to", leg.uuid),
                     ("bridge_channel", leg.name), ("bridge_uuid", leg.uuid),
                     ("signal_bond", leg.uuid),
                     ("last_sent_callee_id_name", leg.profile["Callee-ID-Name"]),
                     ("last_sent_callee_id_number", leg.profile["Callee-ID-Number"])])
    caller.collecting = bool(key)
    try:
        while caller.is_up and leg.is_up:
            waits = [asyncio.ensure_future(caller.down.wait()),
                     asyncio.ensure_future(leg.down.wait())]
            if key:
                waits.append(asyncio.ensure_future(caller.dtmf.get()))
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if key and waits[2] in done and waits[2].result() == key:
                leg.hangup("NORMAL_CLEARING")
    finally:
        caller.collecting = False
    if leg.is_up:
        caller.set_var("last_bridge_role", "originator")
        leg.hangup(caller.hangup_cause or "NORMAL_CLEARING")
    await leg.gone.wait()
    caller.set_var("bridge_to", None)
    cause = leg.hangup_cause or "NORMAL_CLEARING"
    if caller.is_up:
        caller.set_var("last_bridge_hangup_cause", cause)
    caller.set_var("bridge_hangup_cause", cause)
    caller.fire("CHANNEL_UNBRIDGE")


def _outcome(caller: Channel, tried: list[Channel], winner: Channel | None) -> str:
    """Set the disposition variables; the failure cause ("SUCCESS" when bridged)."""
    causes = _array(f"{t.uuid};{'NONE' if t is winner else t.hangup_cause}" for t in tried)
    if winner is not None:
        cause = "SUCCESS"
    elif caller.is_up:
        failed = [t.hangup_cause or "NORMAL_CLEARING" for t in tried]
        cause = next((c for c in reversed(failed) if c != "LOSE_RACE"), failed[-1])
    else:
        cause = "ORIGINATOR_CANCEL"
    caller.set_vars([("originate_disposition", cause),
                     ("DIALSTATUS", DIALSTATUS.get(cause, cause)),
                     ("originate_causes", causes)])
    if winner is not None:
        caller.set_var("originate_signal_bond", None)
        caller.set_var("signal_bond", winner.uuid)
    else:
        caller.set_var("originate_failed_cause", cause)
    return cause


async def bridge(caller: Channel, arg: str) -> str | None:
    """The app: ring each group in turn; bridge the first leg to answer, or fail."""
    groups = parse_dial(arg)
    if not groups or any(not dest.startswith(ENDPOINTS) for g in groups for _, dest in g):
        cause = "CHAN_NOT_IMPLEMENTED"
        caller.set_vars([("originate_disposition", cause), ("DIALSTATUS", cause),
                         ("originate_failed_cause", cause)])
        return _fail(caller, cause)
    tried: list[Channel] = []
    winner = None
    for group in groups:
        winner = await _race(caller, group, tried)
        if winner is not None or not caller.is_up:
            break
    cause = _outcome(caller, tried, winner)
    if winner is None:
        return _fail(caller, cause)
    caller.other_leg, caller.other_type = winner, "originatee"
    caller.bridge_ids = winner.bridge_ids = (caller.uuid, winner.uuid)
    caller.profile["Channel-Bridged-Time"] = str(events.now_us())
    caller.fire("CHANNEL_BRIDGE")
    await _bridged(caller, winner)
    if caller.is_up and caller.variables.get("hangup_after_bridge", "").lower() == "true":
        caller.running = None
        caller.hangup("NORMAL_CLEARING")
    return None


def _fail(caller: Channel, cause: str) -> None:
    continue_on_fail = caller.variables.get("continue_on_fail", "").lower()
    listed = [c.strip().upper() for c in continue_on_fail.split(",")]
    if caller.is_up and continue_on_fail != "true" and cause not in GOES_ON | set(listed):
        caller.running = None  # as recorded: the linger notice follows HANGUP_COMPLETE
        caller.hangup(cause)
    return None


# ---- apps the bridge's legs use (record_session is in sandbox/record.py) ------------

_HANGUP_AT = re.compile(r"^\+?(\d+)\s*(\w*)")


async def sched_hangup(ch: Channel, arg: str) -> str | None:
    """``sched_hangup +SECONDS [CAUSE]``: hang this channel up later (timeLimit)."""
    match = _HANGUP_AT.match(arg.strip())
    if match:
        seconds, cause = float(match.group(1)), (match.group(2) or "ALLOTTED_TIMEOUT").upper()
        ch.spawn(_hang_up_at(ch, seconds, cause))
    return None


async def _hang_up_at(ch: Channel, seconds: float, cause: str) -> None:
    try:
        async with asyncio.timeout(ch.switch.clock.real(seconds)):
            await ch.down.wait()
    except TimeoutError:
        ch.hangup(cause)


APPS = {"bridge": bridge, "sched_hangup": sched_hangup}
"""The apps this module adds to sandbox.apps.APPS."""
