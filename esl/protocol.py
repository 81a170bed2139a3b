"""FreeSWITCH Event Socket protocol, sans I/O.

Bytes go in, frozen frames come out; commands go in, bytes come out. Nothing here
touches a socket, so the same code serves the engine (a client of the switch), the
sandbox (which plays the switch) and the tests (which replay recorded sessions).

Framing follows mod_event_socket: a frame is a block of ``Name: value`` lines ended by
a blank line, followed by exactly ``Content-Length`` *bytes* of body when that header is
present. Header lines are split on the first ``": "`` before values are percent-decoded,
so an encoded newline or colon inside a value never breaks the framing. A
``text/event-plain`` body is itself a header block (with its own Content-Length and body
for BACKGROUND_JOB and api results); ``text/event-json`` is one JSON object whose
``_body`` key carries that body.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from esl.errors import RemoteProtocolError

Headers = tuple[tuple[str, str], ...]

MAX_HEADER_BLOCK = 256 * 1024
MAX_BODY = 64 * 1024 * 1024

# FreeSWITCH's switch_url_encode escapes these, every control byte and every byte > 126.
_UNSAFE = set(b'\r\n "#%&+:;<=>?@[\\]^`{|}')


def url_encode(value: str) -> str:
    """Percent-encode a header value the way FreeSWITCH does in event-plain bodies."""
    out = []
    for byte in value.encode("utf-8"):
        if byte in _UNSAFE or byte < 32 or byte > 126:
            out.append(f"%{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


class _HeaderAccess:
    headers: Headers

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (header names compare case-sensitively, as in FS)."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self.headers)


@dataclass(frozen=True)
class Frame(_HeaderAccess):
    """A frame whose Content-Type this module has no richer type for."""

    headers: Headers
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.get("Content-Type", "") or ""


@dataclass(frozen=True)
class AuthRequest(Frame):
    """The switch asks an inbound client to authenticate."""


@dataclass(frozen=True)
class CommandReply(Frame):
    """Reply to a command. On ``connect`` it also carries the whole channel data."""

    @property
    def reply_text(self) -> str:
        return self.get("Reply-Text", "") or ""

    @property
    def ok(self) -> bool:
        return self.reply_text.startswith("+OK")


@dataclass(frozen=True)
class ApiResponse(Frame):
    """The result of ``api``: a text body, ``-ERR ...`` on failure."""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return not self.text.startswith("-ERR")


@dataclass(frozen=True)
class Event(Frame):
    """An event, plain or JSON. ``fields`` are its decoded headers; ``payload`` its body."""

    fields: Headers = ()
    payload: str = ""

    @property
    def name(self) -> str:
        return self.field("Event-Name") or ""

    def field(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.fields:
            if key == name:
                return value
        return default

    @property
    def unique_id(self) -> str | None:
        return self.field("Unique-ID")


@dataclass(frozen=True)
class DisconnectNotice(Frame):
    """The switch is closing (or, with linger, will close) the connection."""


@dataclass(frozen=True)
class Command:
    """A command as the switch receives it (used by the sandbox)."""

    line: str
    headers: Headers = ()
    body: bytes = b""

    @property
    def verb(self) -> str:
        return self.line.split(" ", 1)[0]

    @property
    def arg(self) -> str:
        parts = self.line.split(" ", 1)
        return parts[1] if len(parts) > 1 else ""

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default


def parse_header_block(block: bytes, decode: bool = True) -> Headers:
    """Split lines on the first ": ", then percent-decode each value."""
    pairs = []
    for raw in block.split(b"\n"):
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise RemoteProtocolError(f"header line without a colon: {line[:80]!r}")
        value = value[1:] if value.startswith(" ") else value
        pairs.append((name, unquote(value) if decode else value))
    return tuple(pairs)


def _content_length(headers: Headers) -> int:
    for name, value in headers:
        if name == "Content-Length":
            try:
                length = int(value)
            except ValueError:
                raise RemoteProtocolError(f"bad Content-Length: {value!r}") from None
            if not 0 <= length <= MAX_BODY:
                raise RemoteProtocolError(f"Content-Length out of range: {length}")
            return length
    return 0


def _event_from_plain(headers: Headers, body: bytes) -> Event:
    head, sep, rest = body.partition(b"\n\n")
    fields = parse_header_block(head)
    payload = b""
    if sep:
        length = _content_length(fields)
        payload = rest[:length] if length else b""
    return Event(headers, body, fields, payload.decode("utf-8", "replace"))


def _event_from_json(headers: Headers, body: bytes) -> Event:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise RemoteProtocolError(f"bad text/event-json body: {exc}") from None
    if not isinstance(data, dict):
        raise RemoteProtocolError("text/event-json body is not an object")
    payload = str(data.pop("_body", ""))
    fields = tuple((str(k), str(v)) for k, v in data.items())
    return Event(headers, body, fields, payload)


def make_frame(headers: Headers, body: bytes) -> Frame:
    """Type a raw frame by its Content-Type."""
    ctype = next((v for k, v in headers if k == "Content-Type"), "")
    if ctype == "auth/request":
        return AuthRequest(headers, body)
    if ctype == "command/reply":
        return CommandReply(headers, body)
    if ctype == "api/response":
        return ApiResponse(headers, body)
    if ctype == "text/event-plain":
        return _event_from_plain(headers, body)
    if ctype == "text/event-json":
        return _event_from_json(headers, body)
    if ctype == "text/disconnect-notice":
        return DisconnectNotice(headers, body)
    return Frame(headers, body)


class FrameReader:
    """Parses what the switch sends: ``feed(bytes)``, then iterate for frames."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._head: Headers | None = None
        self._need = 0

    def feed(self, data: bytes) -> None:
        self._data += data

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.next_frame()) is not None:
            yield frame

    def next_frame(self) -> Frame | None:
        if self._head is None:
            while self._data[:1] == b"\n":
                del self._data[:1]
            end = self._data.find(b"\n\n")
            if end < 0:
                if len(self._data) > MAX_HEADER_BLOCK:
                    raise RemoteProtocolError("header block larger than 256 KiB")
                return None
            self._head = parse_header_block(bytes(self._data[:end]))
            self._need = _content_length(self._head)
            del self._data[: end + 2]
        if len(self._data) < self._need:
            return None
        body = bytes(self._data[: self._need])
        del self._data[: self._need]
        head, self._head = self._head, None
        return make_frame(head, body)


