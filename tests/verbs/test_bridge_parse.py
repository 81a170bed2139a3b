"""<Bridge> parsing: every attribute's default, good and bad values, and the nouns."""

from __future__ import annotations

import pytest
from lxml import etree

from verbs import bridge, parse_verb
from verbs.base import Settings
from verbs.dial_targets import Target
from verbs.errors import VerbError


def element(xml: str) -> etree._Element:
    """Two leading newlines put the element on line 3."""
    return etree.fromstring("\n\n" + xml)


def parse(xml: str) -> bridge.Bridge:
    verb = parse_verb(element(xml))
    assert isinstance(verb, bridge.Bridge)
    return verb


def refused(xml: str) -> VerbError:
    with pytest.raises(VerbError) as info:
        parse_verb(element(xml))
    assert info.value.line == 3
    return info.value


def test_defaults() -> None:
    verb = parse("<Bridge>15551230001</Bridge>")
    assert verb == bridge.Bridge(targets=(Target("Number", "15551230001"),))
    assert (verb.action, verb.method, verb.timeout, verb.time_limit, verb.caller_id) == (
        None, "POST", 30, 14400, None)
    assert (verb.record, verb.hangup_on_star, verb.ring_tone, verb.sequential) == (
        "do-not-record", False, "us", False)
    assert (verb.confirm_key, verb.confirm_sound) == (None, None)


def test_every_attribute() -> None:
    verb = parse('<Bridge action="/done" method="get" timeout="12" timeLimit="60" '
                 'callerId="+15557770000" record="record-from-ringing" hangupOnStar="true" '
                 'ringTone="FR" sequential="true" confirmKey="#" confirmSound="/c.wav">'
                 '<Number sendDigits="1w2">+15551230001</Number>'
                 "<SipAccount>alice.smith</SipAccount>"
                 "<SipUri>sip:bob@example.com:5080;transport=tcp</SipUri></Bridge>")
    assert verb.targets == (Target("Number", "+15551230001", "1w2"),
                            Target("SipAccount", "alice.smith"),
                            Target("SipUri", "sip:bob@example.com:5080;transport=tcp"))
    assert (verb.action, verb.method, verb.timeout, verb.time_limit) == ("/done", "GET", 12, 60)
    assert (verb.caller_id, verb.record, verb.hangup_on_star, verb.ring_tone) == (
        "+15557770000", "record-from-ringing", True, "fr")
    assert (verb.sequential, verb.confirm_key, verb.confirm_sound) == (True, "#", "/c.wav")


def test_text_number_may_carry_separators_and_caller_id_may_be_a_sip_user() -> None:
    verb = parse('<Bridge callerId="alice">+1 (555) 123-0001</Bridge>')
    assert verb.targets == (Target("Number", "+15551230001"),)
    assert verb.caller_id == "alice"


@pytest.mark.parametrize(("xml", "attribute"), [
    ('<Bridge timeout="0">1</Bridge>', "timeout"),
    ('<Bridge timeout="601">1</Bridge>', "timeout"),
    ('<Bridge timeout="ten">1</Bridge>', "timeout"),
    ('<Bridge timeLimit="0">1</Bridge>', "timeLimit"),
    ('<Bridge timeLimit="14401">1</Bridge>', "timeLimit"),
    ('<Bridge method="PUT">1</Bridge>', "method"),
    ('<Bridge action="ftp://x/y">1</Bridge>', "action"),
    ('<Bridge record="always">1</Bridge>', "record"),
    ('<Bridge hangupOnStar="maybe">1</Bridge>', "hangupOnStar"),
    ('<Bridge ringTone="jp">1</Bridge>', "ringTone"),
    ('<Bridge sequential="2">1</Bridge>', "sequential"),
    ('<Bridge confirmKey="55">1</Bridge>', "confirmKey"),
    ('<Bridge confirmSound="/c.wav">1</Bridge>', "confirmSound"),
    ('<Bridge callerId="1,2}">1</Bridge>', "callerId"),
    ('<Bridge answerOnBridge="true">1</Bridge>', "answerOnBridge"),
    ('<Bridge><Number sendDigits="12x">1</Number></Bridge>', "sendDigits"),
    ('<Bridge><SipAccount sendDigits="1">bob</SipAccount></Bridge>', "sendDigits"),
])
def test_bad_attributes_name_line_and_attribute(xml: str, attribute: str) -> None:
    assert refused(xml).attribute == attribute


@pytest.mark.parametrize("xml", [
    "<Bridge/>",
    "<Bridge>   </Bridge>",
    "<Bridge>555-CALL-NOW</Bridge>",
    "<Bridge>1,2</Bridge>",
    "<Bridge><Number>1|2</Number></Bridge>",
    "<Bridge><Number>123456789012345678901</Number></Bridge>",
    "<Bridge><SipAccount>bob smith</SipAccount></Bridge>",
    "<Bridge><SipAccount>{x=y}bob</SipAccount></Bridge>",
    "<Bridge><SipUri>http://example.com</SipUri></Bridge>",
    "<Bridge><SipUri>sip:a,b@example.com</SipUri></Bridge>",
    "<Bridge><Play>/x.wav</Play></Bridge>",
    "<Bridge><Number>1</Number>stray</Bridge>",
    "<Bridge>" + "<Number>1</Number>" * 11 + "</Bridge>",
])
def test_bad_contents_are_refused_with_the_line(xml: str) -> None:
    error = refused(xml)
    assert error.attribute is None and "line 3" in str(error)


def test_dial_strings_come_from_the_settings() -> None:
    settings = Settings(dial_number="sofia/gateway/carrier/{number}",
                        dial_sip_account="user/{username}@{domain}",
                        dial_sip_uri="sofia/internal/{uri}", sip_domain="pbx.example")
    assert Target("Number", "+1555").dial_string(settings) == "sofia/gateway/carrier/+1555"
    assert Target("SipAccount", "bob").dial_string(settings) == "user/bob@pbx.example"
    assert Target("SipUri", "sip:a@b").dial_string(settings) == "sofia/internal/sip:a@b"
