"""`callscript api` from the outside: gunicorn with deploy/gunicorn.conf.py, options passed
through the environment exactly as given, and no secret in its logs."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import requests

from api import credentials
from api.serve import environment
from engine import config
from engine.storage import open_database
from tests.services import wait_for

ROOT = Path(__file__).resolve().parents[1]
SHOW_CONFIG = """import json
from api.app import create_app
app = create_app()
keys = ("DATABASE", "REDIS", "PUBLIC_URL", "DIRECTORY_SECRET", "SIP_DOMAIN",
        "ALLOW_PRIVATE_URLS", "RATE_LIMIT")
print(json.dumps({key: app.config[key] for key in keys}))
"""


def app_config(flags: list[str]) -> dict:
    """The config a real app builds from what `callscript api` puts in its environment."""
    args = config.parse("api", flags, environ={})
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIPT")}
    done = subprocess.run([sys.executable, "-c", SHOW_CONFIG], cwd=ROOT, text=True,
                          env={**env, **environment(args)}, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_options_reach_the_app_exactly_as_given(tmp_path):
    database = f"sqlite:///{tmp_path}/a.db"
    got = app_config(["--database", database, "--directory-secret", "12345", "--redis", "",
                      "--public-url", "https://api.example.com/base", "--allow-private-urls",
                      "--rate-limit", "7/second", "--sip-domain", "10.0.0.1"])
    assert got == {"DATABASE": database, "REDIS": None,
                   "PUBLIC_URL": "https://api.example.com/base", "DIRECTORY_SECRET": "12345",
                   "SIP_DOMAIN": "10.0.0.1", "ALLOW_PRIVATE_URLS": True, "RATE_LIMIT": "7/second"}
    tricky = app_config(["--database", database, "--directory-secret", "null",
                         "--redis", "redis://127.0.0.1:1/0", "--no-allow-private-urls"])
    assert tricky["DIRECTORY_SECRET"] == "null" and tricky["REDIS"] == "redis://127.0.0.1:1/0"
    assert tricky["ALLOW_PRIVATE_URLS"] is False


class Served:
    """`callscript api` as a subprocess; its stdout and stderr collected by threads."""

    def __init__(self, *flags: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "api", *flags], cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=lines.extend, args=(stream,), daemon=True)
            for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self.readers:
            reader.start()

    def url(self) -> str:
        def line() -> str | None:
            assert self.proc.poll() is None, "".join(self.err)
            found = [m for m in map(re.compile(r"listening on (\S+) ").search, self.out) if m]
            return found[0].group(1) if found else None

        return wait_for(line, 60, lambda: "".join(self.err) or "the listening line")

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)
        for reader in self.readers:
            reader.join(10)  # the pipes close when gunicorn and its workers have exited
        return "".join(self.out + self.err)  # the access log is on stdout


def test_callscript_api_serves_and_logs_no_secret(tmp_path):
    database = f"sqlite:///{tmp_path}/api.db"
    served = Served("--listen", "127.0.0.1:0", "--database", database, "--redis", "",
                    "--workers", "2", "--rate-limit", "8/hour", "--allow-private-urls")
    try:
        base = served.url()
        db = open_database(database)  # migrated by `callscript api` before gunicorn started
        with db.session() as session:
            key = credentials.create_account(session, "served")
        db.close()
        query = {"api_key": key.api_key, "api_auth": key.api_secret, "status": "completed"}
        listed = requests.get(f"{base}/v1/calls", params=query, timeout=10)
        assert listed.status_code == 200 and listed.json()["calls"] == []
        basic = base64.b64encode(f"{key.api_key}:{key.api_secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}",
                   "Referer": f"{base}/v1/?api_key={key.api_key}&api_auth={key.api_secret}"}
        created = requests.post(f"{base}/v1/externalscripts", headers=headers, timeout=10,
                                json={"url": "http://127.0.0.1:9/voice"})  # private: allowed
        assert created.status_code == 201, created.text
        replay = requests.post(f"{base}/v1/deliveries/msg_x/replay", headers=headers, timeout=10)
        assert replay.status_code == 404
        # 8/hour per worker (no Redis: each of the 2 keeps its own count): 20 cannot all pass
        answers = [requests.get(f"{base}/v1/calls", headers=headers, timeout=10)
                   for _ in range(20)]
        limited = [a for a in answers if a.status_code == 429]
        assert limited and limited[0].json()["code"] == 20429
        assert 1 <= int(limited[0].headers["Retry-After"]) <= 3600
    finally:
        log = served.stop()
    assert served.proc.returncode == 0, log
    assert '"GET /v1/calls HTTP/1.1" 200' in log and '"POST /v1/externalscripts' in log
    assert key.api_secret not in log and "api_auth" not in log and basic not in log


def test_a_database_it_cannot_open_is_one_clear_line():
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "api", "--database",
         "postgresql://callscript:hunter2@127.0.0.1:1/none"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("callscript api: database postgresql://callscript:***@")
    assert "hunter2" not in done.stderr
