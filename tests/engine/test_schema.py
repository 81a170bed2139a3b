"""The dialect schema: found as package data, held to the verb modules, and the corpus.

The XSD is the single source of each verb's attributes, types and defaults, so the
agreement test reads it as data and asks every registered verb's own ``parse`` whether it
accepts exactly those attributes, uses those defaults and those ranges. The corpus
(schemas/corpus/) is realistic scripts that must parse and broken ones whose first line
says what the error must mention.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from lxml import etree

import verbs
from engine import schema
from engine.document import parse_document
from engine.errors import DocumentError
from verbs.errors import VerbError

CORPUS = Path(__file__).resolve().parents[2] / "schemas" / "corpus"
VALID = sorted((CORPUS / "valid").glob("*.xml"))
INVALID = sorted((CORPUS / "invalid").glob("*.xml"))
XS = "{http://www.w3.org/2001/XMLSchema}"

CONTENT = {
    "urlText": "/media/a.wav",
    "speechText": "Hello",
    "dtmf": "1w2",
    "roomName": "room-1",
}
"""Minimal text for a verb whose element requires some, by the schema's content type."""

MIXED_CONTENT = {"Bridge": "+15550001111"}

SAMPLES = {
    "url": "/next",
    "digitCount": "4",
    "gatherTimeout": "7",
    "callerId": "+15550001111",
    "confirmKey": "1",
    "dtmf": "1w2",
}
"""A valid value for each attribute type that has no default to try."""

REQUIRES = {("Bridge", "confirmSound"): {"confirmKey": "1"}}
"""Attributes that are only accepted together with another one."""

NONE_MEANS_DEFAULT = {
    ("Gather", "maxDigits"):
        "absent is 127 as well; the field stays None so that numDigits and maxDigits given"
        " together can be refused",
}
"""(verb, attribute) whose absence and whose explicit default parse to different (but
equivalent) values, with the reason. Keep this short: each entry is a documented exception."""


# ---- reading the schema as data ------------------------------------------------------


def declaration(tag: str) -> schema.Declaration:
    return schema.dialect().elements[tag]


def simple_types() -> dict[str, etree._Element]:
    tree = etree.fromstring(schema.schema_bytes())
    return {t.get("name"): t for t in tree.iterfind(f"{XS}simpleType")}


def facets(type_name: str) -> dict[str, list[str]]:
    """The facets of a named simple type, its bases' included (nearest wins)."""
    types = simple_types()
    found: dict[str, list[str]] = {}
    while type_name in types:
        restriction = types[type_name].find(f"{XS}restriction")
        for facet in restriction.iterchildren(tag=etree.Element):
            name = etree.QName(facet).localname
            if name != "annotation" and facet.get("value") is not None:
                found.setdefault(name, []).append(facet.get("value"))
        type_name = restriction.get("base", "")
    return found


def element_for(tag: str, **attributes: str) -> etree._Element:
    element = etree.Element(tag, {k: v for k, v in attributes.items()})
    found = declaration(tag)
    if found.content in CONTENT:
        element.text = CONTENT[found.content]
    elif found.mixed and tag in MIXED_CONTENT:
        element.text = MIXED_CONTENT[tag]
    return etree.fromstring(etree.tostring(element))  # a parsed element has a sourceline


def parse(tag: str, **attributes: str):
    extra = {}
    for name in attributes:
        extra.update(REQUIRES.get((tag, name), {}))
    return verbs.VERBS[tag].parse(element_for(tag, **(extra | attributes)))


# ---- the schema itself ---------------------------------------------------------------


def test_schema_is_read_through_the_package():
    assert schema.schema_bytes().startswith(b"<?xml")
    assert schema.dialect() is schema.dialect()  # compiled once
    assert schema.dialect().verbs[0] == "Answer"


def test_every_simple_type_says_what_it_allows():
    described = schema.dialect().descriptions
    for tag, found in schema.dialect().elements.items():
        for attribute in found.attributes.values():
            assert attribute.type in described, (tag, attribute.name)
        if found.content:
            assert found.content in described, tag


def test_every_schema_verb_is_registered():
    missing = [tag for tag in schema.dialect().verbs if tag not in verbs.VERBS]
    assert missing == [], f"verbs in the schema but not in verbs.VERBS: {missing}"


def test_every_registered_verb_is_in_the_schema():
    assert set(verbs.VERBS) <= set(schema.dialect().verbs)


# ---- the verb modules agree with the schema ------------------------------------------


def allowed_by_parse(tag: str) -> set[str]:
    """The attribute names ``parse`` accepts, read from its "unknown attribute" refusal."""
    with pytest.raises(VerbError) as info:
        verbs.VERBS[tag].parse(element_for(tag, zzNotAnAttribute="1"))
    assert info.value.attribute == "zzNotAnAttribute"
    listed = re.search(r"\(allowed: (.*)\)", info.value.reason)
    assert listed, info.value.reason
    return set() if listed.group(1) == "none" else set(listed.group(1).split(", "))


