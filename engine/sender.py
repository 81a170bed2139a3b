"""Sending webhook attempts: one pooled, SSRF-guarded aiohttp session in a thread of its own.

Kept apart from engine.delivery, which decides what a result means (delivered, retry,
dead) and writes it down: this module only turns a Request into a Result. Each attempt is
signed the moment it is sent (Standard Webhooks rejects timestamps older than 5 minutes,
and a retry may come hours later), and one attempt never raises: every failure becomes a
Result with an error, so one bad URL cannot sink the rest of its batch.

RQ runs jobs synchronously in the worker; the session and its keep-alive connections live
on an event loop in a background thread, kept across jobs, which the RQ thread hands each
batch to and waits on.
"""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from engine import signing
from engine.errors import BlockedURL
from engine.ssrf import Policy, check_url, guarded_session

MAX_RETRY_AFTER = 86400.0
EXCERPT_BYTES = 1024
USER_AGENT = "callscript-webhooks/1.0"


class SendSettings(Protocol):
    """What sending needs from the worker's settings (engine.delivery.Settings, frozen)."""

    @property
    def secrets(self) -> tuple[str, ...]: ...
    @property
    def policy(self) -> Policy: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def total_timeout(self) -> float: ...


@dataclass
class Request:
    """One attempt to make: what the row says, nothing secret."""

    id: str
    url: str
    method: str
    content_type: str
    body: str
    format: str
    account_sid: str = ""


@dataclass
class Result:
    """What one attempt came to."""

    id: str
    sent_at: datetime
    latency_ms: float
    status_code: int | None = None
    excerpt: str = ""
    error: str | None = None
    retry_after: float | None = None
    blocked: bool = False
    url: str = ""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value) if value.isdigit() else (
            email.utils.parsedate_to_datetime(value) - now).total_seconds()
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def headers_for(req: Request, secrets: Sequence[str], now: datetime) -> tuple[str, dict, bytes]:
    """(URL to send to, headers, body bytes) of one attempt, signed now."""
    url, body = req.url, req.body
    if req.method == "GET":
        url = url + ("&" if urlsplit(url).query else "?") + body if body else url
        body = ""
    headers = signing.sign(body, req.id, now, secrets)
    params = dict(parse_qsl(body, keep_blank_values=True)) if req.format == "form" else None
    headers["X-Twilio-Signature"] = signing.twilio_signature(url, params or None, secrets[0])
    if body:
        headers["Content-Type"] = req.content_type
    return url, headers, body.encode()


async def send_one(session: aiohttp.ClientSession, settings: SendSettings,
                   req: Request, secrets: Sequence[str] = ()) -> Result:
    """One attempt: guard, sign, send, read the first 1 KB; never raises.

    Signed with the account's secrets, else the worker's --webhook-secret; with neither it
    is not sent (an unsigned webhook would teach receivers to skip verification): the
    attempt fails and is retried, so configuring a secret lets it through.
    """
    sent_at = datetime.now(UTC)
    started = time.perf_counter()
    result = Result(req.id, sent_at, 0.0, url=req.url)
    secrets = tuple(secrets) or settings.secrets
    try:
        if not secrets:
            raise ValueError(f"no webhook secret for account {req.account_sid or '(none)'}")
        check_url(req.url)
        settings.policy.check_host(urlsplit(req.url).hostname or "")
        url, headers, body = headers_for(req, secrets, sent_at)
        timeout = aiohttp.ClientTimeout(total=settings.total_timeout,
                                        connect=settings.connect_timeout)
        async with session.request(req.method, url, data=body or None, headers=headers,
                                   timeout=timeout, allow_redirects=False) as resp:
            result.status_code = resp.status
            raw = await resp.content.read(EXCERPT_BYTES)
            result.excerpt = raw.decode("utf-8", "replace")
            result.retry_after = parse_retry_after(resp.headers.get("Retry-After"), sent_at)
    except BlockedURL as exc:
        result.error, result.blocked = str(exc), True
    except (aiohttp.ClientConnectorDNSError, aiohttp.ClientConnectorError) as exc:
        result.error = _blocked_cause(exc) or f"connection failed: {exc}"
        result.blocked = isinstance(exc.__cause__, BlockedURL) or "refused to connect" in str(exc)
    except (TimeoutError, aiohttp.ServerTimeoutError):
        result.error = f"timed out (connect {settings.connect_timeout:g} s, " \
                       f"total {settings.total_timeout:g} s)"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.latency_ms = (time.perf_counter() - started) * 1000
    return result


def _blocked_cause(exc: BaseException) -> str | None:
    """The SSRF guard's refusal, when aiohttp wrapped it in a connection error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, BlockedURL):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    return None


class Sender:
    """An event loop in a thread with one pooled, guarded session, kept across jobs."""

    def __init__(self, settings: SendSettings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._session: aiohttp.ClientSession | None = None
        threading.Thread(target=self.loop.run_forever, name="webhook-sender", daemon=True).start()

    async def _send(self, requests: Iterable[Request],
                    keys: Mapping[str, Sequence[str]]) -> list[Result]:
        if self._session is None:
            self._session = guarded_session(self.settings.policy, USER_AGENT,
                                            limit=1000, per_host=250)
        return await asyncio.gather(*(
            send_one(self._session, self.settings, r, keys.get(r.account_sid, ()))
            for r in requests))

    def send(self, requests: Sequence[Request],
             keys: Mapping[str, Sequence[str]] | None = None) -> list[Result]:
        """Send every request at once (`keys`: each account's webhook secrets); blocks the
        calling (RQ) thread until all are done."""
        if not requests:
            return []
        job = self._send(requests, keys or {})
        return asyncio.run_coroutine_threadsafe(job, self.loop).result()

    def close(self) -> None:
        """Close the session on its own loop (its connectors belong there), then stop it."""
        async def _close() -> None:
            if self._session is not None:
                await self._session.close()
        asyncio.run_coroutine_threadsafe(_close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
