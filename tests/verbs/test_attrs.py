"""The shared attribute readers: strict values, errors naming line and attribute."""

from __future__ import annotations

import pytest

from tests.verbs.recording_call import element
from verbs import attrs
from verbs.errors import VerbError


def test_unknown_attribute_names_line_attribute_and_allowed():
    with pytest.raises(VerbError) as info:
        attrs.check_attributes(element('\n\n<Play lop="2">a.wav</Play>'), ("loop",))
    assert info.value.line == 3
    assert info.value.attribute == "lop"
    assert "line 3" in str(info.value) and "'lop'" in str(info.value)
    assert "allowed: loop" in str(info.value)


@pytest.mark.parametrize("raw, value", [(None, 7), ("0", 0), (" 12 ", 12), ("600", 600)])
def test_int_good(raw, value):
    el = element("<X/>") if raw is None else element(f'<X n="{raw}"/>')
    assert attrs.get_int(el, "n", 7, 0, 600) == value


@pytest.mark.parametrize("raw", ["", "x", "-1", "+3", "2.5", "601", "1e3", "０"])
def test_int_bad_says_range(raw):
    with pytest.raises(VerbError) as info:
        attrs.get_int(element(f'\n<X n="{raw}"/>'), "n", 1, 0, 600)
    assert "line 2" in str(info.value)
    assert info.value.attribute == "n"
    assert "integer from 0 to 600" in str(info.value)


@pytest.mark.parametrize("raw, value", [("true", True), ("TRUE", True), ("false", False),
                                        ("0", False), ("yes", True)])
def test_bool(raw, value):
    assert attrs.get_bool(element(f'<X b="{raw}"/>'), "b", not value) is value


def test_bool_bad():
    with pytest.raises(VerbError, match="must be true or false"):
        attrs.get_bool(element('<X b="maybe"/>'), "b", False)


def test_enum_is_case_insensitive_and_canonical():
    choices = {"en-gb": "en-GB", "en-uk": "en-GB", "fr-fr": "fr-FR"}
    assert attrs.get_enum(element('<X l="EN-uk"/>'), "l", "fr-FR", choices) == "en-GB"
    with pytest.raises(VerbError) as info:
        attrs.get_enum(element('<X l="xx"/>'), "l", "fr-FR", choices)
    assert "must be one of en-GB, fr-FR" in str(info.value)


@pytest.mark.parametrize("raw, value", [("get", "GET"), ("POST", "POST"), (None, "POST")])
def test_method(raw, value):
    el = element("<X/>") if raw is None else element(f'<X method="{raw}"/>')
    assert attrs.get_method(el) == value


def test_method_bad():
    with pytest.raises(VerbError, match="must be one of GET, POST, got 'PUT'"):
        attrs.get_method(element('<X method="PUT"/>'))


@pytest.mark.parametrize("url", ["http://a.example/x.wav", "https://a.example/x?y=1",
                                 "/abs/path", "relative.xml", "../up?x=1#frag"])
def test_url_good(url):
    assert attrs.check_url(f"  {url}\n", element("<X/>"), "action") == url


@pytest.mark.parametrize("url, message", [
    ("", "must be a URL"),
    ("file:///etc/passwd", "http or https"),
    ("ftp://a.example/x", "http or https"),
    ("data:audio/wav;base64,AAAA", "http or https"),
    ("http:///nohost", "http or https"),
    ("http://a.example/a b.wav", "spaces"),
    ("http://[::1/x", "not a valid URL"),
])
def test_url_bad(url, message):
    with pytest.raises(VerbError, match=message):
        attrs.check_url(url, element("<X/>"), "action")


def test_optional_url_empty_is_none():
    assert attrs.get_url(element('<X action=""/>'), "action") is None
    assert attrs.get_url(element("<X/>"), "action") is None


def test_text_of_refuses_children_and_long_text():
    with pytest.raises(VerbError, match="plain text, not <b>"):
        attrs.text_of(element("<Speak>hi <b>there</b></Speak>"), 100)
    with pytest.raises(VerbError, match="longer than 3"):
        attrs.text_of(element("<Speak>abcd</Speak>"), 3)


def test_check_empty():
    with pytest.raises(VerbError, match="takes no text"):
        attrs.check_empty(element("<Hangup>now</Hangup>"))
    with pytest.raises(VerbError, match="no nested elements"):
        attrs.check_empty(element("<Hangup><Play/></Hangup>"))
    attrs.check_empty(element("<Hangup>\n  </Hangup>"))


def test_repeat_count():
    assert attrs.repeat_count(3) == 3
    assert attrs.repeat_count(0) == attrs.LOOP_FOREVER == 1000
