"""The operator interface from the outside: real processes, configured as an operator would.

`callscript sandbox`, `callscript engine` and `callscript call` run as subprocesses
(options through the environment and flags), talking over loopback sockets only.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    def listening() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.stderr.read()}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, timeout, f"something listening on {port}")


def callscript(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


@pytest.fixture
def processes(tmp_path):
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        proc.terminate()
        proc.wait(10)


def test_engine_sandbox_and_call_as_separate_processes(site, processes, tmp_path) -> None:
    site["/voice"] = (
        '<Response><Answer/><Gather action="/next" numDigits="1">'
        '<Pause length="1"/></Gather></Response>'
    )
    site["/next"] = '<Response><Pause length="1"/><Hangup/></Response>'
    engine_port, switch_port = free_port(), free_port()
    engine = callscript(
        "engine",
        "--default-url",
        site.url + "/voice",
        "--allow-private-urls",
        env={
            "CALLSCRIPT_ENGINE_LISTEN": f"127.0.0.1:{engine_port}",
            "CALLSCRIPT_SWITCH": f"127.0.0.1:{switch_port}",
            "CALLSCRIPT_ENGINE_MEDIA_DIR": str(tmp_path / "media"),
            "CALLSCRIPT_ENGINE_REDIS": "",  # no event stream: only the call is under test
            "CALLSCRIPT_ENGINE_DATABASE": "",  # no routing from the API: --default-url
            "CALLSCRIPT_ENGINE_SPOOL_DIR": str(tmp_path / "spool"),
        },
    )
    processes.append(engine)
    wait_listening(engine_port, engine)
    sandbox = callscript(
        "sandbox",
        "--listen",
        f"127.0.0.1:{switch_port}",
        "--engine",
        f"127.0.0.1:{engine_port}",
        "--speed",
        "50",
    )
    processes.append(sandbox)
    wait_listening(switch_port, sandbox)

    call = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "call",
            "--switch",
            f"127.0.0.1:{switch_port}",
            "--to",
            "15550009999",
            "--digits",
            "5",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert call.returncode == 0, call.stderr
    lines = [json.loads(line) for line in call.stdout.splitlines()]
    assert [line.get("app") for line in lines[:-1]] == ["answer", "play_and_get_digits", "sleep"]
    assert lines[-1] == {"hangup": "NORMAL_CLEARING"}
    assert site.posted("/next")[0]["Digits"] == "5"
    assert site.posted("/voice")[0]["To"] == "15550009999"


def test_call_reports_a_switch_that_is_not_there() -> None:
    call = subprocess.run(
        [sys.executable, "-m", "engine.cli", "call", "--switch", f"127.0.0.1:{free_port()}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert call.returncode == 1
    assert "cannot reach the switch" in call.stderr


def test_demo_runs_one_call_to_its_end() -> None:
    """The demo's call, then the webhooks it produced (its own redis-server and worker):
    the four lifecycle events and every verb event, numbered 0..N without a gap, each
    signature verified, and the call record the worker stored."""
    demo = subprocess.run(
        [sys.executable, "-m", "engine.cli", "demo", "--speed", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "verb <Gather>" in demo.stdout
    assert '{"hangup": "NORMAL_CLEARING"}' in demo.stdout
    assert "'Digits': '1'" in demo.stdout
    hooks = re.findall(
        r"^webhook +(\d+) (\S+) +(signature verified|SIGNATURE INVALID)(.*)$",
        demo.stdout,
        re.MULTILINE,
    )
    numbers = [int(n) for n, *_ in hooks]
    assert numbers == list(range(len(hooks))), demo.stdout
    events = [event for _, event, _, _ in hooks]
    lifecycle = [e for e in events if e in ("initiated", "ringing", "answered", "completed")]
    assert lifecycle == ["initiated", "ringing", "answered", "completed"], events
    assert events[-1] == "completed"
    assert {"verb-started", "verb-finished", "gather", "dtmf"} <= set(events), events
    assert all(
        verdict == "signature verified" and "INVALID" not in rest for _, _, verdict, rest in hooks
    ), demo.stdout
    assert "Verb=Gather Result=fetch Digits=1" in demo.stdout
    record = json.loads(demo.stdout.split("call record ", 1)[1].splitlines()[0])
    assert record["status"] == "completed" and record["hangup_cause"] == "NORMAL_CLEARING"
    assert record["verbs"] == ["Answer", "Speak", "Gather", "Play", "Speak", "Hangup"]
    assert [url.rsplit("/", 1)[1] for url in record["urls"]] == ["", "menu"]


def test_demo_on_a_given_redis_refuses_one_that_carries_events(redis_clean) -> None:
    """`--redis` holding callscript's stream already: the demo's worker would take those
    events into its throwaway database, so it stops at once and touches nothing. On an
    empty one it runs, and removes the stream it made."""
    import redis

    client = redis.Redis.from_url(redis_clean)
    client.xadd("callscript:events", {"e": "{}"})
    demo = subprocess.run(
        [sys.executable, "-m", "engine.cli", "demo", "--redis", redis_clean],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert demo.returncode == 1
    assert "already holds the event stream callscript:events" in demo.stderr
    assert client.xlen("callscript:events") == 1

    client.delete("callscript:events")
    demo = subprocess.run(
        [sys.executable, "-m", "engine.cli", "demo", "--redis", redis_clean, "--speed", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"redis {redis_clean}" in demo.stdout
    assert not client.exists("callscript:events")  # the demo removes the stream it made


def test_unknown_command_and_bad_environment_are_clear() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "engine.cli", "fly"], cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown command 'fly'" in bad.stderr
    env = {**os.environ, "CALLSCRIPT_ENGINE_ALLOW_PRIVATE_URLS": "perhaps"}
    bad = subprocess.run(
        [sys.executable, "-m", "engine.cli", "engine"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2 and "CALLSCRIPT_ENGINE_ALLOW_PRIVATE_URLS" in bad.stderr


def test_readme_command_table_lists_every_option_of_every_command() -> None:
    """README's command table is what operators read: every option `callscript COMMAND
    --help` shows (engine.config.COMMANDS builds those parsers) is in its command's rows."""
    from engine.config import COMMANDS

    rows: dict[str, str] = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        found = re.match(r"\| `callscript (\w+)`", line)
        if found:
            rows[found[1]] = rows.get(found[1], "") + line
    assert set(COMMANDS) <= set(rows), set(COMMANDS) - set(rows)
    missing = [
        f"{command} --{option.name}"
        for command, options in COMMANDS.items()
        for option in options
        if f"`--{option.name}" not in rows[command]
    ]
    assert not missing, missing
    assert "--all" in rows["webhooks"] and "upgrade" in rows["db"]
