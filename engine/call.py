"""One live call as the verbs see it: the ``verbs.base.Call`` seam over an ESL session.

It tracks what the switch says about the channel (answered, hung up), keeps the
Twilio-named parameters every fetch carries, and measures the engine's own latency:
the time from a completion event arriving to the next command leaving, fetches aside.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin

from engine.blegs import BLegs
from engine.errors import EngineError
from engine.legwatch import LegWatch
from engine.status import Callback, CallEvents, Sink, callback_of
from esl import protocol
from esl.connection import OutboundSession
from esl.errors import ESLError
from esl.protocol import CommandReply, Event
from verbs.base import Settings
from verbs.errors import MediaError

log = logging.getLogger(__name__)

API_VERSION = "v1"


@dataclass
class Stats:
    """Engine-added latency samples (seconds), kept bounded for long runs."""

    samples: list[float] = field(default_factory=list)
    limit: int = 200_000

    def add(self, seconds: float) -> None:
        if len(self.samples) < self.limit:
            self.samples.append(seconds)


def call_sid(uuid: str) -> str:
    return "CA" + uuid.replace("-", "").lower()


def call_params(channel: CommandReply, account_sid: str) -> dict[str, str]:
    """Twilio's parameter names, read from the channel data on ``connect``."""
    originated = channel.get("variable_callscript_call") is not None
    direction = "outbound-api" if originated else "inbound"
    caller = channel.get("Caller-Caller-ID-Number") or ""
    called = channel.get("Caller-Destination-Number") or ""
    params = {
        "CallSid": call_sid(channel.get("Unique-ID") or ""),
        "AccountSid": account_sid,
        "From": caller,
        "To": called,
        "Caller": caller,
        "Called": called,
        "CallerName": channel.get("Caller-Caller-ID-Name") or "",
        "Direction": direction,
        "ApiVersion": API_VERSION,
    }
    return params


Emit = Callable[[str, str, Mapping[str, str]], None]
"""(CallSid, event name, data): where a call's status events go."""


@dataclass(frozen=True)
class Services:
    """What every call of one engine shares: media, documents, events, settings."""

    media: Callable[[str], Awaitable[str]]
    speech: Callable[[str, str, str], Awaitable[str]]
    load: Callable[[LiveCall, str, str, Sequence[tuple[str, str]]], Awaitable[Sequence | None]]
    emit: Emit
    settings: Settings = Settings()
    stats: Stats | None = None
    events: Sink | None = None
    """Where every status event of every call goes (engine/events.py EventStream.emit)."""
    callback: Callback | None = None
    """The engine's default callback settings (--status-callback ...)."""
    legs: LegWatch | None = None
    """Where B-legs are followed on the switch links (None: their events are derived)."""


def _drop(event: dict) -> None:
    """No sink configured: status events are not wanted (unit tests building Services)."""