def check_defaults(tag: str) -> None:
    """Absent and explicitly-default attributes parse the same, and a field named after
    the attribute holds the default converted."""
    implicit = parse(tag)
    fields = {f.name for f in dataclasses.fields(implicit)}
    for attribute in declaration(tag).attributes.values():
        if attribute.default is None or (tag, attribute.name) in NONE_MEANS_DEFAULT:
            continue
        assert parse(tag, **{attribute.name: attribute.default}) == implicit, attribute.name
        field = re.sub(r"(?<!^)([A-Z])", r"_\1", attribute.name).lower()
        if field in fields:
            value = getattr(implicit, field)
            converted = convert(attribute.default, value)
            assert value == converted, (attribute.name, value, attribute.default)


def convert(default: str, like: object) -> object:
    """The schema's default as the field's type (when the field keeps the raw kind)."""
    if isinstance(like, bool):
        return default.lower() == "true" if default.lower() in ("true", "false") else like
    if isinstance(like, int):
        return int(default)
    if isinstance(like, tuple):
        return tuple(default.split())
    return default


def check_values(tag: str) -> None:
    """Every attribute's sample, enumeration values and range ends are accepted, and just
    past the range is refused by the verb itself (not only by the schema)."""
    for attribute in declaration(tag).attributes.values():
        found = facets(attribute.type)
        values = list(found.get("enumeration", []))
        values.append(attribute.default if attribute.default is not None
                      else SAMPLES[attribute.type])
        low, high = found.get("minInclusive"), found.get("maxInclusive")
        values += [low[0]] if low else []
        values += [high[0]] if high else []
        for value in values:
            parse(tag, **{attribute.name: value})
        outside = ([str(int(high[0]) + 1)] if high else []) + (
            [str(int(low[0]) - 1)] if low and int(low[0]) > 0 else [])
        for value in outside:
            with pytest.raises(VerbError) as info:
                parse(tag, **{attribute.name: value})
            assert info.value.attribute == attribute.name


@pytest.mark.parametrize("tag", sorted(verbs.VERBS))
def test_every_verb_module_agrees_with_the_schema(tag):
    assert tag in schema.dialect().elements, f"<{tag}> is registered but not in the schema"
    assert allowed_by_parse(tag) == set(declaration(tag).attributes)
    check_defaults(tag)
    check_values(tag)


def test_the_documented_exceptions_are_still_needed():
    for tag, name in NONE_MEANS_DEFAULT:
        default = declaration(tag).attributes[name].default
        assert parse(tag, **{name: default}) != parse(tag), (tag, name)


def test_number_nouns_agree_with_the_schema():
    """The nouns are parsed by Bridge: Number's one attribute and the three kinds of text."""
    assert set(declaration("Number").attributes) == {"sendDigits"}
    assert declaration("Bridge").children == ("Number", "SipAccount", "SipUri")
    body = """<Response><Bridge><Number sendDigits="ww12">+1 (415) 555-0100</Number>
    <SipAccount>alice</SipAccount><SipUri>sip:desk@pbx.example.com:5061</SipUri>
    </Bridge></Response>"""
    assert schema.validate(etree.fromstring(body)) is None
    (bridge,) = parse_document(body.encode())
    assert len(bridge.targets) == 3


# ---- error messages ------------------------------------------------------------------


@pytest.mark.parametrize("body, message, attribute", [
    ('<Response>\n<Gather timeout="-1"/></Response>',
     "line 2, attribute 'timeout' of <Gather>: '-1' is not a whole number of seconds from 1"
     " to 600", "timeout"),
    ('<Response>\n\n<Speak voice="robot">x</Speak></Response>',
     "line 3, attribute 'voice' of <Speak>: 'robot' is not man or woman", "voice"),
    ("<Response><Play>\n</Play></Response>",
     "line 1, the text of <Play>: '' is not an http or https URL", None),
    ("<Response><Gather><Gather/></Gather></Response>",
     "line 1: <Gather> may contain only Play, Speak and Pause, not <Gather>", None),
])
def test_messages_name_line_and_attribute(body, message, attribute):
    problem = schema.validate(etree.fromstring(body))
    assert problem is not None and problem.message.startswith(message)
    assert problem.attribute == attribute


def test_whitespace_is_not_text():
    body = "<Response><Hangup>\n  </Hangup><Pause length=' 2 '>\n</Pause></Response>"
    assert schema.validate(etree.fromstring(body)) is None


# ---- the corpus ----------------------------------------------------------------------


def test_corpus_is_a_real_corpus():
    assert len(VALID) >= 40 and len(INVALID) >= 40


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_document_parses(path):
    body = path.read_bytes()
    assert isinstance(parse_document(body, "http://scripts.example/" + path.name), tuple)


def expectation(path: Path) -> list[str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"<!-- expect: (.*) -->", first)
    assert match, f"{path.name}: the first line must be <!-- expect: ... -->"
    return [part.strip() for part in match.group(1).split(" | ")]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_document_is_refused_naming_line_and_attribute(path):
    expected = expectation(path)
    with pytest.raises(DocumentError) as info:
        parse_document(path.read_bytes(), "http://scripts.example/" + path.name)
    message = str(info.value)
    for part in expected:
        assert part in message
    line = re.search(r"line (\d+)", expected[0])
    assert line and info.value.line == int(line.group(1)), message
    attribute = re.search(r"attribute '([^']+)'", expected[0])
    if attribute:
        assert info.value.attribute == attribute.group(1)
