"""The dialect schema (schemas/callscript.xsd): compiled once, and its errors made plain.

The XSD is the single source of every verb's attributes, types and defaults. It is read
twice at first use, both times from the installed package (``importlib.resources``, so an
installed callscript finds it as a checkout does): compiled by libxml2 for validation, and
walked as data (``dialect().elements``) for the error messages and for the test that holds
the verb modules to it.

libxml2 reports errors in its own words ("'-1' is not a valid value of the atomic type
'gatherTimeout'"); a script author needs the line, the attribute and what is allowed. So
``validate`` turns the first error into a ``Problem`` whose message reads

    line 3, attribute 'timeout' of <Gather>: '-1' is not a whole number of seconds from 1 to 600

taking "what is allowed" from the ``xs:documentation`` of the attribute's type. Only the
first error is reported: after an unexpected element libxml2 stops checking its siblings,
so later errors would be incomplete anyway, and one clear message is what the caller's
fallback and the error notification carry.

The compiled schema is shared; its ``error_log`` is per validator instance, so calls are
serialised by a lock (uncontended in the engine's single event-loop thread; libxml2
releases the GIL while it validates, and a validation is a few microseconds).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from lxml import etree

SCHEMA_PACKAGE = "schemas"
SCHEMA_FILE = "callscript.xsd"
ROOT = "Response"
NO_TEXT = "noText"
"""The simple type of elements that take no text (whitespace only)."""

_XS = "{http://www.w3.org/2001/XMLSchema}"
_WHO = re.compile(r"Element '([^']*)'(?:, attribute '([^']*)')?: ")


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str
    default: str | None


@dataclass(frozen=True)
class Declaration:
    """One element of the dialect, as the schema declares it."""

    tag: str
    attributes: Mapping[str, Attribute]
    children: tuple[str, ...]
    content: str | None
    """The simple type of its text; None for element content (``mixed`` says if text)."""
    mixed: bool = False


@dataclass(frozen=True)
class Problem:
    """Why a document is not in the dialect: the message names the line and attribute."""

    message: str
    line: int | None
    attribute: str | None = None


@dataclass(frozen=True)
class Dialect:
    schema: etree.XMLSchema
    elements: Mapping[str, Declaration]
    descriptions: Mapping[str, str]
    """Simple type name → what it allows ("a whole number of seconds from 1 to 600")."""

    @property
    def verbs(self) -> tuple[str, ...]:
        """Every element a <Response> may hold, in the schema's order."""
        return self.elements[ROOT].children

    def parents_of(self, tag: str) -> list[str]:
        return [d.tag for d in self.elements.values() if tag in d.children]


def schema_bytes() -> bytes:
    return resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FILE).read_bytes()


def _declaration(element: etree._Element) -> Declaration:
    """Read one global xs:element (see the conventions at the top of the XSD)."""
    complex_type = element.find(f"{_XS}complexType")
    tag = element.get("name", "")
    if complex_type is None:
        return Declaration(tag, {}, (), element.get("type"))
    extension = complex_type.find(f"{_XS}simpleContent/{_XS}extension")
    holder = complex_type if extension is None else extension
    attributes = {
        a.get("name", ""): Attribute(a.get("name", ""), a.get("type", ""), a.get("default"))
        for a in holder.findall(f"{_XS}attribute")
    }
    children = tuple(ref.get("ref", "") for ref in complex_type.iterfind(f".//{_XS}element"))
    content = None if extension is None else extension.get("base")
    mixed = complex_type.get("mixed") == "true"
    return Declaration(tag, attributes, children, content, mixed)


def _descriptions(tree: etree._Element) -> dict[str, str]:
    found = {}
    for simple in tree.iterfind(f"{_XS}simpleType"):
        text = simple.findtext(f"{_XS}annotation/{_XS}documentation")
        if text:
            found[simple.get("name", "")] = " ".join(text.split())
    return found


@functools.cache
def dialect() -> Dialect:
    """The compiled schema and its declarations, loaded on first use and kept."""
    tree = etree.fromstring(schema_bytes(), etree.XMLParser(resolve_entities=False,
                                                            no_network=True))
    elements = {d.tag: d for d in map(_declaration, tree.iterfind(f"{_XS}element"))}
    return Dialect(etree.XMLSchema(tree), elements, _descriptions(tree))


_lock = threading.Lock()


