"""The call loop (DESIGN, "The call loop"): decide the script, fetch, parse, run, repeat.

The script, the call's account and its callback settings come from the engine's routing
(engine/routes.py, kept fresh by engine/reloader.py); hosted scripts (``script:NAME``)
are read from that routing instead of fetched, and parsed like any fetched document.

A call is never left hanging: whatever happens (a script that fails, a document that
does not parse, a verb that raises, the caller hanging up), the loop ends by hanging the
channel up. Fetch and parse failures go to the fallback URL with Twilio's ErrorCode and
ErrorUrl; without one the caller hears a short spoken error.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.call import Emit, LiveCall, Services, Stats, call_params
from engine.config import EngineConfig
from engine.document import parse_document
from engine.errors import EngineError
from engine.fetch import Fetcher
from engine.media import Media
from engine.reloader import RouteTable
from engine.routes import HOSTED, Route, hosted_url
from engine.status import Callback, Sink, log_sink
from esl.connection import OutboundSession
from esl.errors import ESLError
from verbs import Verb, module_of, needs_answer, run_verb
from verbs.base import Continue, Fetch, Hangup, Outcome
from verbs.preanswer import EARLY_MEDIA_VERBS as EARLY_MEDIA

log = logging.getLogger(__name__)


def log_event(call_sid: str, event: str, data: Mapping[str, str]) -> None:
    """Where status events go until an event stream is configured."""
    log.info("call %s: event %s %s", call_sid, event, dict(data))


VERB_RESULTS = {"Gather": ("gather", "Digits"), "Bridge": ("bridge", "DialCallStatus")}
"""Verbs whose result (their action's parameters) is also an event of its own."""


def _fields(outcome: Outcome) -> tuple[tuple[str, str], ...]:
    return outcome.params if isinstance(outcome, Fetch) else ()


def _result_event(call: LiveCall, kind: tuple[str, str], outcome: Fetch) -> None:
    """``gather`` (Digits) or ``bridge`` (DialCallStatus, ...) from the action's params."""
    name, needed = kind
    data = dict(outcome.params)
    if needed in data:
        call.events.verb(name, data)


def default_callback(config: EngineConfig) -> Callback | None:
    """The engine's --status-callback settings; None without a URL."""
    if not config.status_callback:
        return None
    return Callback.parse(
        config.status_callback, "POST", config.status_events, config.status_format
    )


SPOKEN_ERROR = "We are sorry, an application error has occurred. Goodbye."


@dataclass(frozen=True)
class Failure:
    """Why a script could not be run: what the fallback URL is told."""

    code: int
    url: str
    message: str


class Runner:
    """Runs every call an engine process is handed."""

    def __init__(
        self,
        config: EngineConfig,
        fetcher: Fetcher,
        media: Media,
        stats: Stats | None = None,
        emit: Emit | None = None,
        events: Sink | None = None,
        routing: RouteTable | None = None,
    ) -> None:
        self.config = config
        self.fetcher = fetcher
        self.media = media
        self.stats = stats or Stats()
        self.routes = dict(config.routes)
        self.routing = routing or RouteTable()
        self.active = 0
        self.services = Services(
            media=media.play_path,
            speech=media.speech_path,
            load=self._load_more,
            emit=emit or log_event,
            settings=config.settings,
            stats=self.stats,
            events=events or log_sink(log_event),
            callback=default_callback(config),
        )

    async def handle(self, session: OutboundSession) -> None:
        """One call, from the switch's ``connect`` to our hangup."""
        try:
            channel = await session.setup()
        except ESLError as exc:
            log.warning("call dropped during setup: %s", exc)
            return
        route = self.routing.resolve(channel, self.routes, self.config.default_url)
        params = call_params(channel, route.account_sid or self.config.account_sid)
        services = self.services
        if route.callback is not None:  # the number's settings replace the engine's
            services = dataclasses.replace(services, callback=route.callback)
        call = LiveCall(session, params, services)
        self.active += 1
        call.events.initiated()
        call.events.ringing()
        if call.answered:
            call.events.answered()
        try:
            await self.run(call, route)
        except Exception:
            log.exception("call %s failed", params["CallSid"])
        finally:
            self.active -= 1
            await call.hangup()
            call.finished()

    async def run(self, call: LiveCall, route: Route) -> None:
        if not route.url:
            await self.fail(call, Failure(11100, "", "no script URL for this number"))
            return
        request: Fetch | None = Fetch(route.url, route.method)
        fetches = in_a_row = 0
        fallback_tried = False
        while request is not None and not call.gone:
            fetches += 1
            apps_before = call.apps_run
            loaded = await self.load(call, request)
            if isinstance(loaded, Failure):
                request = self.fallback(call, loaded, fallback_tried, route.fallback_url)
                fallback_tried = True
                if request is None:
                    await self.fail(call, loaded)
                continue
            verbs, call.url = loaded
            outcome = await self.run_document(call, verbs)
            if isinstance(outcome, Hangup):
                # The verb's cause (Reject: CALL_REJECTED, USER_BUSY) is the call's.
                await call.hangup(outcome.cause)
            if not isinstance(outcome, Fetch):
                return
            in_a_row = in_a_row + 1 if call.apps_run == apps_before else 0
            limits = self.config.max_redirects_in_a_row, self.config.max_fetches
            if in_a_row >= limits[0] or fetches >= limits[1]:
                log.error("call %s: redirect limit at %s", call.sid, outcome.url)
                return
            request = outcome

    async def load(self, call: LiveCall, request: Fetch) -> tuple[Sequence[Verb], str] | Failure:
        """Fetch and parse one document: its verbs and final URL, or a Failure."""
        params = [*call.params.items(), ("CallStatus", call.status), *request.params]
        url = hosted_url(call.url, request.url)
        call.fetch_started()
        call.events.fetched(url)
        try:
            if url.startswith(HOSTED):
                body = self.routing.hosted_body(call.params["AccountSid"], url)
                return parse_document(body, url), url
            document = await self.fetcher.fetch(url, request.method, params)
            return parse_document(document.body, document.url), document.url
        except EngineError as exc:
            log.warning("call %s: %s: %s", call.sid, url, exc)
            return Failure(exc.code, url, str(exc))

    async def _load_more(
        self, call: LiveCall, url: str, method: str, params: Sequence[tuple[str, str]]
    ) -> Sequence[Verb] | None:
        """A document a verb needs beside the running one (a Conference waitUrl)."""
        loaded = await self.load(call, Fetch(url, method, tuple(params)))
        return None if isinstance(loaded, Failure) else loaded[0]

    def fallback(
        self, call: LiveCall, failure: Failure, tried: bool, routed: str | None = None
    ) -> Fetch | None:
        """The call's own fallback URL, else its number's or script's, else the engine's."""
        channel = call.session.channel
        url = (
            channel.get("variable_callscript_fallback_url")
            or routed
            or self.config.fallback_url
        )
        if tried or not url:
            return None
        return Fetch(url, "POST", (("ErrorCode", str(failure.code)), ("ErrorUrl", failure.url)))

    async def run_document(self, call: LiveCall, verbs: Sequence[Verb]) -> Outcome:
        for verb in verbs:
            if call.gone:
                return Hangup()
            tag = module_of(verb).TAG
            log.info("call %s: <%s>", call.sid, tag)
            call.events.verb_started(tag)
            try:
                if needs_answer(verb) and not (call.early and tag in EARLY_MEDIA):
                    await call.answer()
                outcome = await run_verb(call, verb)
            except Exception:
                call.events.verb_finished(tag, "error", ())
                raise
            call.events.verb_finished(tag, type(outcome).__name__.lower(), _fields(outcome))
            if tag in VERB_RESULTS and isinstance(outcome, Fetch):
                _result_event(call, VERB_RESULTS[tag], outcome)
            if not isinstance(outcome, Continue):
                return outcome
        return Hangup()

    async def fail(self, call: LiveCall, failure: Failure) -> None:
        """No script to run: tell the caller briefly, then hang up (the caller's finally)."""
        log.error(
            "call %s: no usable script (%s %s): %s",
            call.sid,
            failure.code,
            failure.url or "-",
            failure.message,
        )
        try:
            path = await self.media.speech_path(SPOKEN_ERROR, "en-US", "woman")
        except Exception as exc:  # speech is a courtesy; the hangup is what matters
            log.warning("could not render the spoken error: %s", exc)
            return
        await call.answer()
        await call.execute("playback", path)
