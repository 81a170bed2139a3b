"""engine.fetch against a real HTTP server on 127.0.0.1 (the guard opened with allow_private).

`LoopbackServer` lives here and is imported by test_ssrf and test_media, so the three
modules share one small, real server.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from engine.errors import (
    BadContentType,
    BadStatus,
    BodyTooLarge,
    ConnectFailed,
    FetchTimeout,
    TooManyRedirects,
)
from engine.fetch import Document, Fetcher, Overrides, parse_overrides, redact

XML = b"<Response><Hangup/></Response>"


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


Route = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        owner = self.server.owner
        owner.requests.append(
            Seen(
                self.command,
                parts.path,
                parse_qsl(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
        )
        route = owner.routes.get(parts.path)
        if route is None:
            self.reply(404, b"not found", "text/plain")
        else:
            # the client may stop reading, as it should on a too-large body
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                route(self)

    def reply(
        self,
        status: int,
        body: bytes = XML,
        ctype: str = "text/xml",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1, with routes and a log of what it received."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.release = threading.Event()  # slow routes wait on this, set at teardown
        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for seen in self.requests if seen.path == path)

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(allow_private=True) as f:
        yield f


async def test_post_sends_params_form_encoded(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/script"] = lambda h: h.reply(200, ctype="text/xml; charset=utf-8")
    params = [("CallSid", "CA1"), ("From", "+1555"), ("x", "a&b=c"), ("x", "ü d"), ("Digits", "1#")]
    doc = await fetcher.fetch(server.url("/script"), "POST", params)
    assert doc == Document(
        server.url("/script"), server.url("/script"), 200, "text/xml", XML, "utf-8"
    )
    seen = server.requests[0]
    assert seen.method == "POST"
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(seen.body.decode()) == params
    assert seen.headers["user-agent"].startswith("callscript")


async def test_get_puts_params_in_query(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/script"] = lambda h: h.reply(200, ctype="application/xml")
    await fetcher.fetch(server.url("/script?keep=1"), "GET", [("CallSid", "CA1"), ("To", "+1")])
    seen = server.requests[0]
    assert (seen.method, seen.body) == ("GET", b"")
    assert seen.query == [("keep", "1"), ("CallSid", "CA1"), ("To", "+1")]


async def test_total_timeout_from_fragment(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/slow"] = lambda h: (server.release.wait(10), h.reply(200))
    with pytest.raises(FetchTimeout, match=r"within 0\.3 s") as caught:
        await fetcher.fetch(server.url("/slow") + "#tt=300")
    assert caught.value.code == 11205
    assert caught.value.url == server.url("/slow")


async def test_read_timeout_from_fragment(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/slow"] = lambda h: (server.release.wait(10), h.reply(200))
    with pytest.raises(FetchTimeout, match="timed out waiting"):
        await fetcher.fetch(server.url("/slow") + "#rt=200&rc=0")
    assert server.hits("/slow") == 1


async def test_500_is_bad_status(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/broken"] = lambda h: h.reply(500, b"oops", "text/plain")
    with pytest.raises(BadStatus, match="HTTP 500") as caught:
        await fetcher.fetch(server.url("/broken"))
    assert caught.value.status == 500
    assert server.hits("/broken") == 1  # the default policy retries connect failures only


async def test_html_is_bad_content_type(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/page"] = lambda h: h.reply(200, b"<html/>", "text/html; charset=utf-8")
    with pytest.raises(BadContentType, match="text/html"):
        await fetcher.fetch(server.url("/page"))
    server.routes["/none"] = lambda h: h.reply(200, XML, "")
    with pytest.raises(BadContentType, match="no Content-Type"):
        await fetcher.fetch(server.url("/none"))


async def test_declared_2mb_body_is_too_large(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/big"] = lambda h: h.reply(200, b"<a>" + b"x" * 2_000_000 + b"</a>")
    with pytest.raises(BodyTooLarge, match="1000000-byte limit"):
        await fetcher.fetch(server.url("/big"))


def _undeclared_stream(handler: Handler) -> None:
    """2 MB with no Content-Length (HTTP/1.0, ends at close): only counting can stop it."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/xml")
    handler.end_headers()
    for _ in range(32):
        handler.wfile.write(b"x" * 65_536)


