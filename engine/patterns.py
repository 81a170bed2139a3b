"""Rule patterns that cannot stall the engine.

Routing rules are customers' regular expressions, matched on the engine's event loop for
every call. Python's `re` backtracks, and a pattern such as `(a+)+$` or `(a|a)*$` takes
exponential time on a short non-matching subject, which would freeze every call of every
account on that engine. So a pattern is refused, when written and when loaded, if a
repetition contains a variable repetition or an alternation, or if it uses a backreference:
without those, a match is polynomial in the subject's length, and subjects (dialled
numbers, SIP users) are at most MAX_SUBJECT characters.
"""

from __future__ import annotations

import re
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

MAX_SUBJECT = 64
REPEATS = {c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT}


def compile_rule(text: str) -> re.Pattern[str]:
    """The compiled pattern; ValueError saying what is wrong with it."""
    try:
        compiled = re.compile(text)
        tree = _parser.parse(text)
    except re.error as exc:
        raise ValueError(str(exc)) from None
    _check(tree, repeated=False)
    return compiled


def _check(items: Any, repeated: bool) -> None:
    for op, av in items:
        if op in REPEATS:
            lo, hi, sub = av
            if repeated and lo != hi:  # a fixed count like (\d{3})+ cannot be split two ways
                raise ValueError("a repetition inside a repetition (like (a+)+) is not "
                                 "allowed: it can take exponential time")
            _check(sub, repeated or hi > 1)
        elif op is c.BRANCH:
            if repeated:
                raise ValueError("an alternation inside a repetition (like (a|b)*) is not "
                                 "allowed: use a character class such as [ab]*")
            for branch in av[1]:
                _check(branch, repeated)
        elif op in (c.GROUPREF, c.GROUPREF_EXISTS):
            raise ValueError("backreferences are not allowed in rule patterns")
        elif op is c.SUBPATTERN:
            _check(av[3], repeated)
        elif op in (c.ASSERT, c.ASSERT_NOT):
            _check(av[1], repeated)
        elif op is c.ATOMIC_GROUP:
            _check(av, repeated)


def matches(pattern: re.Pattern[str], subject: str) -> bool:
    """A whole match of a subject no longer than MAX_SUBJECT (longer ones never match)."""
    return len(subject) <= MAX_SUBJECT and pattern.fullmatch(subject) is not None
