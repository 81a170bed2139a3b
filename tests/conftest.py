"""Shared fixtures: a real script server on loopback, and a platform (sandbox + engine).

The script server is a real Flask app served by werkzeug from a thread; each test says
what each path answers and reads back what was posted. The platform is the sandbox
switch and an engine in this test's event loop, talking over real loopback sockets.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from flask import Flask, Response, request

from engine.config import EngineConfig
from engine.samples import ScriptServer

# Fixtures of the webhook tests (receiver, pipeline, any_database).
pytest_plugins = ["tests.webhook_rig"]

Answer = tuple[int, str, bytes | str] | str
Handler = Callable[[dict[str, str]], Answer]


@dataclass
class Hit:
    method: str
    path: str
    form: dict[str, str]
    args: dict[str, str]


@dataclass
class ScriptSite:
    """Paths to answers (an XML string, a (status, content type, body) or a function)."""

    routes: dict[str, Answer | Handler] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __setitem__(self, path: str, answer: Answer | Handler) -> None:
        self.routes[path] = answer

    def posted(self, path: str) -> list[dict[str, str]]:
        return [hit.form for hit in self.hits if hit.path == path]

    def respond(self, path: str) -> Response:
        with self.lock:
            self.hits.append(
                Hit(request.method, path, request.form.to_dict(), request.args.to_dict())
            )
        answer = self.routes.get(path)
        if answer is None:
            return Response("not found", 404, content_type="text/plain")
        if callable(answer):
            answer = answer(request.values.to_dict())
        if isinstance(answer, str):
            return Response(answer, 200, content_type="text/xml")
        status, ctype, body = answer
        return Response(body, status, content_type=ctype)


@pytest.fixture
def site():
    app = Flask("test-scripts")
    scripts = ScriptSite()

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def any_path(path: str) -> Response:
        return scripts.respond("/" + path)

    with ScriptServer(app) as server:
        scripts.url = server.url.rstrip("/")
        yield scripts


@dataclass
class Platform:
    engine: object
    sandbox: object
    password: str = "ClueCon"

    async def call(self, to: str = "15550002222", digits: str = "", **kw):
        from sandbox.caller import place_call

        lines: list[str] = []
        result = await place_call(
            ("127.0.0.1", self.sandbox.port),
            self.password,
            kw.pop("from_", "15550001111"),
            to,
            digits,
            out=lines.append,
            timeout=kw.pop("timeout", 30),
            # An hour of switch time (7 s at x500): a loaded machine must not turn a slow
            # first fetch into NO_ANSWER; a test that wants the ring timeout passes its own.
            ring_timeout=kw.pop("ring_timeout", 3600),
            **kw,
        )
        return result


@pytest.fixture
def engine_config(site, tmp_path) -> EngineConfig:
    """Override fields with dataclasses.replace in a test that needs other settings."""
    return EngineConfig(
        listen=("127.0.0.1", 0),
        default_url=site.url + "/voice",
        allow_private_urls=True,
        media_dir=str(tmp_path / "media"),
        recordings_dir=str(tmp_path / "recordings"),
    )


@pytest.fixture
def sandbox_speed() -> float:
    """How much faster than real time the sandbox runs (parametrize to change)."""
    return 500.0


@pytest.fixture
async def platform(engine_config, sandbox_speed):
    from engine.server import Engine
    from sandbox.switch import Sandbox

    engine = Engine(engine_config)
    await engine.start(link_switches=False)
    sandbox = Sandbox("127.0.0.1:0", "ClueCon", f"127.0.0.1:{engine.port}", sandbox_speed)
    await sandbox.start()
    try:
        yield Platform(engine, sandbox)
    finally:
        await sandbox.stop()
        await engine.stop()


@pytest.fixture
def closed_port():
    """A loopback port that refuses connections for the whole test: bound, never listening,
    so no server the test starts can be given it (a free_port() number can)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A Redis of the tests' own, on a free port (no persistence), for the whole session."""
    from tests.services import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.kill()


@pytest.fixture
def redis_clean(redis_url):
    """``redis_url``, emptied before the test."""
    import redis

    redis.Redis.from_url(redis_url).flushall()
    return redis_url


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for the session on the local server (127.0.0.1:5432),
    dropped afterwards. CALLSCRIPT_TEST_POSTGRES overrides the server URL."""
    from tests.services import postgres_database

    with postgres_database() as url:
        yield url
