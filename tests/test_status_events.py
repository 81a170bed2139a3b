"""Status events end to end: sandbox call -> engine -> Redis stream (or the disk spool).

The engine runs with ``--redis`` pointing at a real Redis (the session's, or one this
test starts and kills) and a spool directory of the test's own; assertions read the
stream ``callscript:events`` and the spool files. Nothing is timed: waits poll with a
bounded number of rounds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.services import RedisServer

LIFECYCLE = ["initiated", "ringing", "answered", "completed"]


def response(*verbs: str) -> str:
    return '<?xml version="1.0"?>\n<Response>' + "".join(verbs) + "</Response>"


def stream_events(url: str) -> list[dict]:
    client = redis.Redis.from_url(url)
    return [json.loads(fields[b"e"]) for _, fields in client.xrange("callscript:events")]


def spooled_events(directory: Path) -> list[dict]:
    lines: list[dict] = []
    for segment in sorted(directory.glob("seg-*.jsonl")):
        lines += [json.loads(line) for line in segment.read_text().splitlines() if line]
    return lines


async def until(check: Callable[[], object], rounds: int = 2000) -> object:
    """Poll until ``check`` is truthy (the cap only stops a hung test; nothing is timed)."""
    for _ in range(rounds):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.005)
    raise AssertionError("the expected events never arrived")


def of_call(events: list[dict], sid: str) -> list[dict]:
    return [e for e in events if e["call_sid"] == sid]


def completed(url: str, sid: str) -> Callable[[], list[dict]]:
    def check() -> list[dict]:
        mine = of_call(stream_events(url), sid)
        return mine if mine and mine[-1]["type"] == "completed" else []

    return check


@pytest.fixture
def status_events() -> str:
    return "initiated,ringing,answered,completed"


@pytest.fixture
def redis_for_engine(redis_clean) -> str:
    return redis_clean


@pytest.fixture
def engine_config(engine_config, redis_for_engine, tmp_path, site, status_events):
    return dataclasses.replace(
        engine_config,
        redis=redis_for_engine,
        spool_dir=str(tmp_path / "spool"),
        status_callback=site.url + "/status",
        status_events=status_events,
    )


def sid_of(uuid: str) -> str:
    return "CA" + uuid.replace("-", "")


async def test_lifecycle_events_numbered_from_zero(platform, site, redis_clean) -> None:
    site["/voice"] = response("<Answer/>", '<Pause length="1"/>', "<Hangup/>")

    result = await platform.call()

    sid = sid_of(result.uuid)
    events = await until(completed(redis_clean, sid))
    assert [e["type"] for e in events] == LIFECYCLE
    assert [e["sequence"] for e in events] == [0, 1, 2, 3]
    assert [e["params"]["SequenceNumber"] for e in events] == ["0", "1", "2", "3"]
    assert [e["params"]["CallStatus"] for e in events] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    first, last = events[0], events[-1]
    assert first["callback"] == {
        "url": site.url + "/status",
        "method": "POST",
        "events": LIFECYCLE,
        "format": "form",
    }
    params = last["params"]
    assert params["CallSid"] == sid and params["AccountSid"].startswith("AC")
    assert params["From"] == "15550001111" and params["To"] == "15550002222"
    assert params["Direction"] == "inbound" and params["StatusCallbackEvent"] == "completed"
    assert params["CallbackSource"] == "call-progress-events"
    assert params["Timestamp"].endswith("+0000") and params["CallDuration"].isdigit()
    assert all(len(e["id"]) == 32 for e in events) and len({e["id"] for e in events}) == 4
    record = last["record"]
    assert record["sid"] == sid and record["status"] == "completed"
    assert record["verbs"] == ["Answer", "Pause", "Hangup"]
    assert record["urls"] == [site.url + "/voice"] and record["parent_sid"] is None
    assert record["answer_time"] and record["end_time"] >= record["start_time"]
    assert record["hangup_cause"] == "NORMAL_CLEARING"


@pytest.mark.parametrize("status_events", ["all"])
async def test_all_adds_verb_events_between(platform, site, redis_clean) -> None:
    site["/voice"] = response(
        '<Gather action="/menu" numDigits="2" timeout="5"><Speak>Two digits.</Speak></Gather>'
    )
    site["/menu"] = response("<Hangup/>")

    result = await platform.call(digits="42")

    events = await until(completed(redis_clean, sid_of(result.uuid)))
    types = [e["type"] for e in events]
    assert [t for t in types if t in LIFECYCLE] == LIFECYCLE
    assert types[0:2] == ["initiated", "ringing"] and types[-1] == "completed"
    assert [e["sequence"] for e in events] == list(range(len(events)))
    gather = next(e for e in events if e["type"] == "gather")
    assert gather["params"]["Digits"] == "42"
    assert [e["params"]["Digits"] for e in events if e["type"] == "dtmf"] == ["4", "2"]
    started = [e["params"]["Verb"] for e in events if e["type"] == "verb-started"]
    assert started == ["Gather", "Hangup"]
    finished = [e for e in events if e["type"] == "verb-finished"]
    assert finished[0]["params"]["Result"] == "fetch"
    assert finished[0]["params"]["Digits"] == "42"
    assert types.index("gather") < types.index("completed")
    assert events[-1]["record"]["urls"] == [site.url + "/voice", site.url + "/menu"]


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


class TestRedisAway:
    """The engine's Redis is one this test stops and starts again."""

    @pytest.fixture
    def redis_for_engine(self, own_redis) -> str:
        return own_redis.url

    async def test_calls_complete_events_spool_then_append_in_order(
        self, platform, site, own_redis, engine_config
    ) -> None:
        site["/voice"] = response("<Answer/>", '<Pause length="1"/>', "<Hangup/>")
        spool = Path(engine_config.spool_dir)
        own_redis.kill()

        results = await asyncio.gather(*(platform.call() for _ in range(3)))

        assert all(r.ended and r.hangup_cause == "NORMAL_CLEARING" for r in results)
        sids = [sid_of(r.uuid) for r in results]

        def spooled_completions() -> bool:
            ended = {e["call_sid"] for e in spooled_events(spool) if e["type"] == "completed"}
            return ended >= set(sids)

        await until(spooled_completions)
        spooled = spooled_events(spool)
        own_redis.start()
        await until(lambda: len(stream_events(own_redis.url)) >= len(spooled))
        streamed = stream_events(own_redis.url)
        assert [e["id"] for e in streamed[: len(spooled)]] == [e["id"] for e in spooled]
        for sid in sids:
            mine = of_call(streamed, sid)
            assert [e["type"] for e in mine] == LIFECYCLE
            assert [e["sequence"] for e in mine] == [0, 1, 2, 3]
        await until(lambda: not spooled_events(spool))
