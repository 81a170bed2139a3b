"""Turn a fetched script into verbs, refusing anything that is not plainly a document.

The whole body is parsed and every verb validated before the first one runs (DESIGN,
"The call loop" step 3), so a mistake on line 40 never leaves a caller half-way through
a script. Every refusal is one ``DocumentError`` (ErrorCode 12100) whose message names
the line and, where there is one, the attribute; ``.line``, ``.attribute`` and ``.url``
carry the same for the fallback request and the error notification.

Hardening, in order:

- size: more than ``MAX_BYTES`` (1 MB, the fetch cap) is refused before parsing;
- DOCTYPE: refused outright, even an empty internal subset. The raw bytes are scanned
  before libxml2 sees them (decoded first when a UTF-16/32 byte order or pattern shows),
  so an entity bomb is never parsed, and the parsed tree is checked again as the
  authority. A script has no use for a DTD, so a false refusal (the word ``<!DOCTYPE``
  inside a comment) is an acceptable price;
- the parser itself resolves no entities, loads no DTD, never touches the network, keeps
  libxml2's default limits (``huge_tree=False``) and drops comments and PIs;
- shape: at most ``MAX_ELEMENTS`` elements nested at most ``MAX_DEPTH`` deep, the root is
  ``<Response>`` without a namespace, and only whitespace may sit between verbs.

Then the schema (schemas/callscript.xsd, through ``engine.schema``): every element,
attribute and value of the dialect, its first error turned into one message naming the
line and the attribute. The verbs' own ``parse`` runs last and checks what XSD 1.0
cannot say (a Bridge with no target, minDigits above maxDigits, a URL's scheme).
The root checks run before the schema because their messages are plainer than what a
schema error about the root could say.
"""

from __future__ import annotations

import codecs
import re
from collections import OrderedDict

from lxml import etree

from engine import schema
from engine.errors import DocumentError
from verbs import Verb, parse_verb
from verbs.errors import VerbError

MAX_BYTES = 1024 * 1024
MAX_ELEMENTS = 1000
MAX_DEPTH = 8
"""Response > Gather > Play is 3 deep; 8 leaves room for later verbs with nouns."""

ROOT = "Response"

_DOCTYPE = re.compile(rb"<!doctype", re.IGNORECASE)
_WIDE = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)


def _parser() -> etree.XMLParser:
    """The hardened parser. One is shared (``_PARSER``): making one costs more than
    parsing a short script, and lxml serialises a parser's use across threads."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        remove_comments=True,
    )


_PARSER = _parser()
_COUNT = etree.XPath("count(//*)")
_TOO_DEEP = etree.XPath("/" + "*/" * MAX_DEPTH + "*")
_STRAY_TEXT = etree.XPath("boolean(text()[normalize-space()])")


def _error(message: str, url: str, line: int | None = None,
           attribute: str | None = None) -> DocumentError:
    err = DocumentError(message)
    err.line = line  # type: ignore[attr-defined]
    err.attribute = attribute  # type: ignore[attr-defined]
    err.url = url  # type: ignore[attr-defined]
    return err


def _has_doctype(body: bytes) -> bool:
    """True if the raw bytes declare a DOCTYPE, whatever the encoding looks like."""
    return _doctype_line(body) is not None


def _doctype_line(body: bytes) -> int | None:
    """The line of the first DOCTYPE in the raw bytes, or None (see ``_has_doctype``)."""
    for mark, encoding in _WIDE:
        if body.startswith(mark):
            text = body.decode(encoding, "ignore")
            at = text.lower().find("<!doctype")
            return None if at < 0 else text.count("\n", 0, at) + 1
    found = _DOCTYPE.search(body)
    return None if found is None else body.count(b"\n", 0, found.start()) + 1


def _parse_xml(body: bytes, url: str) -> etree._Element:
    if len(body) > MAX_BYTES:
        raise _error(f"document larger than {MAX_BYTES} bytes", url)
    if _has_doctype(body):
        line = _doctype_line(body) or 1
        raise _error(f"line {line}: a DOCTYPE is not allowed in a script", url, line)
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or None
        raise _error(f"line {line or '?'}: malformed XML: {exc.msg}", url, line) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _error("line 1: a DOCTYPE is not allowed in a script", url, 1)
    return root


def _check_shape(root: etree._Element, url: str) -> None:
    """Bound the tree before any verb code walks it (XPath: counted in C, not Python)."""
    if _COUNT(root) > MAX_ELEMENTS:
        raise _error(f"more than {MAX_ELEMENTS} elements in the document", url)
    too_deep = _TOO_DEEP(root)
    if too_deep:
        line = too_deep[0].sourceline
        raise _error(f"line {line}: elements nested more than {MAX_DEPTH} deep", url, line)


def _check_root(root: etree._Element, url: str) -> None:
    line = root.sourceline
    if root.tag != ROOT:
        shown = root.tag if isinstance(root.tag, str) else "?"
        raise _error(f"line {line}: the root element must be <{ROOT}>, not <{shown}>",
                     url, line)
    if root.attrib:
        name = str(next(iter(root.attrib)))
        raise _error(f"line {line}, attribute {name!r}: <{ROOT}> takes no attributes",
                     url, line, name)
    if not _STRAY_TEXT(root):
        return
    children = list(root)
    for index, text in enumerate([root.text] + [c.tail for c in children]):
        stray = (text or "").strip()
        if stray:
            where = _stray_line(text or "", [root, *children][index],
                                children[index] if index < len(children) else None)
            raise _error(f"line {where}: text outside a verb: {stray[:40]!r}", url, where)


def _stray_line(text: str, before: etree._Element, after: etree._Element | None) -> int:
    """The line stray text starts on: counted back from the verb after it when there is
    one (exact), else forward from the start of the element before it."""
    lead = text[: len(text) - len(text.lstrip())].count("\n")
    if after is not None and after.sourceline:
        return after.sourceline - text.count("\n") + lead
    return (before.sourceline or 1) + lead


CACHE_ENTRIES = 1024
CACHE_MAX_BYTES = 64 * 1024
_parsed: OrderedDict[bytes, tuple[Verb, ...]] = OrderedDict()


def parse_document(body: bytes, url: str = "") -> tuple[Verb, ...]:
    """Every verb of the document, validated; ``DocumentError`` for anything wrong.

    Most scripts are the same bytes call after call (a menu, a greeting), and verbs are
    frozen, so a document that parsed once is served from a small LRU keyed by its bytes.
    Failures are never cached: each one is reported with its own URL.
    """
    if len(body) > CACHE_MAX_BYTES:
        return parse_uncached(body, url)
    verbs = _parsed.get(body)
    if verbs is not None:
        _parsed.move_to_end(body)
        return verbs
    verbs = parse_uncached(body, url)
    _parsed[body] = verbs
    if len(_parsed) > CACHE_ENTRIES:
        _parsed.popitem(last=False)
    return verbs


def parse_uncached(body: bytes, url: str = "") -> tuple[Verb, ...]:
    """``parse_document`` without the cache: the full hardened parse and validation.

    ``url`` is the document's address, kept on the error for the fallback request.
    An empty ``<Response/>`` is valid and yields no verbs (the call then hangs up).
    """
    root = _parse_xml(body, url)
    _check_shape(root, url)
    _check_root(root, url)
    problem = schema.validate(root)
    if problem is not None:
        raise _error(problem.message, url, problem.line, problem.attribute)
    verbs = []
    for child in root:
        try:
            verbs.append(parse_verb(child))
        except VerbError as exc:
            raise _error(str(exc), url, exc.line, exc.attribute) from exc
    return tuple(verbs)
