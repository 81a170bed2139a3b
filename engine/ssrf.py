"""The SSRF guard: customer URLs may not reach loopback, private or link-local addresses.

A customer controls the URLs the engine fetches (scripts, Play media, redirects), so
without a guard any customer could make the engine read its own metadata service
(169.254.169.254), the Redis on loopback or an intranet host. The check runs on the
address actually connected to: `GuardedResolver` is the aiohttp resolver of the engine's
connector (aiohttp's public seam, `TCPConnector(resolver=...)`); it resolves the host with
the event loop's getaddrinfo, refuses the whole host if any of its addresses is refused,
and hands the connector only checked IP literals, which is all the connector connects to.
There is no second DNS lookup an attacker could answer differently (DNS rebinding), and
every new pooled connection of every redirect hop goes through it (the connector's DNS
cache only holds results that passed). The Host header and TLS SNI still carry the
hostname: aiohttp takes both from the request URL, not from the socket.

aiohttp never asks the resolver about a host that looks like an IP address (all digits
and dots, or any colon), so the fetcher calls `Policy.check_host` on every hop's host
first: a literal is checked without DNS, and anything aiohttp would treat as a literal but
`ipaddress` cannot read (`2130706433`, `127.1`, `127.0.0.1.`) is refused outright.

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
- Proxies from the environment are ignored (the session has `trust_env=False`): through a
  proxy the guard would only see the proxy's address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import certifi
from aiohttp.abc import AbstractResolver, ResolveResult

from engine.errors import BlockedURL
from engine.overrides import redact

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})
DNS_CACHE_SECONDS = 10

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

    def check_host(self, host: str) -> bool:
        """Check `host` if it is an IP literal (True); False for a name to resolve.

        aiohttp connects to anything that looks like an address (digits and dots, or a
        colon) without asking the resolver, so such a host must pass here or be refused.
        """
        bare = host.strip("[]")
        if ":" not in bare and not bare.replace(".", "").isdigit():
            return False  # a name (aiohttp's own test), left to the resolver
        try:
            ip = _parse_ip(bare)
        except ValueError:
            raise BlockedURL(f"refused host {host!r}: not a canonical IP address") from None
        self.check_address(bare, ip)
        return True


def check_url(url: str) -> None:
    """Refuse schemes other than http/https (and URLs without a host) before sending."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # "Invalid IPv6 URL" and the like
        raise BlockedURL(f"refused URL {redact(url)!r}: {exc}", url) from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise BlockedURL(f"refused URL {redact(url)!r}: only http and https are allowed", url)
    if not host:
        raise BlockedURL(f"refused URL {redact(url)!r}: it has no host", url)


def _parse_ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])


_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class GuardedResolver(AbstractResolver):
    """Resolve, check every address, and give the connector only checked IP literals."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        """All addresses of `host`, each checked; refusing one refuses the host.

        An OSError here is what aiohttp reports as a DNS failure (ClientConnectorDNSError).
        """
        if self._policy.check_host(host):  # a literal: no lookup, no thread-pool hop
            ip = _parse_ip(host.strip("[]"))
            fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            return [ResolveResult(hostname=host, host=host.strip("[]"), port=port,
                                  family=fam, proto=0, flags=_NUMERIC)]
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        results: list[ResolveResult] = []
        seen: set[str] = set()
        for fam, _type, proto, _canon, sockaddr in infos:
            text = str(sockaddr[0])  # CPython keeps an IPv6 scope as "fe80::1%eth0"
            self._policy.check_address(host, _parse_ip(text))
            if text not in seen:
                seen.add(text)
                results.append(ResolveResult(hostname=host, host=text, port=int(sockaddr[1]),
                                             family=fam, proto=proto, flags=_NUMERIC))
        if not results:
            raise OSError(f"{host} has no addresses")
        return results

    async def close(self) -> None:
        """Nothing to release: lookups run on the event loop's executor."""


def guarded_session(
    policy: Policy, user_agent: str, *, limit: int, per_host: int
) -> aiohttp.ClientSession:
    """A pooled session whose every connection goes through the guard.

    No cookies are kept (one session serves every account's calls, so a jar would carry
    one call's cookies into another's); proxies from the environment are ignored; only
    addresses the guard passed enter the connector's DNS cache. Certificates are checked
    against certifi's bundle, as before the move to aiohttp, so a host without a system
    CA store still reaches https script servers.
    """
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(policy),
        limit=limit,
        limit_per_host=per_host,
        ttl_dns_cache=DNS_CACHE_SECONDS,
        ssl=ssl.create_default_context(cafile=certifi.where()),
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": user_agent},
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=True,
        timeout=aiohttp.ClientTimeout(total=None, connect=5.0, sock_read=15.0),
    )
