"""The SSRF guard: customer URLs may not reach loopback, private or link-local addresses.

A customer controls the URLs the engine fetches (scripts, Play media, redirects), so
without a guard any customer could make the engine read its own metadata service
(169.254.169.254), the Redis on loopback or an intranet host. The check runs on the
address actually connected to: `GuardedBackend` is an httpcore network backend that
resolves the host itself (the event loop's getaddrinfo), refuses the whole host if any of
its addresses is refused, and then connects to the checked IP literal. There is no second
DNS lookup an attacker could answer differently (DNS rebinding), and because it sits under
httpx every hop of a redirect and every new pooled connection goes through it. The Host
header and TLS SNI still carry the hostname: httpcore takes both from the request URL, not
from the socket.

Choices:
- A host is refused when *any* of its addresses is refused (not only the one we would
  pick), so an attacker cannot mix a public and a private record and win a race.
- IPv6 forms that carry an IPv4 address are judged by that address: IPv4-mapped
  (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16). IPv4-compatible
  (::a.b.c.d, deprecated) and local-use NAT64 (64:ff9b:1::/48) are always refused.
- Anything Python does not call globally routable is refused as well (documentation,
  benchmarking and other special-purpose ranges), so the list fails closed.
- `allow_private=True` turns the address check off (development and tests only);
  `allowed_networks` lets an operator open specific networks (an intranet script server)
  while everything else stays guarded. Only http and https are ever allowed.
- Proxies from the environment are ignored by the transport (`trust_env=False`): through a
  proxy the guard would only see the proxy's address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx

from engine.errors import BlockedURL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})

_V4_REFUSED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this-network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)
_V6_REFUSED: tuple[tuple[str, str], ...] = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("fc00::/7", "unique-local"),
    ("ff00::/8", "multicast"),
    ("100::/64", "discard-only"),
    ("2001::/32", "Teredo"),
    ("2001:db8::/32", "documentation"),
)
_V4_TABLE = tuple((ipaddress.IPv4Network(n), why) for n, why in _V4_REFUSED)
_V6_TABLE = tuple((ipaddress.IPv6Network(n), why) for n, why in _V6_REFUSED)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def refusal_reason(ip: IPAddress) -> str | None:
    """Why `ip` may not be connected to, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_reason(ip)
    embedded, form = _embedded_v4(ip)
    if embedded is not None:
        why = _v4_reason(embedded)
        return f"{form} of {embedded} ({why})" if why else None
    for net, why in _V6_TABLE:
        if ip in net:
            return why
    return None if ip.is_global else "not globally routable"


def _v4_reason(ip: ipaddress.IPv4Address) -> str | None:
    for net, why in _V4_TABLE:
        if ip in net:
            return why
    return None if ip.is_global else "not globally routable"


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    """The IPv4 address an IPv6 address stands for, when it is one of the mapping forms."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped form"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64 form"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4 form"
    return None, ""


@dataclass(frozen=True)
class Policy:
    """What the guard lets through: nothing private unless configured."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def build(cls, allow_private: bool = False, allowed_networks: Iterable[str] = ()) -> Policy:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        return cls(allow_private=allow_private, allowed_networks=nets)

    def check_address(self, host: str, ip: IPAddress) -> None:
        """Raise BlockedURL naming the host and the address when `ip` is refused."""
        if self.allow_private or any(ip in net for net in self.allowed_networks):
            return
        why = refusal_reason(ip)
        if why is not None:
            raise BlockedURL(f"refused to connect to {host}: it resolves to {ip} ({why})")


def check_url(url: str) -> None:
    """Refuse schemes other than http/https before anything is sent."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise BlockedURL(f"refused URL {url!r}: only http and https are allowed", url)
    if not parts.hostname:
        raise BlockedURL(f"refused URL {url!r}: it has no host", url)


def _reason(exc: BaseException) -> str:
    """The innermost OS error ('Connection refused'), not anyio's 'All attempts failed'."""
    found: BaseException | None = exc
    reason = str(exc)
    while found is not None:
        if isinstance(found, OSError) and found.errno:
            reason = os.strerror(found.errno)
        found = found.__cause__ or found.__context__
    return reason


def _parse_ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check every address, then connect to a checked IP literal."""

    def __init__(self, policy: Policy, inner: httpcore.AsyncNetworkBackend | None = None):
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[str]:
        """All addresses of `host`, each checked; refusing one refuses the host."""
        try:
            literal = _parse_ip(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:  # no lookup (and no thread-pool hop) for an address
            self._policy.check_address(host, literal)
            return [str(literal)]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            text = str(sockaddr[0])
            self._policy.check_address(host, _parse_ip(text))
            if text not in addresses:
                addresses.append(text)
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.resolve(host, port)
                return await self._first_connect(
                    addresses, port, timeout, local_address, socket_options
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connect to {host}:{port} timed out") from exc

    async def _first_connect(
        self,
        addresses: Sequence[str],
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[typing.Any] | None,
    ) -> httpcore.AsyncNetworkStream:
        """Try the checked addresses in resolver order; the last error wins."""
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = httpcore.ConnectError(f"{address} port {port}: {_reason(exc)}")
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedURL(f"refused to connect to unix socket {path}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request mapping, exception mapping) over the guarded backend.

    httpx offers no public hook for the network backend, so the connection pool it built
    is replaced with one that uses `GuardedBackend`; everything else is httpx's code.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        limits: httpx.Limits,
        ssl_context: ssl.SSLContext | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or ssl.create_default_context(cafile=certifi.where()),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, inner),
        )
