"""A simulated FreeSWITCH channel: state, variables, events, and its application queue.

The details follow the recordings: setting a variable moves it to the end of the list
(FreeSWITCH deletes and re-adds the header); events show the call state *before* the
change they announce (CHANNEL_ANSWER still says RINGING); a hangup fires CHANNEL_HANGUP
at once, lets the running application finish (playback ends ``PLAYBACK ERROR``), then the
parking application (``socket`` or ``park``) completes, CHANNEL_STATE CS_HANGUP and
CS_REPORTING follow, and CHANNEL_HANGUP_COMPLETE carries the CDR variables.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox import events

if TYPE_CHECKING:
    from sandbox.switch import Switch

Q850 = {"NORMAL_CLEARING": "16", "USER_BUSY": "17", "NO_ANSWER": "19", "CALL_REJECTED": "21",
        "DESTINATION_OUT_OF_ORDER": "27", "NORMAL_TEMPORARY_FAILURE": "41",
        "ORIGINATOR_CANCEL": "487", "NO_USER_RESPONSE": "18", "UNALLOCATED_NUMBER": "1"}


@dataclass
class ParkingApp:
    """The application that holds the channel while others run (socket or park)."""

    name: str
    data: str
    app_uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))


class Channel:
    """One leg of a loopback call; ``leg`` is "A" (originated) or "B" (dialplan side)."""

    def __init__(self, switch: Switch, uuid: str, leg: str, number: str,
                 cid_number: str, cid_name: str, session_id: int) -> None:
        self.switch = switch
        self.uuid = uuid
        self.leg = leg
        self.number = number
        self.name = f"loopback/{number}-{leg.lower()}"
        self.direction = "outbound" if leg == "A" else "inbound"
        self.hit_dialplan = leg == "B"
        self.state, self.state_number, self.call_state = "CS_INIT", 2, "DOWN"
        self.answer_state = "ringing"
        self.hangup_cause: str | None = None
        self.created_us = events.now_us()
        self.answered_us = 0
        self.session_id = session_id
        self.profile = self._profile(cid_number, cid_name)
        self.variables: dict[str, str] = {}
        self.partner: Channel | None = None
        # The bridge's view of this channel (sandbox/bridge.py, sandbox/legs.py), which
        # sandbox/events.py renders into every event: the other party and its role
        # (Other-Type), the bridge's A/B uuids, and the call uuid a B-leg shares.
        self.other_leg: Channel | None = None
        self.other_type = ""
        self.bridge_ids: tuple[str, str] | None = None
        self.call_uuid: str | None = None
        self.parking: ParkingApp | None = None
        self.parked = False
        self.queue: asyncio.Queue[tuple[str, str, str | None]] = asyncio.Queue()
        self.running: str | None = None
        self.interrupt = asyncio.Event()
        self.down = asyncio.Event()
        self.answered = asyncio.Event()
        self.gone = asyncio.Event()
        self.dtmf: asyncio.Queue[str] = asyncio.Queue()
        self.collecting = False
        self.controller: Any = None
        self.trace: list[dict[str, str]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.last_app, self.last_arg = "", ""

    def _profile(self, cid_number: str, cid_name: str) -> dict[str, str]:
        created = str(self.created_us)
        profile = {
            "Direction": self.direction, "Logical-Direction": self.direction,
            "Dialplan": "xml", "Caller-ID-Name": cid_name, "Caller-ID-Number": cid_number,
            "Orig-Caller-ID-Name": cid_name, "Orig-Caller-ID-Number": cid_number,
            "Callee-ID-Name": "Outbound Call", "Callee-ID-Number": "default",
            "ANI": cid_number, "Destination-Number": self.number, "Unique-ID": self.uuid,
            "Source": "mod_loopback", "Context": "default", "Channel-Name": self.name,
            "Profile-Index": "1", "Profile-Created-Time": created,
            "Channel-Created-Time": created,
        }
        for key in ("Answered", "Progress", "Progress-Media", "Hangup", "Transfer",
                    "Resurrect", "Bridged"):
            profile[f"Channel-{key}-Time"] = "0"
        profile.update({"Channel-Last-Hold": "0", "Channel-Hold-Accum": "0",
                        "Screen-Bit": "true", "Privacy-Hide-Name": "false",
                        "Privacy-Hide-Number": "false"})
        return profile

    # ---- variables and events -------------------------------------------------------

    def set_var(self, name: str, value: str | None) -> None:
        """Set (moving it last, as FreeSWITCH does) or, with None, delete a variable."""
        self.variables.pop(name, None)
        if value is not None:
            self.variables[name] = value

    def set_vars(self, pairs: Iterable[tuple[str, str]]) -> None:
        for name, value in pairs:
            self.set_var(name, value)

    def fire(self, name: str, extra: Iterable[tuple[str, str]] = ()) -> None:
        self.switch.fire(events.channel_event(self, name, extra))

    @property
    def is_up(self) -> bool:
        return self.hangup_cause is None

    def spawn(self, coro: Any) -> asyncio.Task[None]:
        """Keep a reference to a background task so it is not collected mid-run."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- call progress --------------------------------------------------------------

    def mark_ring_ready(self) -> None:
        if self.profile["Channel-Progress-Time"] == "0" and self.is_up:
            self.profile["Channel-Progress-Time"] = str(events.now_us())
            self.fire("CHANNEL_PROGRESS")

    def mark_pre_answered(self) -> None:
        if self.answer_state == "ringing" and self.is_up:
            self.profile["Channel-Progress-Media-Time"] = str(events.now_us())
            self.answer_state = "early"
            self.fire("CHANNEL_PROGRESS_MEDIA")
            self.call_state = "EARLY"

    def mark_answered(self) -> None:
        if self.answer_state == "answered" or not self.is_up:
            return
        self.answered_us = events.now_us()
        self.profile["Channel-Answered-Time"] = str(self.answered_us)
        self.answer_state = "answered"
        self.fire("CHANNEL_ANSWER")
        self.call_state = "ACTIVE"
        self.set_var("endpoint_disposition", "ANSWER")
        self.answered.set()

    def answer(self) -> None:
        """Answering one loopback leg answers the other first (inbound_call_control.esl)."""
        if self.partner is not None:
            self.partner.mark_answered()
        self.mark_answered()

    # ---- applications ---------------------------------------------------------------

    async def execute(self, app: str, arg: str, app_uuid: str | None, loops: bool = True) -> None:
        """switch_core_session_exec: EXECUTE, run, EXECUTE_COMPLETE, one trace entry."""
        apps = self.switch.apps
        if app not in apps:
            self.hangup("DESTINATION_OUT_OF_ORDER")
            self.trace.append({"app": app, "arg": arg, "response": "-ERR invalid application"})
            return
        app_uuid = app_uuid or str(uuidlib.uuid4())
        if loops:
            self.set_vars([("current_loop", "1"), ("total_loops", "1")])
        self.set_var("current_application_response", None)
        self.set_var("current_application", app)
        self.set_var("current_application_data", arg or None)
        data = [("Application-Data", arg)] if arg else []
        self.fire("CHANNEL_EXECUTE", [("Application", app), *data, ("Application-UUID", app_uuid)])
        self.running, self.interrupt = app, asyncio.Event()
        try:
            response = await apps[app](self, arg)
        finally:
            self.running = None
        self.set_var("current_application_data", arg or None)
        self.set_var("current_application", app)
        if response:
            self.set_var("current_application_response", response)
        self.fire("CHANNEL_EXECUTE_COMPLETE", [
            ("Application", app), *data, ("Application-Response", response or "_none_"),
            ("Application-UUID", app_uuid)])
        self.last_app, self.last_arg = app, arg
        self.trace.append({"app": app, "arg": arg, "response": response or "_none_"})

    async def run_queue(self) -> None:
        """Run queued applications one after another, as the async socket does."""
        while self.is_up:
            getter = asyncio.ensure_future(self.queue.get())
            await asyncio.wait([getter, asyncio.ensure_future(self.down.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            if not getter.done() or not self.is_up:
                getter.cancel()
                return
            app, arg, app_uuid = getter.result()
            if not self.parked:
                self.parked = True
                self.fire("CHANNEL_PARK")
            await self.execute(app, arg, app_uuid)

    def break_app(self) -> None:
        """uuid_break: the running playback or prompt ends early."""
        self.interrupt.set()

    def receive_dtmf(self, digits: str) -> None:
        """uuid_recv_dtmf: the caller presses keys (DTMF-Source: APP)."""
        for digit in digits:
            if not self.is_up:
                return
            self.fire("DTMF", [("DTMF-Digit", digit), ("DTMF-Duration", "2000"),
                               ("DTMF-Source", "APP")])
            if self.collecting:
                self.dtmf.put_nowait(digit)

    # ---- hangup ---------------------------------------------------------------------

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """Start the hangup; the rest of the teardown waits for the running app to end."""
        if not self.is_up:
            return
        self.hangup_cause = cause
        self.answer_state, self.state_number = "hangup", 10
        self.profile["Channel-Hangup-Time"] = str(events.now_us())
        self.set_var("current_loop", None)
        self.set_var("total_loops", None)
        self.fire("CHANNEL_HANGUP")
        self.down.set()
        self.interrupt.set()
        if self.controller is not None:
            self.controller.on_hangup(app_running=self.running is not None)
        if self.partner is not None and self.partner.is_up:
            asyncio.get_running_loop().call_soon(self.partner.hangup, cause)
        self.spawn(self._teardown())

    async def _teardown(self) -> None:
        while self.running is not None:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        if self.parking is not None:
            if self.parked:
                self.fire("CHANNEL_UNPARK")
            park = self.parking
            response = self.variables.get("current_application_response") or "_none_"
            self.fire("CHANNEL_EXECUTE_COMPLETE", [
                ("Application", park.name), ("Application-Data", park.data),
                ("Application-Response", response), ("Application-UUID", park.app_uuid)])
        self.state = "CS_HANGUP"
        self.fire("CHANNEL_STATE")
        self.state, self.state_number, self.call_state = "CS_REPORTING", 11, "HANGUP"
        self.fire("CHANNEL_STATE")
        self.set_vars(self._cdr_vars())
        self.fire("CHANNEL_HANGUP_COMPLETE")
        self.trace.append({"hangup": self.hangup_cause or "NORMAL_CLEARING"})
        self.switch.remove_channel(self)
        self.gone.set()
        if self.controller is not None:
            self.controller.on_gone()

    def _cdr_vars(self) -> list[tuple[str, str]]:
        """The CDR variables of CHANNEL_HANGUP_COMPLETE (names as recorded)."""
        end = events.now_us()
        start, answer = self.created_us, self.answered_us
        bill = end - answer if answer else 0
        stamp = lambda us: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1e6))  # noqa: E731
        cause = self.hangup_cause or "NORMAL_CLEARING"
        pairs = [("hangup_cause", cause), ("hangup_cause_q850", Q850.get(cause, "16")),
                 ("digits_dialed", "none"), ("start_stamp", stamp(start)),
                 ("profile_start_stamp", stamp(start))]
        if answer:
            pairs.append(("answer_stamp", stamp(answer)))
        pairs += [("end_stamp", stamp(end)), ("start_epoch", str(start // 10**6)),
                  ("start_uepoch", str(start)), ("profile_start_epoch", str(start // 10**6)),
                  ("profile_start_uepoch", str(start)), ("answer_epoch", str(answer // 10**6)),
                  ("answer_uepoch", str(answer))]
        for key in ("bridge", "last_hold"):
            pairs += [(f"{key}_epoch", "0"), (f"{key}_uepoch", "0")]
        pairs += [("hold_accum_seconds", "0"), ("hold_accum_usec", "0"), ("hold_accum_ms", "0")]
        for key in ("resurrect", "progress", "progress_media"):
            pairs += [(f"{key}_epoch", "0"), (f"{key}_uepoch", "0")]
        pairs += [("end_epoch", str(end // 10**6)), ("end_uepoch", str(end))]
        if self.last_app:
            pairs.append(("last_app", self.last_app))
        if self.last_arg:
            pairs.append(("last_arg", self.last_arg))
        caller_id = f"{self.profile['Caller-ID-Name']} <{self.profile['Caller-ID-Number']}>"
        pairs.append(("caller_id", caller_id.strip()))
        total = end - start
        for unit, div in (("sec", 10**6), ("msec", 10**3), ("usec", 1)):
            base = {"sec": "duration", "msec": "mduration", "usec": "uduration"}[unit]
            pairs += [(base, str(total // div)), (f"bill{unit}", str(bill // div)),
                      (f"progress{unit}", "0"), (f"answer{unit}", "0"), (f"wait{unit}", "0"),
                      (f"progress_media{unit}", "0"), (f"flow_bill{unit}", str(bill // div))]
        pairs.append(("is_loopback", "1"))
        return pairs
