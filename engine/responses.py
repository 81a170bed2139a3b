"""aiohttp requests and responses the engine's way: the request's form, redirects, status,
content type, capped bodies, errors.

The caps are counted while the body streams (a declared Content-Length over the cap fails
before reading anything), so a hostile server can make the engine hold at most one chunk
more than nothing. They count what `response.content` yields, which is the body after
aiohttp's decompression (aiohttp inflates in bounded pieces as it is read), so a small
gzip bomb hits the cap like any other large body. Media goes to a temp file beside its
destination (file work in the thread pool, a few chunks per hop) and is renamed into
place, so a reader never sees half a file. Every aiohttp exception becomes an
`engine.errors.FetchError` subclass naming the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from yarl import URL

from engine.errors import (
    BadStatus,
    BlockedURL,
    BodyTooLarge,
    ConnectFailed,
    FetchError,
    FetchTimeout,
)
from engine.overrides import redact
from engine.ssrf import check_url

WRITE_BATCH = 256 * 1024  # bytes gathered before one thread-pool hop writes them
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_FORM = "application/x-www-form-urlencoded"


def build_request(
    method: str, url: str, params: Sequence[tuple[str, str]], headers: Mapping[str, str]
) -> tuple[URL, bytes | None, Mapping[str, str]]:
    """POST sends the parameters form-encoded; GET appends them to the query string.

    Parameters are (name, value) pairs, so a name may repeat (Twilio's Digits and the
    like keep their order).
    """
    method = method.upper()
    data = None
    if method == "POST":
        data = urlencode(list(params)).encode()
        headers = {"Content-Type": _FORM, **headers}
    elif method != "GET":
        raise ValueError(f"method must be GET or POST, not {method!r}")
    elif params:
        parts = urlsplit(url)
        query = "&".join(q for q in (parts.query, urlencode(list(params))) if q)
        url = urlunsplit(parts._replace(query=query))
    return _parse(url), data, headers


def _parse(url: str) -> URL:
    """yarl's URL (aiohttp's own form), or BlockedURL for one it cannot read."""
    try:
        return URL(url)
    except (ValueError, TypeError) as exc:
        raise BlockedURL(f"refused URL {redact(url)}: {exc}", url) from None


@contextlib.contextmanager
def mapped(url: str) -> Iterator[None]:
    """Turn aiohttp's exceptions into the engine's, each naming the URL."""
    try:
        yield
    except aiohttp.ClientError as exc:
        raise _engine_error(url, exc) from None
    except BlockedURL as exc:
        if exc.url:
            raise
        raise BlockedURL(f"{redact(url)}: {exc}", url) from None


def _engine_error(url: str, exc: aiohttp.ClientError) -> FetchError:
    """The FetchError subclass the retry rules (`#rp`) and the fallback's ErrorCode need."""
    shown = redact(url)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectFailed(f"could not connect to {shown}: connect timed out", url)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return FetchTimeout(f"{shown} timed out waiting for data ({type(exc).__name__})", url)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectFailed(f"could not connect to {shown}: {_connect_reason(exc)}", url)
    if isinstance(exc, aiohttp.InvalidURL):
        return BlockedURL(f"refused URL {shown}: {exc or type(exc).__name__}", url)
    return FetchError(f"fetching {shown} failed: {exc or type(exc).__name__}", url)


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    """'127.0.0.1 port 8080: Connection refused', not aiohttp's 'Cannot connect to host'."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {exc.host}: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS with {exc.host} port {exc.port} failed: {exc.os_error}"
    error = exc.os_error
    reason = os.strerror(error.errno) if error.errno else str(error) or type(error).__name__
    return f"{exc.host} port {exc.port}: {reason}"


def check_status(url: str, response: aiohttp.ClientResponse) -> None:
    """Only a 2xx carries a script or media; the status rides on BadStatus for retries."""
    if not 200 <= response.status < 300:
        status = response.status
        raise BadStatus(f"{redact(url)} answered HTTP {status}", url, status=status)


def media_type(response: aiohttp.ClientResponse) -> tuple[str, str | None]:
    """('text/xml', 'utf-8') from 'text/xml; charset=UTF-8'; ('', None) when absent."""
    raw = response.headers.get("Content-Type", "")
    ctype, _, rest = raw.partition(";")
    charset = None
    for param in rest.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return ctype.strip().lower(), charset


def too_large(url: str, cap: int, size: str) -> BodyTooLarge:
    return BodyTooLarge(f"{redact(url)} sent {size}, more than the {cap}-byte limit", url)


def _check_declared(url: str, response: aiohttp.ClientResponse, cap: int) -> None:
    """Refuse before reading when the Content-Length alone is over the cap."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large(url, cap, f"a {declared}-byte body")


