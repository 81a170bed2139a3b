"""Fetching customer scripts and media over HTTP, guarded, capped and on the event loop.

One `Fetcher` per engine process holds one pooled `aiohttp.ClientSession` whose connector
resolves through the SSRF guard (engine.ssrf), so thousands of calls share keep-alive
connections and no request can reach a refused address, on any redirect hop. aiohttp, not
httpx: at 50 concurrent requests it costs about a tenth of the CPU per request (httpx's
pool scans every connection on each request), and its resolver is a public seam for the
guard. The session is made on first use, inside the running loop (aiohttp binds it there;
the engine builds its Fetcher before the loop starts). At most `MAX_CONNECTIONS` pooled
connections, `MAX_PER_HOST` to one host, so one slow customer cannot starve the others
(waiting for a free connection counts against the connect timeout).

`fetch` is step 2 of the call loop: POST the call parameters form-encoded (or GET with
them in the query string), follow at most 5 redirects (301/302 turn a POST into a GET and
303 always does, as browsers do; 307/308 keep the method and body), and accept only a 2xx
`text/xml` or `application/xml` body of at most 1 MB, counted while streaming.
`download` is the same path for Play media: a GET streamed into a temporary file beside
the destination and renamed into place, with ETag / Last-Modified revalidation.
Redirects are followed here, not by aiohttp, so every hop gets the scheme check and the
guard's check of an IP-literal host (aiohttp never asks the resolver about those).

Twilio's connection overrides (`#ct #rt #tt #rc #rp`, see engine.overrides) are read from
the URL fragment and stripped. Retries are immediate and all attempts share the total
timeout; a retried failure's message says how many attempts were made. Every failure is
an `engine.errors.FetchError` subclass whose message names the URL (its password
redacted) and what was wrong; no aiohttp exception escapes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import aiohttp

from engine.errors import (
    BadContentType,
    BadStatus,
    ConnectFailed,
    FetchError,
    FetchTimeout,
    TooManyRedirects,
)
from engine.overrides import Overrides, parse_overrides, redact
from engine.responses import (
    build_request,
    check_status,
    conditional_headers,
    mapped,
    media_type,
    method_after,
    read_capped,
    redirect_target,
    stream_to_file,
    validators_of,
)
from engine.ssrf import Policy, check_url, guarded_session

__all__ = ["Document", "DownloadResult", "Fetcher", "Overrides", "parse_overrides", "redact"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Consume = Callable[[str, aiohttp.ClientResponse], Awaitable[T]]

XML_TYPES = frozenset({"text/xml", "application/xml"})
DEFAULT_USER_AGENT = "callscript/1.0"
MAX_REDIRECTS = 5
MAX_CONNECTIONS = 1000
MAX_PER_HOST = 250


@dataclass(frozen=True)
class Document:
    """A fetched script: what was asked for, where it came from, and its bytes."""

    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes
    charset: str | None = None


@dataclass(frozen=True)
class DownloadResult:
    """A media download: the file at `path`, or the cached one kept on a 304."""

    url: str
    final_url: str
    status: int
    content_type: str
    path: Path
    size: int
    not_modified: bool = False
    validators: Mapping[str, str] = field(default_factory=dict)
    cache_control: str = ""


class Fetcher:
    """The engine's HTTP client: one pool, the SSRF guard, caps and Twilio's overrides.

    `allowed_networks` (CIDRs) opens specific private networks while the rest stay
    guarded. Safe to construct outside an event loop; the session comes with first use.
    """

    def __init__(
        self,
        allow_private: bool = False,
        *,
        max_bytes: int = 1_000_000,
        user_agent: str = DEFAULT_USER_AGENT,
        allowed_networks: Sequence[str] = (),
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self._policy = Policy.build(allow_private, allowed_networks)
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _client(self) -> aiohttp.ClientSession:
        """The pooled session, made on first use so it belongs to the running loop."""
        if self._session is None:
            if self._closed:
                raise FetchError("the engine's HTTP client is closed (shutting down)")
            self._session = guarded_session(
                self._policy, self._user_agent, limit=MAX_CONNECTIONS, per_host=MAX_PER_HOST
            )
        return self._session

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def fetch(
        self, url: str, method: str = "POST", params: Sequence[tuple[str, str]] = ()
    ) -> Document:
        """Fetch a script document; raises a FetchError subclass on any failure."""
        check_url(url)
        clean, rules = parse_overrides(url)

        async def read(final_url: str, response: aiohttp.ClientResponse) -> Document:
            check_status(final_url, response)
            ctype, charset = media_type(response)
            if ctype not in XML_TYPES:
                shown = ctype or "no Content-Type"
                raise BadContentType(
                    f"{redact(final_url)} answered {shown}, not text/xml or application/xml",
                    final_url,
                )
            body = await read_capped(final_url, response, self._max_bytes)
            return Document(clean, final_url, response.status, ctype, body, charset)

        headers = {"Accept": "text/xml, application/xml"}
        return await self._attempts(method, clean, params, headers, rules, read)

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int,
        accept: Callable[[str], bool],
        validators: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> DownloadResult:
        """GET `url` into `dest` (temp file + rename); a 304 keeps the existing file.

        Media is bigger than scripts, so the total timeout is its own (`timeout`, seconds)
        rather than Twilio's 15 s; a fragment's ct/rt/rc/rp still apply.
        """
        check_url(url)
        clean, rules = parse_overrides(url)
        rules = replace(rules, total=timeout)
        cached = validators if await asyncio.to_thread(dest.exists) else None
        headers = conditional_headers(cached)

        async def save(final_url: str, response: aiohttp.ClientResponse) -> DownloadResult:
            kept = dict(validators or {})
            cache_control = response.headers.get("Cache-Control", "")
            if response.status == 304 and headers:
                size = (await asyncio.to_thread(dest.stat)).st_size
                return DownloadResult(clean, final_url, 304, "", dest, size,
                                      True, kept, cache_control)
            check_status(final_url, response)
            ctype, _ = media_type(response)
            if not accept(ctype):
                shown = ctype or "no Content-Type"
                raise BadContentType(f"{redact(final_url)} answered {shown}", final_url)
            size = await stream_to_file(final_url, response, dest, max_bytes)
            return DownloadResult(clean, final_url, response.status, ctype, dest, size,
                                  False, validators_of(response), cache_control)

        return await self._attempts("GET", clean, (), headers, rules, save)

    async def _attempts(
        self,
        method: str,
        url: str,
        params: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        rules: Overrides,
        consume: Consume[T],
    ) -> T:
        """The first try and the retries `rules` allow, all within the total timeout."""
        attempt = 0
        try:
            async with asyncio.timeout(rules.total):
                while True:
                    attempt += 1
                    try:
                        return await self._follow(method, url, params, headers, rules, consume)
                    except FetchError as exc:
                        if attempt > rules.retries or _retry_kind(exc) not in rules.retry_on:
                            if attempt > 1:
                                exc.args = (f"{exc.args[0]} (after {attempt} attempts)",)
                            raise
                        log.warning("fetch attempt %d failed, retrying: %s", attempt, exc)
        except TimeoutError:
            raise FetchTimeout(
                f"{redact(url)} did not complete within {rules.total:g} s"
                f" ({attempt} attempt{'s' if attempt > 1 else ''})",
                url,
            ) from None

    async def _follow(
        self,
        method: str,
        url: str,
        params: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        rules: Overrides,
        consume: Consume[T],
    ) -> T:
        """One attempt: the request and up to `max_redirects` redirect hops.

        Each hop's host passes the guard's literal check before aiohttp sees it; a name
        is checked by the connector's resolver when a new connection needs it.
        """
        timeout = aiohttp.ClientTimeout(total=None, connect=rules.connect, sock_read=rules.read)
        session = self._client()
        for _hop in range(self._max_redirects + 1):
            with mapped(url):
                target, data, sent = build_request(method, url, params, headers)
                self._policy.check_host(target.raw_host or "")
                async with session.request(
                    method, target, data=data, headers=sent, timeout=timeout,
                    allow_redirects=False,
                ) as response:
                    location = redirect_target(url, response)
                    if location is None:
                        return await consume(url, response)
            method, params = method_after(response.status, method, params)
            url = location
        raise TooManyRedirects(
            f"{redact(url)}: more than {self._max_redirects} redirects", url
        )


def _retry_kind(exc: FetchError) -> str | None:
    if isinstance(exc, ConnectFailed):
        return "ct"
    if isinstance(exc, FetchTimeout):
        return "rt"
    if isinstance(exc, BadStatus):
        return f"{exc.status // 100}xx"
    return None


