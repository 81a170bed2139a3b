"""The dialplan applications the sandbox runs, each as FreeSWITCH 1.10 behaves.

Each app takes the channel and its argument string and returns the value of
``current_application_response`` (``Application-Response``), or None for ``_none_``.
Durations pass through the sandbox clock. Choices where the recordings are silent:
``uuid_break`` during ``play_and_get_digits`` ends the whole app with what was typed
(``read_result`` failure when nothing); ``respond`` does nothing on a loopback channel
(outbound_hangup_before_answer.esl, and the README's note on outbound_bridge_sequential).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable

from sandbox import bridge, media
from sandbox.channel import Channel
from sandbox.conference import conference
from sandbox.record import record as record_app
from sandbox.record import record_session, stop_record_session

App = Callable[[Channel, str], Awaitable[str | None]]


async def _wait(ch: Channel, seconds: float, digits: bool) -> tuple[str, str | None]:
    """Wait for simulated time, a digit (if ``digits``) or a break/hangup."""
    waiters: dict[asyncio.Future, str] = {asyncio.ensure_future(ch.interrupt.wait()): "break"}
    if digits:
        waiters[asyncio.ensure_future(ch.dtmf.get())] = "digit"
    timeout = None if math.isinf(seconds) else ch.switch.clock.real(seconds)
    done, pending = await asyncio.wait(waiters, timeout=timeout,
                                       return_when=asyncio.FIRST_COMPLETED)
    for fut in pending:
        fut.cancel()
    for fut, kind in waiters.items():
        if kind == "digit" and fut in done:
            return "digit", fut.result()
    return ("break", None) if done else ("timeout", None)


async def _play(ch: Channel, spec: str, digits: bool = False) -> tuple[str, str | None]:
    """Play ``spec``: ('done'|'break'|'digit'|'missing', digit) and the playback_* vars."""
    seconds = media.duration(spec)
    if seconds is None:
        return "missing", None
    loop = asyncio.get_running_loop()
    started = loop.time()
    kind, digit = await _wait(ch, seconds, digits)
    played = min(seconds, (loop.time() - started) * ch.switch.clock.speed)
    ms = int(played * 1000)
    ch.set_vars([("playback_last_offset_pos", str(ms * 8 * 3 // 4)),
                 ("playback_seconds", str(ms // 1000)), ("playback_ms", str(ms)),
                 ("playback_samples", str(ms * 8))])
    return ("done" if kind == "timeout" else kind), digit


async def playback(ch: Channel, arg: str) -> str | None:
    kind, _ = await _play(ch, arg)
    if kind == "missing":
        return "FILE NOT FOUND"
    return "FILE PLAYED" if ch.is_up else "PLAYBACK ERROR"


async def answer(ch: Channel, arg: str) -> str | None:
    ch.answer()
    return None


async def pre_answer(ch: Channel, arg: str) -> str | None:
    """CHANNEL_PROGRESS_MEDIA carries ``endpoint_disposition: EARLY MEDIA`` (recorded)."""
    for leg in (ch, ch.partner):
        if leg is not None and leg.answer_state == "ringing":
            leg.set_var("endpoint_disposition", "EARLY MEDIA")
    if ch.partner is not None:
        ch.partner.mark_pre_answered()
    ch.mark_pre_answered()
    return None


async def ring_ready(ch: Channel, arg: str) -> str | None:
    if ch.partner is not None:
        ch.partner.mark_ring_ready()
    ch.mark_ring_ready()
    return None


async def sleep(ch: Channel, arg: str) -> str | None:
    try:
        ms = float(arg.strip() or 0)
    except ValueError:
        ms = 0
    await _wait(ch, ms / 1000.0, digits=False)
    return None


async def set_(ch: Channel, arg: str) -> str | None:
    name, _, value = arg.partition("=")
    if name.strip():
        ch.set_var(name.strip(), value if value else None)
    return None


async def hangup(ch: Channel, arg: str) -> str | None:
    ch.hangup(arg.strip() or "NORMAL_CLEARING")
    return None


async def nothing(ch: Channel, arg: str) -> str | None:
    """respond (a no-op on loopback channels)."""
    return None


async def send_dtmf(ch: Channel, arg: str) -> str | None:
    """Completes at once, no DTMF event, ``last_dtmf_duration`` set (outbound_send_dtmf)."""
    ch.set_var("last_dtmf_duration", "2500")
    return None


async def _read(ch: Channel, p: dict) -> tuple[str, str, str]:
    """switch_ivr_read: prompt, then digits until max, a terminator or a timeout."""
    digits, term = "", ""
    kind, digit = await _play(ch, p["file"], digits=True)
    wait = p["timeout"]
    while ch.is_up and kind != "break":
        if kind == "digit" and digit is not None:
            if digit in p["terminators"]:
                term = digit
                break
            digits += digit
            if len(digits) >= p["max"]:
                break
            wait = p["digit_timeout"]
        elif kind == "timeout":
            return digits, "", ("timeout" if len(digits) >= max(p["min"], 1) else "failure")
        kind, digit = await _wait(ch, wait, digits=True)
    if kind == "break" or not ch.is_up:
        return digits, term, "failure"
    return digits, term, ("success" if len(digits) >= p["min"] else "failure")


def _matches(regex: str, digits: str) -> bool:
    """FreeSWITCH's switch_regex_match: unanchored PCRE; a broken regex never matches."""
    if not regex:
        return True
    try:
        return re.search(regex, digits) is not None
    except re.error:
        return False


def _pagd_params(arg: str) -> dict:
    parts = arg.split(" ")
    parts += [""] * (10 - len(parts))
    number = lambda text, default: int(text) if text.strip().lstrip("-").isdigit() else default  # noqa: E731
    timeout = number(parts[3], 3000)
    return {"min": number(parts[0], 0), "max": max(number(parts[1], 128), 1),
            "tries": max(number(parts[2], 1), 1), "timeout": timeout / 1000.0,
            "terminators": "" if parts[4] == "none" else parts[4], "file": parts[5],
            "invalid": parts[6], "var": parts[7] or "pagd_input", "regex": parts[8],
            "digit_timeout": number(parts[9], timeout) / 1000.0}


async def play_and_get_digits(ch: Channel, arg: str) -> str | None:
    """Semantics from outbound_basic.esl and outbound_gather_no_input.esl."""
    p = _pagd_params(arg)
    while not ch.dtmf.empty():
        ch.dtmf.get_nowait()
    ch.collecting = True
    try:
        for _ in range(p["tries"]):
            digits, term, result = await _read(ch, p)
            if term:
                ch.set_var("read_terminator_used", term)
            ch.set_var("read_result", result)
            if digits:
                ch.set_var(p["var"], digits)
            if not ch.is_up or ch.interrupt.is_set():
                break
            matches = _matches(p["regex"], digits)
            if result in ("success", "timeout") and digits and matches:
                break
            if result in ("success", "timeout") and digits:
                ch.set_var(p["var"], None)  # switch_play_and_get_digits: regex mismatch
            if p["invalid"]:
                await _play(ch, p["invalid"])
    finally:
        ch.collecting = False
    return None


APPS: dict[str, App] = {
    "answer": answer, "pre_answer": pre_answer, "ring_ready": ring_ready,
    "playback": playback, "play_and_get_digits": play_and_get_digits, "sleep": sleep,
    "set": set_, "hangup": hangup, "respond": nothing, "send_dtmf": send_dtmf,
    **bridge.APPS,
    "record": record_app, "record_session": record_session,
    "stop_record_session": stop_record_session,
    "conference": conference,
}
