"""A call's life as status events (issue 5; contract: /tmp/i5 "The event stream").

Each call gets a ``CallEvents``: ``initiated`` when the call reaches the engine,
``ringing`` before the first fetch, ``answered`` (CHANNEL_ANSWER or ``answer``
completing, once), ``completed`` at hangup with CallDuration and the call record; in
between the verb events (``verb-started``, ``verb-finished``, ``gather``, ``dtmf``,
``bridge-leg``, ``record-finished``, ``conference-*``). Every event carries the call's
Twilio parameters, a per-call SequenceNumber from 0, an RFC 2822 Timestamp, and the
callback settings that decide (in the worker) whether and where it is delivered.

Callback settings (engine/callbacks.py, re-exported here): the engine's defaults
(``--status-callback`` ...), replaced as a whole by the call's own. A verb
event whose data names its own ``callback_url`` (Conference statusCallback) goes to that
URL alone, as Twilio does, and keeps the verb's own SequenceNumber in its params.

Final status (``completed`` event's CallStatus and the record): ``completed`` once
answered; otherwise from the hangup cause: busy (USER_BUSY, CALL_REJECTED), no-answer
(NO_ANSWER, ALLOTTED_TIMEOUT, NO_USER_RESPONSE, PROGRESS_TIMEOUT), canceled
(ORIGINATOR_CANCEL, LOSE_RACE, or NORMAL_CLEARING from the caller's side before an
answer), completed (the script ended an unanswered call normally), else failed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from typing import Any

from engine.callbacks import LIFECYCLE, Callback, callback_of, parse_events

__all__ = ["LIFECYCLE", "Callback", "CallEvents", "CallStatus", "Sink", "callback_of",
           "final_status", "log_sink", "now", "parse_events", "switch_time", "timestamp"]

log = logging.getLogger(__name__)

Sink = Callable[[dict[str, Any]], None]
"""Where finished events go: EventStream.emit, or a log line without a stream."""

CALLBACK_SOURCE = "call-progress-events"


class CallStatus(StrEnum):
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


BUSY = {"USER_BUSY", "CALL_REJECTED"}
NO_ANSWER = {"NO_ANSWER", "ALLOTTED_TIMEOUT", "NO_USER_RESPONSE", "PROGRESS_TIMEOUT"}
CANCELED = {"ORIGINATOR_CANCEL", "LOSE_RACE"}


def final_status(answered: bool, cause: str, by_caller: bool) -> CallStatus:
    """The ended call's CallStatus (see the module docstring)."""
    if answered:
        return CallStatus.COMPLETED
    if cause in BUSY:
        return CallStatus.BUSY
    if cause in NO_ANSWER:
        return CallStatus.NO_ANSWER
    if cause in CANCELED or (cause == "NORMAL_CLEARING" and by_caller):
        return CallStatus.CANCELED
    return CallStatus.COMPLETED if cause == "NORMAL_CLEARING" else CallStatus.FAILED