class LiveCall:
    """Implements ``verbs.base.Call`` for one outbound-socket session."""

    def __init__(
        self, session: OutboundSession, params: dict[str, str], services: Services
    ) -> None:
        self.session = session
        self.params = params
        self.uuid = session.uuid
        self.sid = params["CallSid"]
        self.settings = services.settings
        self.url = ""
        self._services = services
        self._stats = services.stats
        self._listeners: set[asyncio.Queue[Event]] = set()
        self._subscribed: set[str] = set()
        self._answered = session.channel.get("Answer-State") == "answered"
        self._early = session.channel.get("Answer-State") == "early"
        self._hung_up = False
        self._hangup_sent = False
        self.hangup_cause: str | None = None
        self.apps_run = 0
        self._since: float | None = None
        self._sent_cause: str | None = None
        self._by_caller = False
        channel = session.channel
        self.events = CallEvents(
            services.events or _drop,
            params,
            callback_of(channel, services.callback),
            tag=channel.get("variable_callscript_tag") or None,
        )
        self.blegs = BLegs(services.events or _drop, self.events, services.legs)
        session.on_event = self._on_event

    def _on_event(self, event: Event) -> None:
        for queue in self._listeners:
            queue.put_nowait(event)
        if event.name == "CHANNEL_ANSWER":
            self._answered = True
            self.events.answered()
        elif event.name == "CHANNEL_PROGRESS_MEDIA":
            self._early = True
        elif event.name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"):
            self._by_caller = self._by_caller or not (self._hung_up or self._hangup_sent)
            self._hung_up = True
            self.hangup_cause = self.hangup_cause or event.field("Hangup-Cause")
        elif event.name == "DTMF":
            self.events.verb("dtmf", {"Digits": event.field("DTMF-Digit") or ""})
        elif event.name in ("CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE"):
            self.blegs.bridged(
                event.field("Bridge-B-Unique-ID"),
                event.field("Event-Date-Timestamp"),
                event.name == "CHANNEL_UNBRIDGE",
            )

    @property
    def answered(self) -> bool:
        return self._answered

    @property
    def early(self) -> bool:
        """Early media is open (PreAnswer) and the call is not answered yet: Play, Speak
        and Pause are heard without answering (engine/loop.py)."""
        return self._early and not self._answered

    @property
    def gone(self) -> bool:
        return self._hung_up or self.session.closed.is_set()

    @property
    def status(self) -> str:
        if self.gone:
            return "completed"
        return "in-progress" if self._answered else "ringing"

    def fetch_started(self) -> None:
        """A fetch is the customer's time, not ours: stop the latency clock."""
        self._since = None

    async def execute(self, app: str, arg: str = "") -> Event | None:
        if self.gone:
            return None
        if self._since is not None and self._stats is not None:
            self._stats.add(time.perf_counter() - self._since)
        self.apps_run += 1
        if app == "bridge":
            await self.blegs.dialled(arg)  # watched before the switch can create them
        done = await self.session.execute(app, arg)
        if app == "bridge":
            self.blegs.over(done)
        self._since = time.perf_counter()
        if done is not None and app == "answer":
            self._answered = True
            self.events.answered()
        return done

    async def answer(self) -> None:
        if not self._answered:
            await self.execute("answer")

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """Hang up once: the first cause given (a verb's) is the one the switch gets."""
        if not self.gone and not self._hangup_sent:
            self._hangup_sent = True
            self._sent_cause = cause
            if self._since is not None and self._stats is not None:
                self._stats.add(time.perf_counter() - self._since)
            self._since = None
            await self.session.hangup(cause)

    async def media_path(self, url: str) -> str:
        try:
            return await self._services.media(url)
        except (EngineError, OSError, ValueError) as exc:
            raise MediaError(str(exc)) from exc

    async def speech_path(self, text: str, language: str, voice: str) -> str:
        try:
            return await self._services.speech(text, language, voice)
        except (EngineError, OSError, ValueError) as exc:
            raise MediaError(str(exc)) from exc

    def resolve(self, url: str) -> str:
        return urljoin(self.url, url.strip())

    async def api(self, command: str) -> str:
        try:
            return (await self.session.api(command)).text
        except ESLError as exc:
            return f"-ERR {exc}"

    async def subscribe(self, *names: str) -> None:
        wanted = [name for name in names if name not in self._subscribed]
        if not wanted or self.gone:
            return
        self._subscribed.update(wanted)
        try:
            await self.session.command(protocol.event("plain", wanted))
        except ESLError as exc:
            log.warning("call %s: could not subscribe to %s: %s", self.sid, wanted, exc)

    @contextmanager
    def listen(self) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._listeners.add(queue)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)

    async def load(
        self, url: str, method: str = "POST", params: Sequence[tuple[str, str]] = ()
    ) -> Sequence | None:
        return await self._services.load(self, self.resolve(url), method, params)

    def emit(self, event: str, data: Mapping[str, str]) -> None:
        """A verb's event: to the hook (tests), and as a status event of this call;
        a ``bridge-leg`` also completes a B-leg nobody watched (engine/blegs.py)."""
        self._services.emit(self.sid, event, data)
        self.events.verb(event, data)
        if event == "bridge-leg":
            self.blegs.ended(data.get("DialCallSid", ""), data.get("DialCallStatus", ""))

    def finished(self) -> None:
        """The call is over (after our hangup): its ``completed`` event, once."""
        cause = self.hangup_cause or self._sent_cause or "NORMAL_CLEARING"
        self.events.completed(cause, self._by_caller)
