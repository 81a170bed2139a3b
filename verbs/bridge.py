"""<Bridge> (Twilio's Dial): ring one or more callees and connect the first to answer.

One FreeSWITCH ``bridge`` does it. Before it, on the caller's channel:
``set continue_on_fail=true`` (a failed bridge would otherwise hang the caller up, see
outbound_bridge_busy_no_continue.esl), ``set hangup_after_bridge=false`` (the document
goes on after the bridge), ``set bridge_terminate_key=*`` or unset (hangupOnStar) and
``set ringback=TONE`` or unset (ringTone; ``none`` passes the callee's early media).
The argument is ``{common}[leg]dial,[leg]dial`` (``|`` between legs when sequential):

- common: ``leg_timeout`` (timeout: an unanswered leg ends ALLOTTED_TIMEOUT),
  ``origination_caller_id_number`` (callerId, default the caller's number), and with
  confirmKey ``group_confirm_key``/``group_confirm_file`` (confirmSound, fetched through
  the media cache; silence without one);
- per leg: ``origination_uuid`` chosen here, so DialCallSid (``CA`` + its hex) is known
  before the leg exists, and ``execute_on_answer_N`` apps run on the leg when it
  answers: ``sched_hangup +timeLimit ALLOTTED_TIMEOUT`` (counted from the answer),
  ``send_dtmf`` (Number's sendDigits) and, for record-from-answer, ``record_session``
  (the answered leg records both sides). record-from-ringing records the caller from
  before the bridge (``record_session``/``stop_record_session``). Files go to
  ``--recordings-dir`` as ``RE<32 hex>.wav``; RecordingUrl is ``--public-url`` +
  ``/v1/recordings/RE...``.

The outcome is read from the completion (``originate_disposition``, ``originate_causes``)
and from CHANNEL_BRIDGE/UNBRIDGE on the caller's socket (DialCallDuration).
DialCallStatus: ``completed`` when a callee was connected (whichever side hung up);
``busy`` (USER_BUSY, CALL_REJECTED), ``no-answer`` (NO_ANSWER, ALLOTTED_TIMEOUT,
NO_USER_RESPONSE, PROGRESS_TIMEOUT), ``canceled`` (the caller hung up while legs rang:
the switch ends them ORIGINATOR_CANCEL), else ``failed``. ``answered`` is what Twilio
reports for a dialled conference; Bridge does not dial conferences, so it never sends it.

With ``action``: Fetch(action) with DialCallStatus, DialCallSid, DialCallDuration (and
RecordingUrl). If the caller is gone the action is still requested, as Twilio does, and
its document ignored. Without ``action`` the next verb runs. Each leg's end is a
``bridge-leg`` status event (DialCallSid, DialCallStatus).
"""

from __future__ import annotations

import logging
import os
import uuid as uuidlib
from dataclasses import dataclass, field

from verbs import attrs, bridge_outcome, dial_targets
from verbs.base import CONTINUE, Call, Fetch, Hangup, Outcome
from verbs.dial_targets import Target
from verbs.errors import MediaError, VerbError

TAG = "Bridge"
NEEDS_ANSWER = True
MAX_TIMEOUT = 600
MAX_TIME_LIMIT = 14400
RECORD = {v: v for v in ("do-not-record", "record-from-answer", "record-from-ringing")}
RING_TONES = {
    "us": "%(2000,4000,440,480)", "uk": "%(400,200,400,450);%(400,2000,400,450)",
    "fr": "%(1500,3500,440)", "it": "%(1000,4000,425)", "es": "%(1500,3000,425)",
    "de": "%(1000,4000,425)", "none": "",
}
CONFIRM_KEYS = {key: key for key in "0123456789*#"}
NO_CONFIRM_SOUND = "silence_stream://250"
ATTRIBUTES = ("action", "method", "timeout", "timeLimit", "callerId", "record",
              "hangupOnStar", "ringTone", "sequential", "confirmKey", "confirmSound")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bridge:
    targets: tuple[Target, ...]
    action: str | None = None
    method: str = "POST"
    timeout: int = 30
    time_limit: int = 14400
    caller_id: str | None = None
    record: str = "do-not-record"
    hangup_on_star: bool = False
    ring_tone: str = "us"
    sequential: bool = False
    confirm_key: str | None = None
    confirm_sound: str | None = None
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Bridge:
    attrs.check_attributes(element, ATTRIBUTES)
    confirm_key = attrs.get_enum(element, "confirmKey", "", CONFIRM_KEYS | {"": ""}) or None
    return Bridge(
        targets=dial_targets.parse_targets(element),
        action=attrs.get_url(element, "action"),
        method=attrs.get_method(element),
        timeout=attrs.get_int(element, "timeout", 30, 1, MAX_TIMEOUT),
        time_limit=attrs.get_int(element, "timeLimit", 14400, 1, MAX_TIME_LIMIT),
        caller_id=dial_targets.caller_id(element),
        record=attrs.get_enum(element, "record", "do-not-record", RECORD),
        hangup_on_star=attrs.get_bool(element, "hangupOnStar", False),
        ring_tone=attrs.get_enum(element, "ringTone", "us", {k: k for k in RING_TONES}),
        sequential=attrs.get_bool(element, "sequential", False),
        confirm_key=confirm_key,
        confirm_sound=_confirm_sound(element, confirm_key),
        line=attrs.line_of(element),
    )


