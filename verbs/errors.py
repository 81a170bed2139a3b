"""Errors raised while reading a document's verbs.

VerbError   a verb or attribute is wrong; carries the line and the attribute
"""

from __future__ import annotations


class VerbError(ValueError):
    def __init__(self, message: str, line: int | None = None, attribute: str | None = None):
        where = f"line {line}" if line is not None else "unknown line"
        if attribute:
            where += f", attribute {attribute!r}"
        super().__init__(f"{where}: {message}")
        self.line = line
        self.attribute = attribute
        self.reason = message


class MediaError(Exception):
    """Raised by ``Call.media_path``/``speech_path``; a verb skips the media and goes on."""
