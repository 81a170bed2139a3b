"""<Play loop="1">URL</Play>: play an audio file (Twilio's Play, without ``digits``).

The engine fetches the URL itself (``call.media_path``: SSRF guard, size cap, cache) and
the switch plays the local file, once per loop. A URL that cannot be fetched does not end
the call: as Twilio does (a warning in the debugger, then the next verb), the failure is
logged and the verb is skipped, because a missing prompt is better than a dropped caller.
``loop="0"`` means "until the caller hangs up", capped at ``attrs.LOOP_FOREVER`` plays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from verbs import attrs
from verbs.base import CONTINUE, Call, Hangup, Outcome
from verbs.errors import MediaError

TAG = "Play"
NEEDS_ANSWER = True
MAX_LOOP = 1000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Play:
    url: str
    loop: int = 1
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Play:
    attrs.check_attributes(element, ("loop",))
    url = attrs.check_url(attrs.text_of(element, 4096), element, None, document=False)
    loop = attrs.get_int(element, "loop", 1, 0, MAX_LOOP)
    return Play(url=url, loop=loop, line=attrs.line_of(element))


async def media_file(call: Call, url: str) -> str | None:
    """The local file for ``url``, or None (logged) when it cannot be had. Shared with
    Gather, whose prompt skips a missing file the same way."""
    absolute = call.resolve(url)
    try:
        return await call.media_path(absolute)
    except MediaError as exc:
        log.warning("Play skipped: %s could not be fetched: %s", absolute, exc)
        return None


async def play_file(call: Call, path: str, times: int) -> Outcome:
    """``playback`` ``times`` times; Hangup as soon as the caller is gone."""
    for _ in range(times):
        if call.gone:
            return Hangup()
        event = await call.execute("playback", path)
        if event is None or call.gone:
            return Hangup()
    return CONTINUE


async def run(call: Call, verb: Play) -> Outcome:
    if call.gone:
        return Hangup()
    path = await media_file(call, verb.url)
    if path is None:
        return CONTINUE
    return await play_file(call, path, attrs.repeat_count(verb.loop))
