"""EventStream and its spool on a real Redis (the session's) and a closed port.

A "closed port" is a loopback port nothing listens on: Redis is unreachable there, so
events must land in the spool, in order, and be appended when a stream pointed at a
live Redis is started on the same spool directory (an engine restart).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path

import pytest
import redis

from engine.config import EngineConfig, parse
from engine.events import STREAM, EventStream
from engine.spool import Spool


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def event(n: int, call: str = "CA1") -> dict:
    return {"id": f"{n:032x}", "type": "initiated", "call_sid": call, "sequence": n}


def streamed(url: str) -> list[dict]:
    client = redis.Redis.from_url(url)
    return [json.loads(fields[b"e"]) for _, fields in client.xrange(STREAM)]


async def until(check, rounds: int = 2000) -> None:
    for _ in range(rounds):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never reached")


async def test_events_reach_the_stream_in_order(redis_clean, tmp_path) -> None:
    stream = EventStream(redis_clean, tmp_path / "spool")
    stream.start()
    for n in range(1200):
        stream.emit(event(n))
    assert await stream.flush()
    await stream.aclose()
    assert [e["sequence"] for e in streamed(redis_clean)] == list(range(1200))
    assert stream.counts["appended"] == 1200 and stream.counts["spooled"] == 0


async def test_unreachable_redis_spools_and_a_restart_replays(redis_clean, tmp_path) -> None:
    spool = tmp_path / "spool"
    away = EventStream(closed_port_url(), spool)
    away.start()
    for n in range(700):
        away.emit(event(n))
    await until(lambda: away.counts["spooled"] == 700)
    await away.aclose()
    assert list(spool.glob("seg-*.jsonl")) and streamed(redis_clean) == []

    back = EventStream(redis_clean, spool)  # the engine restarted, Redis is there now
    back.start()
    back.emit(event(700))  # emitted after the restart: behind the spooled ones
    assert await back.flush()
    await back.aclose()
    assert [e["sequence"] for e in streamed(redis_clean)] == list(range(701))
    assert not list(spool.glob("seg-*.jsonl"))


async def test_emit_never_blocks_or_raises_without_redis(tmp_path) -> None:
    stream = EventStream(closed_port_url(), tmp_path / "spool")
    stream.start()
    stream.emit({"id": "x", "call_sid": "CA1", "odd": {1, 2}})  # not JSON: kept as text
    stream.emit(event(1))
    await until(lambda: stream.counts["spooled"] == 2)
    await stream.aclose()
    lines = (tmp_path / "spool").glob("seg-*.jsonl")
    kept = [json.loads(x) for path in lines for x in path.read_text().splitlines()]
    assert [e.get("id") for e in kept] == ["x", event(1)["id"]]


async def test_full_spool_refuses_new_events_loudly(tmp_path, caplog) -> None:
    line = len(json.dumps(event(0), separators=(",", ":"))) + 1
    stream = EventStream(closed_port_url(), tmp_path / "spool", max_spool_bytes=line * 10)
    stream.start()
    with caplog.at_level(logging.ERROR, logger="engine.events"):
        for n in range(15):
            stream.emit(event(n))
        await until(lambda: stream.counts["spooled"] + stream.counts["refused"] == 15)
    await stream.aclose()
    assert stream.counts == {"emitted": 15, "appended": 0, "spooled": 10, "refused": 5}
    assert "SPOOL FULL" in caplog.text and f"{14:032x}" in caplog.text
    kept = Spool(tmp_path / "spool").peek(100)[0]
    assert [json.loads(x)["sequence"] for x in kept] == list(range(10))  # oldest kept


async def test_torn_line_is_set_aside_and_the_rest_appended(redis_clean, tmp_path) -> None:
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir)
    spool.append([json.dumps(event(0)), json.dumps(event(1))])
    spool.close()
    segment = next(spool_dir.glob("seg-*.jsonl"))
    with segment.open("a") as handle:
        handle.write('{"id": "torn')  # a crash in the middle of a write
    stream = EventStream(redis_clean, spool_dir)
    stream.start()
    stream.emit(event(2))
    assert await stream.flush()
    await stream.aclose()
    assert [e["sequence"] for e in streamed(redis_clean)] == [0, 1, 2]
    assert (spool_dir / "rejected.jsonl").read_text() == '{"id": "torn\n'


def test_spool_keeps_its_place_across_segments(tmp_path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    spool.append([json.dumps(event(n)) for n in range(20)])
    lines, offset = spool.peek(3)
    spool.commit(offset)
    spool.close()
    again = Spool(tmp_path, segment_bytes=200)  # reopened: the cursor is on disk
    order = []
    while not again.empty:
        lines, offset = again.peek(4)
        order += [json.loads(x)["sequence"] for x in lines]
        again.commit(offset)
    assert order == list(range(3, 20)) and not list(Path(tmp_path).glob("seg-*"))


def test_engine_status_options() -> None:
    args = parse(
        "engine",
        [
            "--status-callback",
            "https://example.com/s",
            "--status-events",
            "initiated,completed",
            "--status-format",
            "json",
            "--redis",
            "redis://127.0.0.1:1/0",
            "--spool-dir",
            "/tmp/x",
        ],
    )
    config = EngineConfig.from_args(args)
    assert config.status_callback == "https://example.com/s"
    assert config.status_events == "initiated,completed" and config.status_format == "json"
    assert config.redis == "redis://127.0.0.1:1/0" and config.spool_dir == "/tmp/x"
    assert EngineConfig.from_args(parse("engine", [])).status_events == "completed"
    for bad in (["--status-events", "hung"], ["--status-format", "xml"]):
        with pytest.raises(ValueError):
            EngineConfig.from_args(parse("engine", ["--status-callback", "http://a/", *bad]))
