"""The SSRF guard refuses before connecting; only 127.0.0.1 is ever actually connected to.

Refused addresses (10.0.0.1, 169.254.169.254, ...) are only used to check the refusal:
`Recording` wraps the real network backend and logs every connect it is asked for, so a
test can show the guard stopped before any packet left.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx
import pytest

from engine.errors import BlockedURL
from engine.fetch import Fetcher
from engine.ssrf import GuardedBackend, GuardedTransport, Policy, refusal_reason
from tests.engine.test_fetch import XML, LoopbackServer


class Recording(httpcore.AsyncNetworkBackend):
    """The real anyio backend, noting every (host, port) it is asked to connect to."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        return await self._real.connect_tcp(host, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


def recording_fetcher(policy: Policy) -> tuple[Fetcher, Recording]:
    inner = Recording()
    limits = httpx.Limits(max_connections=10)
    return Fetcher(transport=GuardedTransport(policy, limits=limits, inner=inner)), inner


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "this-network"),
        ("0.1.2.3", "this-network"),
        ("255.255.255.255", "broadcast"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "not globally routable"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "unique-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1 (loopback)"),
        ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254 (link-local)"),
        ("::10.0.0.1", "IPv4-compatible"),
        ("64:ff9b::a00:1", "NAT64 form of 10.0.0.1 (private)"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("2002:c0a8:101::1", "6to4 form of 192.168.1.1 (private)"),
        ("2002:7f00:1::1", "6to4 form of 127.0.0.1 (loopback)"),
    ],
)
def test_refused_addresses(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8",
                "64:ff9b::808:808", "2002:808:808::1"]
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://10.0.0.1/script", "10.0.0.1 (private)"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 (link-local)"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped form of 127.0.0.1"),
        ("http://[::1]:8080/", "::1 (loopback)"),
        ("https://127.0.0.1/", "127.0.0.1 (loopback)"),
        ("http://localhost:6379/", "(loopback)"),
    ],
)
async def test_fetch_refuses_before_connecting(url: str, shown: str) -> None:
    fetcher, inner = recording_fetcher(Policy())
    async with fetcher:
        with pytest.raises(BlockedURL, match="resolves to") as caught:
            await fetcher.fetch(url)
    assert shown in str(caught.value)
    assert caught.value.code == 11210
    assert inner.connects == []


async def test_loopback_server_is_never_reached_when_guarded(server: LoopbackServer) -> None:
    server.routes["/s"] = lambda h: h.reply(200)
    async with Fetcher() as fetcher:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(BlockedURL, match=host):
                await fetcher.fetch(server.url("/s", host))
    assert server.requests == []


async def test_backend_checks_then_connects_to_the_checked_ip(server: LoopbackServer) -> None:
    """No second lookup: the socket goes to the IP literal that was checked."""
    inner = Recording()
    backend = GuardedBackend(Policy.build(allow_private=True), inner)
    stream = await backend.connect_tcp("localhost", server.port, timeout=5)
    await stream.aclose()
    assert inner.connects and inner.connects[-1] == ("127.0.0.1", server.port)
    guarded = GuardedBackend(Policy(), inner)
    with pytest.raises(BlockedURL):
        await guarded.connect_tcp("10.0.0.1", 80, timeout=5)
    assert ("10.0.0.1", 80) not in inner.connects


async def test_redirect_to_blocked_address_is_refused(server: LoopbackServer) -> None:
    """127.0.0.1 is opened by setting; its redirect to the metadata service is not."""
    server.routes["/hop"] = lambda h: h.reply(
        302, b"", "", {"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    server.routes["/private"] = lambda h: h.reply(307, b"", "", {"Location": "http://10.0.0.1/"})
    server.routes["/ftp"] = lambda h: h.reply(302, b"", "", {"Location": "ftp://10.0.0.1/x"})
    fetcher, inner = recording_fetcher(Policy.build(allowed_networks=["127.0.0.1/32"]))
    async with fetcher:
        with pytest.raises(BlockedURL, match="169.254.169.254"):
            await fetcher.fetch(server.url("/hop"))
        with pytest.raises(BlockedURL, match="10.0.0.1"):
            await fetcher.fetch(server.url("/private"))
        with pytest.raises(BlockedURL, match="only http and https"):
            await fetcher.fetch(server.url("/ftp"))
    assert {host for host, _ in inner.connects} == {"127.0.0.1"}
    assert [seen.path for seen in server.requests] == ["/hop", "/private", "/ftp"]


async def test_allow_private_reaches_loopback(server: LoopbackServer) -> None:
    server.routes["/s"] = lambda h: h.reply(200)
    async with Fetcher(allow_private=True) as fetcher:
        doc = await fetcher.fetch(server.url("/s", "localhost"))
    assert doc.body == XML
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


async def test_only_http_and_https() -> None:
    async with Fetcher(allow_private=True) as fetcher:
        for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "ftp://example.com/"):
            with pytest.raises(BlockedURL, match="only http and https"):
                await fetcher.fetch(url)
