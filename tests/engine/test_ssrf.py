"""The SSRF guard refuses before connecting; only 127.0.0.1 is ever actually connected to.

Refused addresses (10.0.0.1, 169.254.169.254, ...) are only used to check the refusal:
the `connects` fixture wraps the real `socket.socket.connect` (which asyncio's non-blocking
connect calls, under aiohttp and aiohappyeyeballs) and logs every address any socket of
the process is asked to reach, so a test can show the guard stopped before any packet
left. `lookups` does the same for `socket.getaddrinfo`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from engine.errors import BlockedURL
from engine.fetch import Fetcher
from engine.ssrf import GuardedResolver, Policy, refusal_reason
from tests.engine.test_fetch import XML, LoopbackServer


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (address, port) a socket connects to during the test, then the real connect."""
    seen: list[tuple[str, int]] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            seen.append((address[0], address[1]))
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            seen.append((address[0], address[1]))
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return seen


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name passed to getaddrinfo during the test, then the real lookup."""
    seen: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return seen


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


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
async def test_fetch_refuses_before_connecting(
    url: str, shown: str, connects: list[tuple[str, int]]
) -> None:
    async with Fetcher() as fetcher:
        with pytest.raises(BlockedURL, match="resolves to") as caught:
            await fetcher.fetch(url)
    assert shown in str(caught.value)
    assert caught.value.code == 11210
    assert connects == []


@pytest.mark.parametrize(
    "host", ["2130706433", "127.1", "0x7f.0.0.1", "127.0.0.1.", "[::ffff:7f00:1]"]
)
async def test_odd_address_forms_are_refused(host: str, connects: list[tuple[str, int]]) -> None:
    """Forms the C library reads as 127.0.0.1 never reach it, resolved or not."""
    async with Fetcher() as fetcher:
        with pytest.raises(BlockedURL):
            await fetcher.fetch(f"http://{host}:9/s")
    assert connects == []


async def test_loopback_server_is_never_reached_when_guarded(server: LoopbackServer) -> None:
    server.routes["/s"] = lambda h: h.reply(200)
    async with Fetcher() as fetcher:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(BlockedURL, match=host):
                await fetcher.fetch(server.url("/s", host))
    assert server.requests == []


async def test_resolver_checks_every_address(server: LoopbackServer) -> None:
    """The connector gets checked IP literals; one refused address refuses the host."""
    opened = GuardedResolver(Policy.build(allow_private=True))
    found = await opened.resolve("localhost", server.port)
    assert "127.0.0.1" in {r["host"] for r in found}
    assert all(refusal_reason(ipaddress.ip_address(r["host"])) for r in found)
    assert {r["hostname"] for r in found} == {"localhost"}
    guarded = GuardedResolver(Policy())
    for host in ("localhost", "10.0.0.1", "::1"):
        with pytest.raises(BlockedURL, match="resolves to"):
            await guarded.resolve(host, 80)


async def test_connects_only_to_the_checked_address(
    server: LoopbackServer, connects: list[tuple[str, int]], lookups: list[str]
) -> None:
    """No second lookup: the socket goes to an address the resolver checked."""
    server.routes["/s"] = lambda h: h.reply(200)
    async with Fetcher(allow_private=True) as fetcher:
        await fetcher.fetch(server.url("/s", "localhost"))
    assert lookups == ["localhost"]
    resolved = {info[4][0] for info in socket.getaddrinfo("localhost", server.port)}
    assert connects and connects[-1] == ("127.0.0.1", server.port)
    assert {address for address, _ in connects} <= resolved


async def test_redirect_to_blocked_address_is_refused(
    server: LoopbackServer, connects: list[tuple[str, int]]
) -> None:
    """127.0.0.1 is opened by setting; its redirect to the metadata service is not."""
    server.routes["/hop"] = lambda h: h.reply(
        302, b"", "", {"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    server.routes["/private"] = lambda h: h.reply(307, b"", "", {"Location": "http://10.0.0.1/"})
    server.routes["/ftp"] = lambda h: h.reply(302, b"", "", {"Location": "ftp://10.0.0.1/x"})
    async with Fetcher(allowed_networks=["127.0.0.1/32"]) as fetcher:
        with pytest.raises(BlockedURL, match="169.254.169.254"):
            await fetcher.fetch(server.url("/hop"))
        with pytest.raises(BlockedURL, match="10.0.0.1"):
            await fetcher.fetch(server.url("/private"))
        with pytest.raises(BlockedURL, match="only http and https"):
            await fetcher.fetch(server.url("/ftp"))
    assert {host for host, _ in connects} == {"127.0.0.1"}
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


async def test_environment_proxy_is_ignored(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch, connects: list[tuple[str, int]]
) -> None:
    """Through a proxy the guard would only see the proxy's address, so none is used."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{unused.getsockname()[1]}"
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        server.routes["/s"] = lambda h: h.reply(200)
        async with Fetcher(allow_private=True) as fetcher:
            assert (await fetcher.fetch(server.url("/s"))).body == XML
    assert connects == [("127.0.0.1", server.port)]


async def test_no_cookies_carried_between_fetches(server: LoopbackServer) -> None:
    """One session serves every call: a cookie set for one must not reach the next."""
    server.routes["/set"] = lambda h: h.reply(200, headers={"Set-Cookie": "sid=call-1; Path=/"})
    server.routes["/s"] = lambda h: h.reply(200)
    async with Fetcher(allow_private=True) as fetcher:
        await fetcher.fetch(server.url("/set"))
        await fetcher.fetch(server.url("/s"))
    assert "cookie" not in server.requests[1].headers


def test_fetcher_built_outside_a_loop(server: LoopbackServer) -> None:
    """The engine builds its Fetcher before the loop runs; the session comes on first use."""
    fetcher = Fetcher(allow_private=True)
    server.routes["/s"] = lambda h: h.reply(200)

    async def use() -> bytes:
        async with fetcher:
            return (await fetcher.fetch(server.url("/s"))).body

    assert asyncio.run(use()) == XML
