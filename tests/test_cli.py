"""The operator interface from the outside: real processes, configured as an operator would.

`callscript sandbox`, `callscript engine` and `callscript call` run as subprocesses
(options through the environment and flags), talking over loopback sockets only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.stderr.read()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port}")


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
    demo = subprocess.run(
        [sys.executable, "-m", "engine.cli", "demo", "--speed", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    assert "verb <Gather>" in demo.stdout
    assert '{"hangup": "NORMAL_CLEARING"}' in demo.stdout
    assert "'Digits': '1'" in demo.stdout


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
