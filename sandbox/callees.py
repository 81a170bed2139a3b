"""Simulated callees: what the far end of a ``bridge`` leg does.

A dial string's destination picks the behaviour. The name is read from the destination:
``sofia/gateway/GW/NUMBER`` → NUMBER, ``user/NAME@DOMAIN`` → NAME,
``sofia/external/URI`` and ``sofia/internal/URI`` → the URI's user part (or host),
``loopback/NAME/CONTEXT`` → NAME. Tests may register behaviours by name on a sandbox
(``callees_of(sandbox).set("15551230001", answer_after=3, press="1")``); a name that is
not registered gets the built-in directory, by what the name contains:

========================  ==================================================
``busy``                  refuses at once with USER_BUSY
``reject``                refuses at once with CALL_REJECTED
``fail``                  refuses at once with NORMAL_TEMPORARY_FAILURE
``noanswer``              rings until the leg's timeout (or the caller) ends it
``slowanswer``            rings, answers after 2 s
``tone``                  answers after 1 s, hangs up 1.5 s later (outbound_bridge.esl)
``press<DIGITS>``         presses DIGITS once it has answered (``press1``)
``hangup<N>``             hangs up N seconds after answering (``hangup5``)
``answer<N>``             answers after N seconds (``answer3``)
anything else             answers after 1 s and stays until hung up
========================  ==================================================

Keys combine (``press1hangup5``). Every duration is on the sandbox clock.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Behaviour:
    """What one callee does. ``refuse`` wins over everything; ``answer_after`` None rings
    for ever; ``hangup_after`` counts from the answer."""

    refuse: str | None = None
    answer_after: float | None = 1.0
    press: str = ""
    hangup_after: float | None = None


_REFUSALS = (("busy", "USER_BUSY"), ("reject", "CALL_REJECTED"),
             ("fail", "NORMAL_TEMPORARY_FAILURE"))
_NUMBERED = re.compile(r"(press|hangup|answer)([0-9*#A-D]+)")


def builtin(name: str) -> Behaviour:
    """The documented built-in directory (module docstring)."""
    low = name.lower()
    for key, cause in _REFUSALS:
        if key in low:
            return Behaviour(refuse=cause)
    if "noanswer" in low:
        return Behaviour(answer_after=None)
    behaviour = Behaviour()
    if "slowanswer" in low:
        behaviour = replace(behaviour, answer_after=2.0)
    if low.startswith("tone"):
        behaviour = replace(behaviour, hangup_after=1.5)
    for key, value in _NUMBERED.findall(name):
        if key == "press":
            behaviour = replace(behaviour, press=value)
        elif value.isdigit():
            seconds = float(value)
            field = "hangup_after" if key == "hangup" else "answer_after"
            behaviour = replace(behaviour, **{field: seconds})
    return behaviour


def callee_name(destination: str) -> str:
    """The name a dial string's destination gives its callee (module docstring)."""
    parts = destination.split("/")
    if parts[0] == "user" and len(parts) > 1:
        return parts[1].split("@")[0]
    if parts[0] == "loopback" and len(parts) > 1:
        return parts[1]
    if parts[0] == "sofia" and len(parts) > 2:
        if parts[1] == "gateway" and len(parts) > 3:
            return parts[3]
        uri = "/".join(parts[2:])
        uri = re.sub(r"^sips?:", "", uri)
        user, _, host = uri.partition("@")
        return user or host
    return parts[-1]


class Directory:
    """Behaviours registered by name for one sandbox, over the built-in directory."""

    def __init__(self) -> None:
        self._by_name: dict[str, Behaviour] = {}

    def set(self, name: str, **fields: Any) -> Behaviour:
        """Register ``name``: Behaviour fields (refuse, answer_after, press, hangup_after)."""
        behaviour = Behaviour(**fields)
        self._by_name[name] = behaviour
        return behaviour

    def clear(self) -> None:
        self._by_name.clear()

    def lookup(self, name: str) -> Behaviour:
        return self._by_name.get(name) or builtin(name)


_DIRECTORIES: weakref.WeakKeyDictionary[Any, Directory] = weakref.WeakKeyDictionary()


def callees_of(owner: Any) -> Directory:
    """The directory of a Sandbox or its Switch (the same one for both)."""
    switch = getattr(owner, "switch", owner)
    directory = _DIRECTORIES.get(switch)
    if directory is None:
        directory = _DIRECTORIES[switch] = Directory()
    return directory