class CommandReader:
    """Parses what a client sends to the switch (the sandbox's side of the wire)."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._head: tuple[str, Headers] | None = None
        self._need = 0

    def feed(self, data: bytes) -> None:
        self._data += data

    def __iter__(self) -> Iterator[Command]:
        while (command := self.next_command()) is not None:
            yield command

    def next_command(self) -> Command | None:
        if self._head is None:
            while self._data[:1] in (b"\n", b"\r"):
                del self._data[:1]
            end = self._data.find(b"\n\n")
            if end < 0:
                if len(self._data) > MAX_HEADER_BLOCK:
                    raise RemoteProtocolError("command larger than 256 KiB")
                return None
            block = bytes(self._data[:end]).replace(b"\r\n", b"\n")
            del self._data[: end + 2]
            first, _, rest = block.partition(b"\n")
            headers = parse_header_block(rest, decode=False)
            self._head = (first.decode("utf-8", "replace").strip(), headers)
            self._need = _content_length(headers)
        if len(self._data) < self._need:
            return None
        body = bytes(self._data[: self._need])
        del self._data[: self._need]
        (line, headers), self._head = self._head, None
        return Command(line, headers, body)


# ---- commands to bytes (client side) ---------------------------------------------


def _line(text: str) -> bytes:
    if "\n" in text or "\r" in text:
        raise ValueError(f"a command line may not contain a newline: {text!r}")
    return f"{text}\n\n".encode()


def auth(password: str) -> bytes:
    return _line(f"auth {password}")


def api(command: str) -> bytes:
    return _line(f"api {command}")


def bgapi(command: str, job_uuid: str | None = None) -> bytes:
    if job_uuid is None:
        return _line(f"bgapi {command}")
    return f"bgapi {command}\nJob-UUID: {job_uuid}\n\n".encode()


def event(fmt: str, names: Iterable[str]) -> bytes:
    return _line(" ".join(["event", fmt, *names]))


def filter_(header: str, value: str) -> bytes:
    return _line(f"filter {header} {value}")


def myevents(uuid: str | None = None, fmt: str = "plain") -> bytes:
    return _line(f"myevents {fmt} {uuid}" if uuid else "myevents")


def linger(seconds: int | None = None) -> bytes:
    return _line("linger" if seconds is None else f"linger {seconds}")


def nolinger() -> bytes:
    return _line("nolinger")


def divert_events(on: bool) -> bytes:
    return _line(f"divert_events {'on' if on else 'off'}")


def connect() -> bytes:
    return _line("connect")


def exit_() -> bytes:
    return _line("exit")


def sendmsg(
    headers: Iterable[tuple[str, str]], uuid: str | None = None, body: bytes = b""
) -> bytes:
    lines = [f"sendmsg {uuid}" if uuid else "sendmsg"]
    for name, value in headers:
        if "\n" in name + value:
            raise ValueError(f"sendmsg header {name!r} may not contain a newline")
        lines.append(f"{name}: {value}")
    if body:
        lines.append(f"content-length: {len(body)}")
    return ("\n".join(lines) + "\n\n").encode() + body


def execute(
    app: str,
    arg: str = "",
    event_uuid: str | None = None,
    uuid: str | None = None,
    event_lock: bool = False,
    loops: int = 1,
) -> bytes:
    """``sendmsg`` execute. Multi-line or long arguments travel as a text/plain body."""
    headers = [("call-command", "execute"), ("execute-app-name", app)]
    body = b""
    if arg and ("\n" in arg or len(arg) > 2048):
        body = arg.encode()
        headers.append(("content-type", "text/plain"))
    elif arg:
        headers.append(("execute-app-arg", arg))
    if loops != 1:
        headers.append(("loops", str(loops)))
    if event_lock:
        headers.append(("event-lock", "true"))
    if event_uuid:
        headers.append(("Event-UUID", event_uuid))
    return sendmsg(headers, uuid, body)


def hangup(cause: str = "NORMAL_CLEARING", uuid: str | None = None) -> bytes:
    return sendmsg([("call-command", "hangup"), ("hangup-cause", cause)], uuid)


def unicast(
    local_ip: str,
    local_port: int,
    remote_ip: str,
    remote_port: int,
    transport: str = "udp",
    uuid: str | None = None,
) -> bytes:
    return sendmsg(
        [
            ("call-command", "unicast"),
            ("local-ip", local_ip),
            ("local-port", str(local_port)),
            ("remote-ip", remote_ip),
            ("remote-port", str(remote_port)),
            ("transport", transport),
        ],
        uuid,
    )


# ---- frames to bytes (switch side, for the sandbox) --------------------------------


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


__all__ = [
    "ApiResponse",
    "AuthRequest",
    "Command",
    "CommandReader",
    "CommandReply",
    "DisconnectNotice",
    "Event",
    "Frame",
    "FrameReader",
    "Headers",
]
