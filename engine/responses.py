"""Reading httpx responses the engine's way: status, content type, capped bodies, errors.

The caps are counted while the body streams (a declared Content-Length over the cap fails
before reading anything), so a hostile server can make the engine hold at most one chunk
more than nothing; media goes to a temp file beside its destination (file work in the
thread pool) and is renamed into place, so a reader never sees half a file. Every httpx
exception becomes an `engine.errors.FetchError` subclass naming the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

import httpx

from engine.errors import (
    BadStatus,
    BlockedURL,
    BodyTooLarge,
    ConnectFailed,
    FetchError,
    FetchTimeout,
)
from engine.overrides import redact


@contextlib.contextmanager
def mapped(url: str) -> Iterator[None]:
    """Turn httpx's exceptions into the engine's, each naming the URL."""
    shown = redact(url)
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise ConnectFailed(f"could not connect to {shown}: {exc or type(exc).__name__}",
                            url) from None
    except httpx.TimeoutException as exc:
        raise FetchTimeout(f"{shown} timed out waiting for data ({type(exc).__name__})",
                           url) from None
    except httpx.UnsupportedProtocol as exc:
        raise BlockedURL(f"refused URL {shown}: {exc}", url) from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise FetchError(f"fetching {shown} failed: {exc or type(exc).__name__}",
                         url) from None
    except BlockedURL as exc:
        if exc.url:
            raise
        raise BlockedURL(f"{shown}: {exc}", url) from None


def check_status(url: str, response: httpx.Response) -> None:
    """Only a 2xx carries a script or media; the status rides on BadStatus for retries."""
    if not 200 <= response.status_code < 300:
        status = response.status_code
        raise BadStatus(f"{redact(url)} answered HTTP {status}", url, status=status)


def media_type(response: httpx.Response) -> tuple[str, str | None]:
    """('text/xml', 'utf-8') from 'text/xml; charset=UTF-8'; ('', None) when absent."""
    raw = response.headers.get("content-type", "")
    ctype, _, rest = raw.partition(";")
    charset = None
    for param in rest.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return ctype.strip().lower(), charset


def too_large(url: str, cap: int, size: str) -> BodyTooLarge:
    return BodyTooLarge(f"{redact(url)} sent {size}, more than the {cap}-byte limit", url)


async def read_capped(url: str, response: httpx.Response, cap: int) -> bytes:
    """Read the body, stopping as soon as it would pass `cap` bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large(url, cap, f"a {declared}-byte body")
    body = bytearray()
    with mapped(url):
        async for chunk in response.aiter_bytes():
            if len(body) + len(chunk) > cap:
                raise too_large(url, cap, "a larger body")
            body += chunk
    return bytes(body)


async def stream_to_file(url: str, response: httpx.Response, dest: Path, cap: int) -> int:
    """Stream the body into a temp file beside `dest` (file work in threads), then rename."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large(url, cap, f"a {declared}-byte body")
    fd, tmp = await asyncio.to_thread(
        tempfile.mkstemp, dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"
    )
    handle: IO[bytes] = os.fdopen(fd, "wb")
    size = 0
    try:
        with mapped(url):
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise too_large(url, cap, "a larger body")
                await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(os.replace, tmp, dest)
    except BaseException:
        handle.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return size


def conditional_headers(validators: Mapping[str, str] | None) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from a cache entry's validators, so a 304 saves
    re-downloading what the cache already holds."""
    headers: dict[str, str] = {}
    if validators and validators.get("etag"):
        headers["If-None-Match"] = validators["etag"]
    if validators and validators.get("last_modified"):
        headers["If-Modified-Since"] = validators["last_modified"]
    return headers


def validators_of(response: httpx.Response) -> dict[str, str]:
    """The response's ETag and Last-Modified, in the form conditional_headers reads."""
    found = {"etag": response.headers.get("etag"),
             "last_modified": response.headers.get("last-modified")}
    return {k: v for k, v in found.items() if v}
