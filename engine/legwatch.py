"""B-legs followed on the engine's inbound ESL links, by uuid (DESIGN, "Ids").

A caller's outbound socket shows only the caller (``myevents``), so each leg a bridge
dials is followed on the engine's inbound link to each switch (engine/server.py), and
only that leg: mod_event_socket passes every subscribed event to a connection without
filters, and to one with filters only the events one of them matches.

- Attaching a link, once connected: ``filter Event-Name BACKGROUND_JOB`` first, a
  placeholder no channel event matches, so with nothing watched the link stays quiet
  while ``bgapi`` results still reach it; then ``filter Unique-ID`` for each leg still
  watched (after a reconnect); then ``event plain`` for EVENTS.
- Watching (engine/blegs.py, before the ``bridge`` app runs): ``filter Unique-ID <uuid>``
  on every connected link, each reply awaited, so the leg's CHANNEL_CREATE cannot slip
  by. With several switches every link gets it; the one that owns the leg reports it.
- Unwatching (``filter delete Unique-ID <uuid>`` on every link): when the leg's
  CHANNEL_HANGUP_COMPLETE arrives; when the bridge is over and the switch never created
  the leg (it is not in ``originate_causes``); or, for a leg whose end never arrived (a
  link lost meanwhile), GRACE seconds after the bridge ended, its missing events then
  derived (engine/blegs.py).

With no link connected, legs are not watched and their events are derived after the
bridge; the first such bridge logs why (once per outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from engine.blegs import Leg
from esl.connection import InboundClient
from esl.errors import ESLError
from esl.protocol import Event

log = logging.getLogger(__name__)

LEG_EVENTS = frozenset({
    "CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
    "CHANNEL_HANGUP_COMPLETE",
})
EVENTS = (*sorted(LEG_EVENTS), "BACKGROUND_JOB")
PLACEHOLDER = ("Event-Name", "BACKGROUND_JOB")
GRACE = 10.0
"""Seconds after its bridge ends that a leg's last events may still be on their way: they
travel on the inbound link, not on the caller's socket that reports the bridge's end."""


class LegWatch:
    """Every watched leg of one engine process, and the switch links that report them."""

    def __init__(self) -> None:
        self.links: set[InboundClient] = set()
        self.legs: dict[str, Leg] = {}
        self.received = 0
        """Events of watched legs that arrived."""
        self.strays = 0
        """Channel events that arrived for no watched leg (a filter left behind)."""
        self.reason = "no switch link is connected"
        self._warned = False
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()

    async def attach(self, client: InboundClient) -> None:
        """A link just connected: filters first (placeholder, legs still watched), then
        the subscription, so no unfiltered event ever reaches it."""
        uuids = list(self.legs)
        self.links.add(client)  # legs watched from now on get their filter on it too
        client.on_event = self.on_event
        try:
            await client.filter(*PLACEHOLDER)
            for leg_uuid in uuids:
                await client.filter("Unique-ID", leg_uuid)
            for leg_uuid in uuids:  # legs that ended meanwhile: no filter left behind
                if leg_uuid not in self.legs:
                    await client.unfilter("Unique-ID", leg_uuid)
            await client.subscribe(EVENTS)
        except ESLError:
            self.links.discard(client)
            raise
        self._warned = False

    def detach(self, client: InboundClient) -> None:
        self.links.discard(client)

    async def watch(self, legs: list[Leg]) -> bool:
        """Have every link pass these legs' events; False (legs left to be derived) when
        no link could."""
        links = list(self.links)
        for leg in legs:
            self.legs[leg.uuid] = leg
            leg.watched = True
        errors = await asyncio.gather(*(self._add(client, legs) for client in links))
        if any(error is None for error in errors):
            return True
        for leg in legs:
            self.legs.pop(leg.uuid, None)
            leg.watched = False
        self._fallback(f"the switch links failed ({errors[0]})" if errors else self.reason)
        return False

    @staticmethod
    async def _add(client: InboundClient, legs: list[Leg]) -> BaseException | None:
        """One link's filters for these legs, sent together (replies come in order)."""
        sends = (client.filter("Unique-ID", leg.uuid) for leg in legs)
        results = await asyncio.gather(*sends, return_exceptions=True)
        return next((r for r in results if isinstance(r, BaseException)), None)

    def _fallback(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("B-leg events are derived after each bridge, not observed: %s", why)

    def unwatch(self, leg_uuid: str) -> None:
        """Forget the leg and delete its filter on every link."""
        if self.legs.pop(leg_uuid, None) is None or self._closing:
            return
        for client in self.links:
            self._spawn(self._unfilter(client, leg_uuid))

    @staticmethod
    async def _unfilter(client: InboundClient, leg_uuid: str) -> None:
        with contextlib.suppress(ESLError):
            await client.unfilter("Unique-ID", leg_uuid)

    def settle(self, legs: list[Leg], tried: set[str] | None) -> None:
        """Their bridge is over. ``tried``: the uuids the switch created (None: unknown)."""
        for leg in legs:
            if not leg.seen and tried is not None and leg.uuid not in tried:
                self.unwatch(leg.uuid)
        rest = [leg for leg in legs if not leg.ended.is_set() and leg.uuid in self.legs]
        if rest:
            self._spawn(self._settle(rest))

    async def _settle(self, legs: list[Leg]) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(GRACE):
                    await asyncio.gather(*(leg.ended.wait() for leg in legs))
        finally:
            for leg in legs:
                if not leg.ended.is_set():
                    self.unwatch(leg.uuid)
                    leg.give_up()

    def on_event(self, event: Event) -> None:
        """A link's event: to its leg; the leg's last one ends the watch."""
        if event.name not in LEG_EVENTS:
            return
        leg = self.legs.get(event.unique_id or "")
        if leg is None:
            self.strays += 1
            log.debug("event %s of %s, which no bridge watches", event.name, event.unique_id)
            return
        self.received += 1
        leg.observe(event)
        if leg.ended.is_set():
            self.unwatch(leg.uuid)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Engine stop: settling legs get their derived events now; no more commands."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
