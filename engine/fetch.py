"""Fetching customer scripts and media over HTTP, guarded, capped and on the event loop.

One `Fetcher` per engine process holds one pooled `httpx.AsyncClient` whose transport is
the SSRF guard (engine.ssrf), so thousands of calls share keep-alive connections and no
request can reach a refused address, on any redirect hop.

`fetch` is step 2 of the call loop: POST the call parameters form-encoded (or GET with
them in the query string), follow at most 5 redirects (301/302 turn a POST into a GET and
303 always does, as browsers do; 307/308 keep the method and body), and accept only a 2xx
`text/xml` or `application/xml` body of at most 1 MB, counted while streaming.
`download` is the same path for Play media: a GET streamed into a temporary file beside
the destination and renamed into place, with ETag / Last-Modified revalidation.

Twilio's connection overrides (`#ct #rt #tt #rc #rp`, see engine.overrides) are read from
the URL fragment and stripped. Retries are immediate and all attempts share the total
timeout; a retried failure's message says how many attempts were made.

Every failure is an `engine.errors.FetchError` subclass whose message names the URL (its
password redacted) and what was wrong; no httpx exception escapes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

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
    check_status,
    conditional_headers,
    mapped,
    media_type,
    read_capped,
    stream_to_file,
    validators_of,
)
from engine.ssrf import GuardedTransport, Policy, check_url

__all__ = ["Document", "DownloadResult", "Fetcher", "Overrides", "parse_overrides", "redact"]

log = logging.getLogger(__name__)
T = TypeVar("T")

XML_TYPES = frozenset({"text/xml", "application/xml"})
DEFAULT_USER_AGENT = "callscript/1.0"
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
    guarded; `transport` replaces the guarded transport (tests wrap it to watch connects).
    """

    def __init__(
        self,
        allow_private: bool = False,
        *,
        max_bytes: int = 1_000_000,
        user_agent: str = DEFAULT_USER_AGENT,
        allowed_networks: Sequence[str] = (),
        max_redirects: int = MAX_REDIRECTS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
        policy = Policy.build(allow_private, allowed_networks)
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._client = httpx.AsyncClient(
            transport=transport or GuardedTransport(policy, limits=limits),
            headers={"User-Agent": user_agent},
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def fetch(
        self, url: str, method: str = "POST", params: Sequence[tuple[str, str]] = ()
    ) -> Document:
        """Fetch a script document; raises a FetchError subclass on any failure."""
        clean, rules = parse_overrides(url)

        async def read(final_url: str, response: httpx.Response) -> Document:
            check_status(final_url, response)
            ctype, charset = media_type(response)
            if ctype not in XML_TYPES:
                shown = ctype or "no Content-Type"
                raise BadContentType(
                    f"{redact(final_url)} answered {shown}, not text/xml or application/xml",
                    final_url,
                )
            body = await read_capped(final_url, response, self._max_bytes)
            return Document(clean, final_url, response.status_code, ctype, body, charset)

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
        clean, rules = parse_overrides(url)
        rules = replace(rules, total=timeout)
        cached = validators if await asyncio.to_thread(dest.exists) else None
        headers = conditional_headers(cached)

        async def save(final_url: str, response: httpx.Response) -> DownloadResult:
            kept = dict(validators or {})
            if response.status_code == 304 and headers:
                size = (await asyncio.to_thread(dest.stat)).st_size
                return DownloadResult(clean, final_url, 304, "", dest, size,
                                      True, kept, response.headers.get("cache-control", ""))
            check_status(final_url, response)
            ctype, _ = media_type(response)
            if not accept(ctype):
                shown = ctype or "no Content-Type"
                raise BadContentType(f"{redact(final_url)} answered {shown}", final_url)
            size = await stream_to_file(final_url, response, dest, max_bytes)
            return DownloadResult(clean, final_url, response.status_code, ctype, dest, size,
                                  False, validators_of(response),
                                  response.headers.get("cache-control", ""))

        return await self._attempts("GET", clean, (), headers, rules, save)

    async def _attempts(
        self,
        method: str,
        url: str,
        params: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        rules: Overrides,
        consume: Callable[[str, httpx.Response], Awaitable[T]],
    ) -> T:
        """The first try and the retries `rules` allow, all within the total timeout."""
        check_url(url)
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
        consume: Callable[[str, httpx.Response], Awaitable[T]],
    ) -> T:
        """One attempt: the request and up to `max_redirects` redirect hops."""
        timeout = httpx.Timeout(rules.read, connect=rules.connect, pool=rules.connect)
        for _hop in range(self._max_redirects + 1):
            with mapped(url):
                request = _build(self._client, method, url, params, headers, timeout)
                response = await self._client.send(request, stream=True)
                try:
                    target = _redirect_target(url, response)
                    if target is None:
                        return await consume(url, response)
                finally:
                    await response.aclose()
            method, params = _method_after(response.status_code, method, params)
            url = target
        raise TooManyRedirects(
            f"{redact(url)}: more than {self._max_redirects} redirects", url
        )


def _build(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    params: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    timeout: httpx.Timeout,
) -> httpx.Request:
    """POST sends the parameters form-encoded; GET appends them to the query string."""
    method = method.upper()
    if method == "POST":
        form = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        return client.build_request(
            "POST", url, content=urlencode(list(params)).encode(), headers=form, timeout=timeout
        )
    if method != "GET":
        raise ValueError(f"method must be GET or POST, not {method!r}")
    if params:
        parts = urlsplit(url)
        query = "&".join(q for q in (parts.query, urlencode(list(params))) if q)
        url = urlunsplit(parts._replace(query=query))
    return client.build_request("GET", url, headers=dict(headers), timeout=timeout)


def _redirect_target(url: str, response: httpx.Response) -> str | None:
    """Where a redirect points (fragment dropped, scheme checked), or None if not one."""
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    target = str(response.url.join(location).copy_with(fragment=None))
    check_url(target)
    return target


def _method_after(
    status: int, method: str, params: Sequence[tuple[str, str]]
) -> tuple[str, Sequence[tuple[str, str]]]:
    """Browsers turn a POST into a GET without a body on 301/302 and anything on 303."""
    if status == 303 or (status in (301, 302) and method.upper() == "POST"):
        return "GET", ()
    if method.upper() == "GET":
        return "GET", ()  # the Location already carries the query it wants
    return method, params


def _retry_kind(exc: FetchError) -> str | None:
    if isinstance(exc, ConnectFailed):
        return "ct"
    if isinstance(exc, FetchTimeout):
        return "rt"
    if isinstance(exc, BadStatus):
        return f"{exc.status // 100}xx"
    return None


