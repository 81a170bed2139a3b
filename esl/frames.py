"""The frames of the Event Socket protocol, as frozen dataclasses.

Values are already percent-decoded; repeated headers are kept in order.
"""

from __future__ import annotations

from dataclasses import dataclass

Headers = tuple[tuple[str, str], ...]


def _first(frame: object, attr: str) -> dict[str, str]:
    """A name -> first value index of ``frame.<attr>``, built once on first lookup.

    Events carry a hundred headers and the engine asks for a few of them; a dict beats
    scanning the tuple each time. It lives outside the dataclass fields, so equality
    and immutability are unchanged."""
    key = f"_index_{attr}"
    index = frame.__dict__.get(key)
    if index is None:
        index = {}
        for name, value in getattr(frame, attr):
            index.setdefault(name, value)
        object.__setattr__(frame, key, index)
    return index


class _HeaderAccess:
    headers: Headers

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (header names compare case-sensitively, as in FS)."""
        return _first(self, "headers").get(name, default)

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
        return _first(self, "fields").get(name, default)

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
