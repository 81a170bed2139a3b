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
from urllib.parse import unquote

from esl.errors import LocalProtocolError, RemoteProtocolError
from esl.frames import (
    ApiResponse,
    AuthRequest,
    Command,
    CommandReply,
    DisconnectNotice,
    Event,
    Frame,
    Headers,
)

MAX_HEADER_BLOCK = 256 * 1024
MAX_BODY = 64 * 1024 * 1024


def parse_header_block(block: bytes, decode: bool = True) -> Headers:
    """Split lines on the first ":", then percent-decode each value that has a "%".

    Hot path: every event of every call goes through here, so the block is decoded once
    and values without escapes skip ``unquote``."""
    text = block.decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    pairs = []
    for line in text.split("\n"):
        name, sep, value = line.partition(":")
        if not sep:
            if not line:
                continue
            raise RemoteProtocolError(f"header line without a colon: {line[:80]!r}")
        if value[:1] == " ":
            value = value[1:]
        if decode and "%" in value:
            value = unquote(value)
        pairs.append((name, value))
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
        raise LocalProtocolError(f"a command line may not contain a newline: {text!r}")
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
            raise LocalProtocolError(f"sendmsg header {name!r} may not contain a newline")
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
