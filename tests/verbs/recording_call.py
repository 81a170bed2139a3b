"""A plain Call for running verbs without a switch: it records every app and answers
each with a CHANNEL_EXECUTE_COMPLETE event built like the ones in esl-captures/."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

from lxml import etree

from esl.protocol import Event
from verbs.errors import MediaError

T = TypeVar("T")

SCRIPT_URL = "http://scripts.example/ivr/main.xml"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def element(xml: str) -> etree._Element:
    """Parse one element; leading newlines set its line number."""
    return etree.fromstring(xml)


def completion(app: str, arg: str, response: str = "_none_",
               variables: tuple[tuple[str, str], ...] = ()) -> Event:
    fields = (
        ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
        ("Application", app),
        ("Application-Data", arg),
        ("Application-Response", response),
        *variables,
    )
    return Event(headers=(("Content-Type", "text/event-plain"),), fields=fields)


class RecordingCall:
    """Implements verbs.base.Call. ``variables`` are added to every completion event
    (e.g. ``variable_cs_gather_digits``); ``hang_up_on`` makes the Nth execute (1-based)
    find the caller gone; URLs in ``missing`` fail to fetch."""

    def __init__(self, url: str = SCRIPT_URL, answered: bool = True,
                 variables: tuple[tuple[str, str], ...] = (), hang_up_on: int | None = None,
                 missing: tuple[str, ...] = (), speech_dir: str = "/media/tts") -> None:
        self.url = url
        self._answered = answered
        self._gone = False
        self.variables = variables
        self.hang_up_on = hang_up_on
        self.missing = missing
        self.speech_dir = speech_dir
        self.commands: list[tuple[str, str]] = []
        self.fetched: list[str] = []
        self.spoken: list[tuple[str, str, str]] = []

    @property
    def answered(self) -> bool:
        return self._answered

    @property
    def gone(self) -> bool:
        return self._gone

    def hang_up(self) -> None:
        self._gone = True

    async def execute(self, app: str, arg: str = "") -> Event | None:
        self.commands.append((app, arg))
        if self._gone:
            return None
        if self.hang_up_on == len(self.commands):
            self._gone = True
            return None
        response = "FILE PLAYED" if app == "playback" else "_none_"
        return completion(app, arg, response, self.variables)

    async def answer(self) -> None:
        self.commands.append(("answer", ""))
        self._answered = True

    async def media_path(self, url: str) -> str:
        self.fetched.append(url)
        if url in self.missing:
            raise MediaError(f"404 Not Found: {url}")
        return "/media/" + urlsplit(url).path.rsplit("/", 1)[-1]

    async def speech_path(self, text: str, language: str, voice: str) -> str:
        self.spoken.append((text, language, voice))
        return f"{self.speech_dir}/{voice}-{language}-{len(self.spoken)}.wav"

    def resolve(self, url: str) -> str:
        return urljoin(self.url, url)
