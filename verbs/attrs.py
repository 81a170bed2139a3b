"""Attribute and text readers shared by the verb parsers.

Every reader raises ``VerbError`` carrying the element's line and the attribute's name,
and its message says what is allowed, so a customer fixing a script never has to guess.
Values are strict on purpose (``loop="2.5"`` or ``timeout="-1"`` is an error, not a
silent default): a script that says something we do not understand must not run as
something else. Names and defaults follow Twilio's TwiML so existing scripts carry over.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterator, Mapping
from contextvars import ContextVar
from urllib.parse import urlsplit

from lxml import etree

from verbs.errors import VerbError

Element = etree._Element

LOOP_FOREVER = 1000
"""What ``loop="0"`` ("repeat until the caller hangs up" in Twilio) means here: a cap,
so a forgotten call cannot hold a channel (and a worker task) for ever."""

METHODS = ("GET", "POST")
_INT = re.compile(r"[0-9]+")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_BAD_URL_CHAR = re.compile(r"[\x00-\x20\x7f]")
HOSTED_NAME = re.compile(r"[A-Za-z0-9._-]{1,29}|SC[0-9a-f]{32}")
"""What follows ``script:``: a hosted script's name (api/scripts.py) or its id, which
stays the same when the script is renamed."""
DOCUMENT_URLS: ContextVar[list[str] | None] = ContextVar("document_urls", default=None)
"""When set (`document_urls`), every document URL a parse accepts is added to it."""


def line_of(element: Element) -> int | None:
    return element.sourceline


def check_attributes(element: Element, allowed: Collection[str]) -> None:
    """Refuse attributes the verb does not know: a typo must not be ignored silently."""
    for name in element.keys():  # noqa: SIM118 (iterating an element yields children)
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise VerbError(
                f"unknown attribute on <{element.tag}> (allowed: {known})",
                line_of(element),
                str(name),
            )


def _error(element: Element, name: str, message: str) -> VerbError:
    return VerbError(message, line_of(element), name)


def get_int(element: Element, name: str, default: int, lo: int, hi: int) -> int:
    raw = element.get(name)
    if raw is None:
        return default
    text = raw.strip()
    # isascii() and isdigit(): what _INT matches, without a regex call
    if not (text.isascii() and text.isdigit()) or not lo <= (value := int(text)) <= hi:
        raise _error(element, name, f"must be an integer from {lo} to {hi}, got {raw!r}")
    return value


def get_optional_int(element: Element, name: str, lo: int, hi: int) -> int | None:
    if element.get(name) is None:
        return None
    return get_int(element, name, lo, lo, hi)


def get_bool(element: Element, name: str, default: bool) -> bool:
    raw = element.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _error(element, name, f"must be true or false, got {raw!r}")


def get_enum(element: Element, name: str, default: str, choices: Mapping[str, str]) -> str:
    """One of ``choices`` (keys compared case-insensitively; the value is what is kept,
    so aliases such as Twilio's ``en-gb`` can map to a canonical ``en-GB``)."""
    raw = element.get(name)
    if raw is None:
        return default
    value = choices.get(raw.strip().lower())
    if value is None:
        allowed = ", ".join(v or '"" (empty)' for v in dict.fromkeys(choices.values()))
        raise _error(element, name, f"must be one of {allowed}, got {raw!r}")
    return value


def get_method(element: Element, name: str = "method", default: str = "POST") -> str:
    return get_enum(element, name, default, {m.lower(): m for m in METHODS})


def check_url(value: str, element: Element, name: str | None, document: bool = True) -> str:
    """An http(s) URL, absolute or relative to the document, or, where a document is
    wanted (`document`), ``script:NAME`` (a hosted script of the call's account, run from
    memory). Other schemes (file:, ftp:, data:) are refused here so that nothing later can
    be talked into reading them; media and callbacks are never hosted scripts."""
    url = value.strip()
    where = f"attribute {name}" if name else f"the text of <{element.tag}>"
    if not url:
        raise VerbError(f"{where} must be a URL, got nothing", line_of(element), name)
    if _BAD_URL_CHAR.search(url):
        raise VerbError(
            f"a URL may not contain spaces or control characters (percent-encode them),"
            f" got {url!r}",
            line_of(element),
            name,
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise VerbError(f"not a valid URL ({exc}): {url!r}", line_of(element), name) from None
    hosted = parts.scheme == "script" and HOSTED_NAME.fullmatch(url[len("script:"):])
    if not (document and hosted) and parts.scheme and (
        parts.scheme.lower() not in ("http", "https") or not parts.netloc
    ):
        allowed = "relative, or script:NAME" if document else "or relative"
        raise VerbError(
            f"must be an http or https URL ({allowed}), got {url!r}",
            line_of(element),
            name,
        )
    if document and (found := DOCUMENT_URLS.get()) is not None:
        found.append(url)
    return url


@contextlib.contextmanager
def document_urls() -> Iterator[list[str]]:
    """Collect the document URLs (actions, Redirects, waitUrls...) of the parses run
    inside: what a hosted script refers to (api/scripts.py)."""
    found: list[str] = []
    token = DOCUMENT_URLS.set(found)
    try:
        yield found
    finally:
        DOCUMENT_URLS.reset(token)


def get_url(element: Element, name: str, document: bool = True) -> str | None:
    """An optional URL attribute; empty means "not given" (the verb's default applies)."""
    raw = element.get(name)
    if raw is None or not raw.strip():
        return None
    return check_url(raw, element, name, document)


def text_of(element: Element, max_chars: int) -> str:
    """The element's text, stripped. Child elements are refused: verbs that take text
    take plain text (no SSML yet), and a nested element is a misplaced verb."""
    if len(element):
        child = element[0]
        raise VerbError(
            f"<{element.tag}> takes plain text, not <{child.tag}>", line_of(child), None
        )
    text = (element.text or "").strip()
    if len(text) > max_chars:
        raise VerbError(
            f"the text of <{element.tag}> is longer than {max_chars} characters",
            line_of(element),
            None,
        )
    return text


def check_no_text(element: Element) -> None:
    """Verbs without a body must not carry stray text (often a misplaced URL)."""
    text = element.text
    stray = text.strip() if text else ""
    if not stray and len(element):  # a plain loop: a generator costs more than the check
        for child in element:
            tail = child.tail
            if tail and (stray := tail.strip()):
                break
    if stray:
        raise VerbError(
            f"<{element.tag}> takes no text, got {stray[:40]!r}", line_of(element), None
        )


def check_empty(element: Element) -> None:
    """Neither text nor child elements (Answer, Hangup, Pause)."""
    if len(element):
        raise VerbError(
            f"<{element.tag}> takes no nested elements, got <{element[0].tag}>",
            line_of(element[0]),
            None,
        )
    check_no_text(element)


def repeat_count(loop: int) -> int:
    """How many times a ``loop`` attribute plays: 0 is Twilio's "for ever", capped."""
    return LOOP_FOREVER if loop == 0 else loop