def validate(root: etree._Element) -> Problem | None:
    """None if ``root`` is in the dialect, else the first problem, in plain words."""
    current = dialect()
    with _lock:
        if current.schema.validate(root):
            return None
        entries = list(current.schema.error_log)
    if not entries:
        return Problem("the document does not match the dialect", root.sourceline)
    return explain(entries[0], root, current)


def _find(root: etree._Element, entry: etree._LogEntry, tag: str) -> etree._Element | None:
    """The element an error is about: by libxml2's path to it, else its name and line."""
    try:
        found = root.getroottree().xpath(entry.path) if entry.path else []
    except etree.XPathError:  # a path through a prefixed element names an unknown prefix
        found = []
    if isinstance(found, list) and len(found) == 1 and isinstance(found[0], etree._Element):
        return found[0]
    matches = [e for e in root.iter(tag) if e.sourceline == entry.line]
    return matches[-1] if matches else None


def explain(entry: etree._LogEntry, root: etree._Element, current: Dialect) -> Problem:
    """Turn one libxml2 validation error into a Problem naming line and attribute."""
    line = entry.line or None
    match = _WHO.match(entry.message)
    if match is None:
        return Problem(f"line {line}: {entry.message}", line)
    tag, attribute = match.groups()
    element = _find(root, entry, tag)
    if attribute is not None:
        return _attribute_problem(entry.message, tag, attribute, element, line, current)
    if "This element is not expected" in entry.message:
        return _placement_problem(tag, element, line, current)
    return _content_problem(entry.message, tag, element, line, current)


def _attribute_problem(message: str, tag: str, attribute: str, element: etree._Element | None,
                       line: int | None, current: Dialect) -> Problem:
    where = f"line {line}, attribute {attribute!r} of <{tag}>"
    declaration = current.elements.get(tag)
    known = sorted(declaration.attributes) if declaration else []
    if "is not allowed" in message:
        allowed = ", ".join(known) or "none"
        return Problem(f"{where}: unknown attribute (allowed: {allowed})", line, attribute)
    value = element.get(attribute) if element is not None else None
    kind = declaration.attributes[attribute].type if attribute in known else ""
    return Problem(f"{where}: {_is_not(value, kind, message, current)}", line, attribute)


def _is_not(value: str | None, kind: str, message: str, current: Dialect) -> str:
    description = current.descriptions.get(kind)
    if description is None or value is None:
        return _WHO.sub("", message, count=1)
    return f"{value!r} is not {description}"


def _placement_problem(tag: str, element: etree._Element | None, line: int | None,
                       current: Dialect) -> Problem:
    parent = element.getparent() if element is not None else None
    parent_tag = parent.tag if parent is not None else ROOT
    if parent_tag == ROOT:
        if tag == ROOT:
            return Problem(f"line {line}: <{ROOT}> cannot be nested", line)
        homes = current.parents_of(tag)
        if homes:
            inside = " or ".join(f"<{home}>" for home in homes)
            return Problem(f"line {line}: <{tag}> is allowed only inside {inside}", line)
        return Problem(f"line {line}: unknown verb <{tag}>", line)
    declaration = current.elements.get(str(parent_tag))
    allowed = declaration.children if declaration else ()
    listed = _join(allowed)
    return Problem(f"line {line}: <{parent_tag}> may contain only {listed}, not <{tag}>", line)


def _content_problem(message: str, tag: str, element: etree._Element | None,
                     line: int | None, current: Dialect) -> Problem:
    declaration = current.elements.get(tag)
    content = declaration.content if declaration else None
    if "Element content is not allowed" in message:
        child = element[0].tag if element is not None and len(element) else "?"
        what = "no nested elements" if content == NO_TEXT else "plain text"
        return Problem(f"line {line}: <{tag}> takes {what}, not <{child}>", line)
    text = _text(element)
    if content == NO_TEXT or "Character content" in message:
        return Problem(f"line {line}: <{tag}> takes no text, got {text[:40]!r}", line)
    wrong = _is_not(text, content or "", message, current)
    return Problem(f"line {line}, the text of <{tag}>: {wrong}", line)


def _join(names: tuple[str, ...]) -> str:
    """"Play, Speak and Pause"."""
    if len(names) < 2:
        return "".join(names) or "nothing"
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def _text(element: etree._Element | None) -> str:
    if element is None:
        return ""
    parts = [element.text or ""] + [child.tail or "" for child in element]
    return " ".join("".join(parts).split())