def _confirm_sound(element: attrs.Element, confirm_key: str | None) -> str | None:
    sound = attrs.get_url(element, "confirmSound", document=False)
    if sound and not confirm_key:
        raise VerbError("confirmSound needs confirmKey (the key the callee must press)",
                        attrs.line_of(element), "confirmSound")
    return sound


@dataclass
class Plan:
    """What one run of the verb chose: leg uuids and the recording."""

    leg_uuids: list[str]
    recording_sid: str | None = None
    recording_path: str | None = None


def _quote(value: str) -> str:
    """A channel-variable value inside ``{}``/``[]``: commas escaped, spaces quoted."""
    value = value.replace(",", "\\,")
    return f"'{value}'" if " " in value else value


def _block(pairs: list[tuple[str, str]], brackets: str) -> str:
    body = ",".join(f"{name}={_quote(value)}" for name, value in pairs)
    return f"{brackets[0]}{body}{brackets[1]}"


def dial_argument(call: Call, verb: Bridge, plan: Plan, confirm_file: str | None) -> str:
    """The exact ``bridge`` argument (see the module docstring)."""
    common = [("leg_timeout", str(verb.timeout)),
              ("origination_caller_id_number", verb.caller_id or call.params.get("From", ""))]
    if verb.confirm_key:
        common += [("group_confirm_key", verb.confirm_key),
                   ("group_confirm_file", confirm_file or NO_CONFIRM_SOUND)]
    legs = []
    for target, leg_uuid in zip(verb.targets, plan.leg_uuids, strict=True):
        on_answer = [f"sched_hangup +{verb.time_limit} ALLOTTED_TIMEOUT"]
        if target.send_digits:
            on_answer.append(f"send_dtmf {target.send_digits}")
        if verb.record == "record-from-answer" and plan.recording_path:
            on_answer.append(f"record_session {plan.recording_path}")
        pairs = [("origination_uuid", leg_uuid)] + [
            (f"execute_on_answer_{n}", app) for n, app in enumerate(on_answer, 1)]
        legs.append(_block(pairs, "[]") + target.dial_string(call.settings))
    return _block(common, "{}") + ("|" if verb.sequential else ",").join(legs)


def _plan(call: Call, verb: Bridge) -> Plan:
    plan = Plan([str(uuidlib.uuid4()) for _ in verb.targets])
    if verb.record != "do-not-record":
        plan.recording_sid = "RE" + uuidlib.uuid4().hex
        directory = os.path.abspath(call.settings.recordings_dir)
        plan.recording_path = os.path.join(directory, plan.recording_sid + ".wav")
    return plan


async def _confirm_file(call: Call, verb: Bridge) -> str | None:
    if not verb.confirm_sound:
        return None
    try:
        path = await call.media_path(call.resolve(verb.confirm_sound))
    except MediaError as exc:
        log.warning("Bridge confirmSound %s left out: %s", verb.confirm_sound, exc)
        return None
    return None if any(c in path for c in ",|{}[]'") else path


async def _prepare(call: Call, verb: Bridge, plan: Plan) -> bool:
    """The caller-side variables (and recording); False if the caller went away."""
    ring = RING_TONES[verb.ring_tone]
    steps = [("set", "continue_on_fail=true"), ("set", "hangup_after_bridge=false"),
             ("set", "bridge_terminate_key=*" if verb.hangup_on_star else "bridge_terminate_key="),
             ("set", f"ringback={ring}")]
    if verb.record == "record-from-ringing" and plan.recording_path:
        os.makedirs(os.path.dirname(plan.recording_path), exist_ok=True)
        steps.append(("record_session", plan.recording_path))
    for app, arg in steps:
        if await call.execute(app, arg) is None:
            return False
    return True


async def run(call: Call, verb: Bridge) -> Outcome:
    if call.gone:
        return Hangup()
    plan = _plan(call, verb)
    if not await _prepare(call, verb, plan):
        return Hangup()
    argument = dial_argument(call, verb, plan, await _confirm_file(call, verb))
    with call.listen() as events:
        done = await call.execute("bridge", argument)
        result = bridge_outcome.read(done, events, plan.leg_uuids, call.gone)
    if verb.record == "record-from-ringing" and plan.recording_path and not call.gone:
        await call.execute("stop_record_session", plan.recording_path)
    for sid, status in result.legs:
        call.emit("bridge-leg", {"DialCallSid": sid, "DialCallStatus": status})
    params = result.params()
    if plan.recording_sid and (result.bridged or verb.record == "record-from-ringing"):
        params.append(("RecordingUrl", recording_url(call, plan.recording_sid)))
    if verb.action is None:
        return Hangup() if call.gone else CONTINUE
    action = call.resolve(verb.action)
    if call.gone:
        await call.load(action, verb.method, params)
        return Hangup()
    return Fetch(action, verb.method, tuple(params))


def recording_url(call: Call, sid: str) -> str:
    return f"{call.settings.public_url.rstrip('/')}/v1/recordings/{sid}"
