"""Frames as the switch writes them: what the sandbox sends, byte for byte like FreeSWITCH.

The engine never needs these; they live apart from ``protocol`` so the client side stays
small. Outer headers are written as given (FreeSWITCH's order differs per frame type);
event-plain values are percent-encoded the way switch_url_encode does it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote

# FreeSWITCH's switch_url_encode escapes these, every control byte and every byte > 126.
_UNSAFE = '\r\n "#%&+:;<=>?@[\\]^`{|}'
_KEPT = "".join(
    chr(c) for c in range(33, 127) if chr(c) not in _UNSAFE and not chr(c).isalnum()
)
_NEEDS_ESCAPE = re.compile(f"[^A-Za-z0-9{re.escape(_KEPT)}]")


def url_encode(value: str) -> str:
    """Percent-encode a header value the way FreeSWITCH does in event-plain bodies.

    Most values (uuids, numbers, names) need no escape and are returned as they are;
    the rest go through ``quote`` with FreeSWITCH's set of characters kept."""
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return quote(value, safe=_KEPT)


def encode_headers(headers: Iterable[tuple[str, str]], encode: bool) -> bytes:
    return "".join(
        f"{name}: {url_encode(value) if encode else value}\n" for name, value in headers
    ).encode()


def encode_frame(headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """An outer frame, its headers in the order given (FreeSWITCH's order varies by type)."""
    return encode_headers(headers, encode=False) + b"\n" + body


def encode_event_plain(fields: Iterable[tuple[str, str]], payload: str = "") -> bytes:
    """A text/event-plain frame, its values percent-encoded as FreeSWITCH does."""
    fields = list(fields)
    data = payload.encode()
    if data:
        fields.append(("Content-Length", str(len(data))))
    body = encode_headers(fields, encode=True) + b"\n" + data
    return encode_frame(
        [("Content-Length", str(len(body))), ("Content-Type", "text/event-plain")], body
    )


def encode_event_json(fields: Iterable[tuple[str, str]], payload: str = "") -> bytes:
    data = dict(fields)
    if payload:
        data["Content-Length"] = str(len(payload.encode()))
        data["_body"] = payload
    body = json.dumps(data, separators=(",", ":")).encode()
    return encode_frame(
        [("Content-Length", str(len(body))), ("Content-Type", "text/event-json")], body
    )


def encode_reply(text: str, extra: Iterable[tuple[str, str]] = ()) -> bytes:
    return encode_frame([("Content-Type", "command/reply"), ("Reply-Text", text), *extra])


def encode_api_response(text: str) -> bytes:
    body = text.encode()
    return encode_frame(
        [("Content-Type", "api/response"), ("Content-Length", str(len(body)))], body
    )
