"""Rule patterns: what routing needs is accepted, what could stall the engine is refused."""

from __future__ import annotations

import pytest

from engine.patterns import MAX_SUBJECT, compile_rule, matches


@pytest.mark.parametrize("text", [
    r"\+1555\d+", r"(1|44)\d{6,}", r"alice|bob", r"[0-9]{3}-\d*", r"(?:\d{3})+", r"sales-.*",
    r"(?=\+33)\+\d+",
])
def test_patterns_routing_needs_are_accepted(text):
    assert compile_rule(text).pattern == text


@pytest.mark.parametrize("text, words", [
    (r"(a+)+$", "repetition inside a repetition"),
    (r"((ab)*c)*", "repetition inside a repetition"),
    (r"(a|a)*$", "alternation inside a repetition"),
    (r"(\d)\1", "backreferences"),
    (r"(", "unterminated subpattern"),
])
def test_patterns_that_could_stall_or_do_not_compile_are_refused(text, words):
    with pytest.raises(ValueError, match=words):
        compile_rule(text)


def test_whole_matches_of_short_subjects_only():
    pattern = compile_rule(r"\d+")
    assert matches(pattern, "15550001111")
    assert not matches(pattern, "1555x")
    assert not matches(pattern, "1" * (MAX_SUBJECT + 1))
