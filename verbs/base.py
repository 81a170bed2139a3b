"""What every verb shares: the outcomes it returns and the call it runs on.

Control flow is data. A verb's ``run`` returns ``Continue`` (go on with the next verb),
``Fetch`` (leave this document for another URL: a Gather action, a Redirect) or
``Hangup``; it never raises to steer the call. ``Call`` is the one seam between a verb
and the switch, so a verb can be run against the engine's ESL session or a plain object.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from esl.protocol import Event


@dataclass(frozen=True)
class Continue:
    pass


@dataclass(frozen=True)
class Fetch:
    """Fetch ``url`` (already resolved to absolute) with ``params`` added to the call's."""

    url: str
    method: str = "POST"
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Hangup:
    cause: str = "NORMAL_CLEARING"


Outcome = Continue | Fetch | Hangup

CONTINUE = Continue()


@dataclass(frozen=True)
class Settings:
    """Engine settings a verb needs (DESIGN, "Operator interface")."""

    recordings_dir: str = "var/recordings"
    public_url: str = "http://127.0.0.1:8000"
    dial_number: str = "sofia/gateway/default/{number}"
    """Dial string for <Number>; ``{number}`` is the number as written."""
    dial_sip_account: str = "user/{username}@{domain}"
    dial_sip_uri: str = "sofia/external/{uri}"
    sip_domain: str = "127.0.0.1"


class Call(Protocol):
    """The running call as a verb sees it."""

    url: str
    """The URL of the document being run (relative URLs and Gather's default action)."""

    uuid: str
    """The channel's uuid; ``sid`` is ``CA`` + its 32 hex digits."""

    sid: str

    params: dict[str, str]
    """Twilio-named call parameters every fetch carries (CallSid, From, To, ...)."""

    settings: Settings

    @property
    def answered(self) -> bool: ...

    @property
    def gone(self) -> bool:
        """True once the caller hung up: a verb then returns at once."""
        ...

    async def execute(self, app: str, arg: str = "") -> Event | None:
        """Run a dialplan app; the CHANNEL_EXECUTE_COMPLETE event, or None if the call ended."""
        ...

    async def answer(self) -> None: ...

    async def media_path(self, url: str) -> str:
        """A local file for a Play URL (fetched through the SSRF guard, cached).

        Raises ``verbs.errors.MediaError`` when it cannot be had."""
        ...

    async def speech_path(self, text: str, language: str, voice: str) -> str:
        """A local WAV of ``text`` spoken in ``language`` (rendered once, cached).

        Raises ``verbs.errors.MediaError`` when it cannot be rendered."""
        ...

    def resolve(self, url: str) -> str:
        """``url`` made absolute against the current document."""
        ...

    async def api(self, command: str) -> str:
        """An api command over the call's own socket; the reply text (``-ERR ...`` on error)."""
        ...

    def listen(self) -> AbstractContextManager[asyncio.Queue[Event]]:
        """While the context is open, every event of this call's socket also lands here.

        The socket carries the caller's channel events (``myevents``): CHANNEL_BRIDGE,
        CHANNEL_UNBRIDGE, DTMF, ...; others only after ``subscribe``."""
        ...

    async def subscribe(self, *names: str) -> None:
        """Also receive these events on the call's socket (``event plain NAMES``), e.g.
        ``"CUSTOM", "conference::maintenance"``: ``myevents`` alone does not carry them,
        and the switch still sends only this channel's. Once per call is enough."""
        ...

    async def load(
        self, url: str, method: str = "POST", params: Sequence[tuple[str, str]] = ()
    ) -> Sequence[Any] | None:
        """Fetch and parse another document (a Conference waitUrl) without leaving this one.

        None when it cannot be fetched or parsed (already logged)."""
        ...

    def emit(self, event: str, data: Mapping[str, str]) -> None:
        """A status event of this call (``conference-join``, ``record-finished``, ...).

        Appended to the call's event stream; webhooks deliver it to the callback URL
        given in ``data["callback_url"]`` when there is one."""
        ...
