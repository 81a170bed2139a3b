"""What every verb shares: the outcomes it returns and the call it runs on.

Control flow is data. A verb's ``run`` returns ``Continue`` (go on with the next verb),
``Fetch`` (leave this document for another URL: a Gather action, a Redirect) or
``Hangup``; it never raises to steer the call. ``Call`` is the one seam between a verb
and the switch, so a verb can be run against the engine's ESL session or a plain object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


class Call(Protocol):
    """The running call as a verb sees it."""

    url: str
    """The URL of the document being run (relative URLs and Gather's default action)."""

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