def timestamp(moment: datetime) -> str:
    """RFC 2822 as Twilio's Timestamp: ``Mon, 23 Nov 2026 12:00:00 +0000``."""
    return format_datetime(moment.replace(microsecond=0))


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class CallEvents:
    """The events of one call (A-leg or B-leg), numbered in order from 0."""

    def __init__(
        self,
        sink: Sink,
        params: Mapping[str, str],
        callback: Callback | None,
        *,
        parent_sid: str | None = None,
        tag: str | None = None,
    ) -> None:
        self.sink = sink
        self.params = dict(params)
        self.sid = self.params.get("CallSid", "")
        self.callback = callback
        self.parent_sid = parent_sid
        self.tag = tag
        self.sequence = 0
        self.start_time = now()
        self.answer_time: datetime | None = None
        self.end_time: datetime | None = None
        self.status = CallStatus.INITIATED
        self.urls: list[str] = []
        self.verbs: list[str] = []

    def _params(self, event_type: str, moment: datetime) -> dict[str, str]:
        params = {
            **self.params,
            "CallStatus": self.status.value,
            "Timestamp": timestamp(moment),
            "SequenceNumber": str(self.sequence),
            "CallbackSource": CALLBACK_SOURCE,
            "StatusCallbackEvent": event_type,
        }
        if self.parent_sid:
            params["ParentCallSid"] = self.parent_sid
        if self.tag:
            params["tag"] = self.tag
        return params

    def send(
        self,
        event_type: str,
        data: Mapping[str, str] | None = None,
        record: dict[str, Any] | None = None,
        moment: datetime | None = None,
    ) -> None:
        """Number the event and hand it to the sink; a sink failure never reaches the call."""
        moment = moment or now()
        params = self._params(event_type, moment)
        callback = self.callback.as_dict() if self.callback else None
        for key, value in (data or {}).items():
            if key in ("callback_url", "callback_method"):
                continue
            params[key] = "" if value is None else str(value)
        if data and data.get("callback_url"):
            callback = {
                "url": data["callback_url"],
                "method": data.get("callback_method") or "POST",
                "events": [event_type],
                "format": "form",
            }
        event = {
            "id": uuid.uuid4().hex,
            "type": event_type,
            "call_sid": self.sid,
            "account_sid": self.params.get("AccountSid", ""),
            "parent_call_sid": self.parent_sid,
            "sequence": self.sequence,
            "timestamp": params["Timestamp"],
            "callback": callback,
            "params": params,
            "record": record,
        }
        self.sequence += 1
        try:
            self.sink(event)
        except Exception:  # events must never break a call
            log.exception("call %s: event %s not emitted", self.sid, event_type)

    def initiated(self) -> None:
        self.send("initiated", moment=self.start_time)

    def ringing(self) -> None:
        self.status = CallStatus.RINGING
        self.send("ringing")

    def answered(self, moment: datetime | None = None) -> None:
        """Once per call, whichever of CHANNEL_ANSWER or the answer app is seen first."""
        if self.answer_time is None and self.end_time is None:
            self.answer_time = moment or now()
            self.status = CallStatus.IN_PROGRESS
            self.send("answered", moment=self.answer_time)

    @property
    def wants_verbs(self) -> bool:
        """Verb events are only delivered to a callback asking for ``all``: without one
        they are not produced, so the delivered SequenceNumbers stay dense and no
        stream traffic is spent on events nobody receives."""
        return self.callback is not None and "all" in self.callback.events

    def verb(self, event_type: str, data: Mapping[str, str]) -> None:
        """A verb event, when the call's callback wants it or the verb names its own."""
        if self.end_time is None and (self.wants_verbs or data.get("callback_url")):
            self.send(event_type, data)

    def verb_started(self, tag: str) -> None:
        self.verbs.append(tag)
        self.verb("verb-started", {"Verb": tag})

    def verb_finished(self, tag: str, result: str, data: Iterable[tuple[str, str]] = ()) -> None:
        """Result: continue, fetch, hangup or error; with a fetch, the action's params."""
        self.verb("verb-finished", {**dict(data), "Verb": tag, "Result": result})

    def fetched(self, url: str) -> None:
        self.urls.append(url)

    def completed(
        self,
        cause: str,
        by_caller: bool,
        moment: datetime | None = None,
        status: CallStatus | None = None,
    ) -> None:
        """Once per call: the final status, CallDuration and the call record."""
        if self.end_time is not None:
            return
        self.end_time = moment or now()
        self.status = status or final_status(self.answer_time is not None, cause, by_caller)
        duration = self.duration()
        self.send(
            "completed",
            {"CallDuration": str(duration), "HangupCause": cause},
            record=self.record(cause, duration),
            moment=self.end_time,
        )

    def duration(self) -> int:
        """Seconds from answer to end (0 unanswered), rounded as Twilio's whole seconds."""
        if self.answer_time is None or self.end_time is None:
            return 0
        return max(0, round((self.end_time - self.answer_time).total_seconds()))

    def record(self, cause: str, duration: int) -> dict[str, Any]:
        """The call_records row (column names; times ISO 8601 UTC) for the worker."""
        return {
            "sid": self.sid,
            "account_sid": self.params.get("AccountSid", ""),
            "parent_sid": self.parent_sid,
            "from_number": self.params.get("From", ""),
            "to_number": self.params.get("To", ""),
            "direction": self.params.get("Direction", ""),
            "status": self.status.value,
            "start_time": iso(self.start_time),
            "answer_time": iso(self.answer_time),
            "end_time": iso(self.end_time),
            "duration": duration,
            "hangup_cause": cause,
            "urls": list(self.urls),
            "verbs": list(self.verbs),
            "tag": self.tag,
        }


def log_sink(logger: Callable[[str, str, Mapping[str, str]], None]) -> Sink:
    """Without an event stream: each event as one log line (engine/loop.py's log_event)."""
    return lambda event: logger(event["call_sid"], event["type"], event["params"])


def switch_time(stamp_us: int | None) -> datetime | None:
    """A switch Event-Date-Timestamp (microseconds since the epoch) as a UTC datetime."""
    if not stamp_us:
        return None
    try:
        return datetime.fromtimestamp(stamp_us / 1_000_000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