async def read_capped(url: str, response: aiohttp.ClientResponse, cap: int) -> bytes:
    """Read the (decompressed) body, stopping as soon as it would pass `cap` bytes."""
    _check_declared(url, response, cap)
    body = bytearray()
    with mapped(url):
        async for chunk in response.content.iter_any():
            if len(body) + len(chunk) > cap:
                raise too_large(url, cap, "a larger body")
            body += chunk
    return bytes(body)


async def stream_to_file(url: str, response: aiohttp.ClientResponse, dest: Path,
                         cap: int) -> int:
    """Stream the body into a temp file beside `dest` (file work in threads), then rename."""
    _check_declared(url, response, cap)
    fd, tmp = await asyncio.to_thread(
        tempfile.mkstemp, dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"
    )
    handle: IO[bytes] = os.fdopen(fd, "wb")
    size = 0
    pending = bytearray()
    try:
        with mapped(url):
            async for chunk in response.content.iter_any():
                size += len(chunk)
                if size > cap:
                    raise too_large(url, cap, "a larger body")
                pending += chunk
                if len(pending) >= WRITE_BATCH:
                    await asyncio.to_thread(handle.write, bytes(pending))
                    pending.clear()
        await asyncio.to_thread(_finish, handle, bytes(pending), tmp, dest)
    except BaseException:
        handle.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return size


def _finish(handle: IO[bytes], rest: bytes, tmp: str, dest: Path) -> None:
    """The last write, the close and the rename: one thread-pool hop instead of three."""
    handle.write(rest)
    handle.close()
    os.replace(tmp, dest)


def redirect_target(url: str, response: aiohttp.ClientResponse) -> str | None:
    """Where a redirect points (fragment dropped, scheme checked), or None if not one."""
    location = response.headers.get("Location")
    if response.status not in REDIRECTS or not location:
        return None
    try:
        target = str(_parse(url).join(URL(location)).with_fragment(None))
    except (ValueError, TypeError) as exc:
        raise BlockedURL(f"{redact(url)} redirected to a bad URL {location!r}: {exc}",
                         url) from None
    check_url(target)
    return target


def method_after(
    status: int, method: str, params: Sequence[tuple[str, str]]
) -> tuple[str, Sequence[tuple[str, str]]]:
    """Browsers turn a POST into a GET without a body on 301/302 and anything on 303."""
    if status == 303 or (status in (301, 302) and method.upper() == "POST"):
        return "GET", ()
    if method.upper() == "GET":
        return "GET", ()  # the Location already carries the query it wants
    return method, params


def conditional_headers(validators: Mapping[str, str] | None) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from a cache entry's validators, so a 304 saves
    re-downloading what the cache already holds."""
    headers: dict[str, str] = {}
    if validators and validators.get("etag"):
        headers["If-None-Match"] = validators["etag"]
    if validators and validators.get("last_modified"):
        headers["If-Modified-Since"] = validators["last_modified"]
    return headers


def validators_of(response: aiohttp.ClientResponse) -> dict[str, str]:
    """The response's ETag and Last-Modified, in the form conditional_headers reads."""
    found = {"etag": response.headers.get("ETag"),
             "last_modified": response.headers.get("Last-Modified")}
    return {k: v for k, v in found.items() if v}