async def test_streamed_2mb_body_is_too_large(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/stream"] = _undeclared_stream
    with pytest.raises(BodyTooLarge, match="a larger body"):
        await fetcher.fetch(server.url("/stream"))


async def test_gzip_bomb_hits_the_cap(server: LoopbackServer, fetcher: Fetcher) -> None:
    """The cap counts decompressed bytes: 2 MB of XML sent as 2 kB of gzip is refused."""
    bomb = gzip.compress(b"<a>" + b" " * 2_000_000 + b"</a>")
    server.routes["/gz"] = lambda h: h.reply(200, bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(BodyTooLarge, match="a larger body"):
        await fetcher.fetch(server.url("/gz"))
    small = gzip.compress(XML)
    server.routes["/ok"] = lambda h: h.reply(200, small, headers={"Content-Encoding": "gzip"})
    assert (await fetcher.fetch(server.url("/ok"))).body == XML


async def test_redirect_loop(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/loop"] = lambda h: h.reply(302, b"", "", {"Location": "/loop"})
    with pytest.raises(TooManyRedirects, match="more than 5 redirects") as caught:
        await fetcher.fetch(server.url("/loop"))
    assert caught.value.code == 11215
    assert server.hits("/loop") == 6


async def test_redirects_change_method_like_browsers(
    server: LoopbackServer, fetcher: Fetcher
) -> None:
    server.routes["/a"] = lambda h: h.reply(303, b"", "", {"Location": "/b#frag"})
    server.routes["/b"] = lambda h: h.reply(307, b"", "", {"Location": "/c"})
    server.routes["/c"] = lambda h: h.reply(200)
    doc = await fetcher.fetch(server.url("/a"), "POST", [("CallSid", "CA1")])
    assert doc.url == server.url("/a")
    assert doc.final_url == server.url("/c")
    assert [(s.method, s.path, s.body) for s in server.requests] == [
        ("POST", "/a", b"CallSid=CA1"),
        ("GET", "/b", b""),
        ("GET", "/c", b""),
    ]
    server.requests.clear()
    server.routes["/p"] = lambda h: h.reply(307, b"", "", {"Location": "/c"})
    await fetcher.fetch(server.url("/p"), "POST", [("CallSid", "CA2")])
    assert [(s.method, s.body) for s in server.requests] == [
        ("POST", b"CallSid=CA2"),
        ("POST", b"CallSid=CA2"),
    ]


def test_overrides_parsed_and_clamped() -> None:
    url, rules = parse_overrides("https://x.test/s?a=1#ct=1000&rt=20000&tt=50&rc=9&rp=4xx,rt&e=y")
    assert url == "https://x.test/s?a=1"
    assert rules == Overrides(
        connect=1.0, read=15.0, total=0.1, retries=5, retry_on=frozenset({"4xx", "rt"})
    )
    assert parse_overrides("https://x.test/#rp=all&rc=-1&ct=abc")[1] == Overrides(
        retry_on=frozenset({"ct", "rt", "4xx", "5xx"})
    )
    assert parse_overrides("https://x.test/s#section") == ("https://x.test/s", Overrides())


async def test_fragment_stripped_before_request(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/s"] = lambda h: h.reply(200)
    doc = await fetcher.fetch(server.url("/s?q=1") + "#ct=2000&rc=2")
    assert doc.url == doc.final_url == server.url("/s?q=1")
    assert server.requests[0].query == [("q", "1")]


async def test_connect_refused_retries_as_rc_says(
    fetcher: Fetcher, caplog: pytest.LogCaptureFixture, closed_port: int
) -> None:
    url = f"http://127.0.0.1:{closed_port}/s"
    with caplog.at_level(logging.WARNING, "engine.fetch"):
        with pytest.raises(ConnectFailed, match="after 3 attempts") as caught:
            await fetcher.fetch(url + "#rc=2")
        assert len(caplog.records) == 2
        caplog.clear()
        with pytest.raises(ConnectFailed) as once:
            await fetcher.fetch(url + "#rc=0")
        assert not caplog.records
    assert caught.value.code == 11205
    assert "Connection refused" in str(once.value)
    assert "after" not in str(once.value)


async def test_retry_policy_5xx(server: LoopbackServer, fetcher: Fetcher) -> None:
    answers = iter([500, 200])
    server.routes["/flaky"] = lambda h: h.reply(next(answers))
    doc = await fetcher.fetch(server.url("/flaky") + "#rp=5xx&rc=1")
    assert doc.status == 200
    assert server.hits("/flaky") == 2


def test_redact_hides_password() -> None:
    assert redact("https://user:secret@x.test/s") == "https://user:***@x.test/s"
    assert redact("https://x.test/s") == "https://x.test/s"
