"""mod_sofia's registrations, simulated: the ``sofia`` and ``sofia_contact`` api commands
and the CUSTOM events of a REGISTER, as inbound_registration.esl recorded them.

No SIP runs here. ``register(switch, user, realm, ...)`` stands for a phone whose REGISTER
the switch accepted (tests and dry runs call it): it fires sofia::register_attempt and
sofia::register with the recording's headers (the directory user's variables last, as
mod_sofia adds them) and lists the registration. It lasts its expires plus mod_sofia's
60 s late margin on the wall clock (``EXPSECS(178)`` two seconds after ``expires: 120``):
a registration is not a duration a call plays out, so ``--speed`` does not shorten it.
When it lapses, or ``sofia profile internal flush_inbound_reg USER@HOST|CALL-ID`` removes
it, sofia::expire is fired.

Answers (texts from the recording and mod_sofia.c): ``sofia status|xmlstatus profile P
reg [TEXT]`` (TEXT narrows by a substring of the contact), ``sofia_contact [P/]USER@HOST``
(``error/user_not_registered`` when there is none), ``Invalid Profile!`` for a profile
that is not running. Only ``internal`` runs; a test empties ``sofia_of(switch).profiles``
to see what a switch whose profile is down answers. Other ``sofia`` sub-commands answer
``-ERR ... not simulated`` (a deliberate deviation: the sandbox has no other SIP state).
"""

from __future__ import annotations

import itertools
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from esl.encode import url_encode
from sandbox import events
from sandbox.events import Fields

if TYPE_CHECKING:
    from sandbox.switch import Switch

LATE_MARGIN = 60
LINE = "=" * 97
CALLING = {
    "sofia::register_attempt": ("sofia_reg.c", "sofia_reg_handle_register_token", "1606"),
    "sofia::register": ("sofia_reg.c", "sofia_reg_handle_register_token", "2059"),
    "sofia::expire": ("sofia_reg.c", "sofia_reg_del_callback", "726"),
}
_call_ids = itertools.count(1)


@dataclass
class Registration:
    """One row of mod_sofia's sip_registrations table."""

    user: str
    realm: str
    call_id: str
    network_ip: str
    network_port: int
    agent: str
    expires: int
    until: int
    profile: str = "internal"
    transport: str = "UDP"
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@{self.network_ip}:{self.network_port}"

    @property
    def contact(self) -> str:
        return f'"" <{self.uri}>'


@dataclass
class Sofia:
    """The switch's SIP profiles and their registrations (by Call-ID)."""

    switch: Switch
    profiles: set[str] = field(default_factory=lambda: {"internal"})
    registrations: dict[str, Registration] = field(default_factory=dict)

    def sweep(self) -> None:
        """Drop what lapsed, with sofia::expire, as mod_sofia's periodic check does."""
        now = time.time()
        for reg in [r for r in self.registrations.values() if r.until <= now]:
            self.drop(reg)

    def drop(self, reg: Registration) -> None:
        self.registrations.pop(reg.call_id, None)
        self.switch.fire(_expire_event(reg))

    def of_profile(self, profile: str, text: str = "") -> list[Registration]:
        self.sweep()
        return [r for r in self.registrations.values()
                if r.profile == profile and text in r.contact]


_sofias: weakref.WeakKeyDictionary[Switch, Sofia] = weakref.WeakKeyDictionary()


def sofia_of(switch: Switch) -> Sofia:
    """The switch's mod_sofia state; weakly keyed so a stopped sandbox leaves none."""
    found = _sofias.get(switch)
    if found is None:
        found = _sofias[switch] = Sofia(switch)
    return found


def register(switch: Switch, user: str, realm: str = events.IPV4, *, ip: str = "127.0.0.1",
             port: int = 5060, agent: str = "sipp", expires: int = 120,
             call_id: str | None = None, variables: dict[str, str] | None = None,
             ) -> Registration:
    """A phone registered as ``user@realm`` from ``ip:port`` (the directory user's
    ``variables`` default to ``user_context=default``, as the vanilla directory's)."""
    reg = Registration(
        user=user, realm=realm, call_id=call_id or f"{next(_call_ids)}-sandbox@{ip}",
        network_ip=ip, network_port=port, agent=agent, expires=expires,
        until=int(time.time()) + expires + LATE_MARGIN,
        variables=dict(variables if variables is not None else {"user_context": "default"}))
    sofia = sofia_of(switch)
    switch.fire(_register_event(reg, "sofia::register_attempt")
                + [("auth-result", "RENEWED")])
    sofia.registrations[reg.call_id] = reg
    switch.fire(_register_event(reg, "sofia::register") + _variables(reg))
    return reg


def _head(subclass: str) -> Fields:
    fields = [("Event-Subclass", subclass)] + events.core("CUSTOM")
    file, function, line = CALLING[subclass]
    fields[10:13] = [("Event-Calling-File", file), ("Event-Calling-Function", function),
                     ("Event-Calling-Line-Number", line)]
    return fields


def _register_event(reg: Registration, subclass: str) -> Fields:
    fields = _head(subclass) + [("profile-name", reg.profile), ("from-user", reg.user),
                                ("from-host", reg.realm)]
    if subclass == "sofia::register":
        fields.append(("presence-hosts", f"{reg.realm},{events.IPV4}"))
    return fields + [
        ("contact", reg.contact), ("call-id", reg.call_id), ("rpid", "unknown"),
        ("status", f"Registered({reg.transport})"), ("expires", str(reg.expires)),
        ("to-user", reg.user), ("to-host", reg.realm), ("network-ip", reg.network_ip),
        ("network-port", str(reg.network_port)), ("username", reg.user),
        ("realm", reg.realm), ("user-agent", reg.agent),
    ]


def _variables(reg: Registration) -> Fields:
    """What mod_sofia adds from the directory user, then the user's own variables."""
    return [
        ("sip_number_alias", reg.user), ("sip_auth_username", reg.user),
        ("sip_auth_realm", reg.realm), ("number_alias", reg.user), ("user_name", reg.user),
        ("domain_name", reg.realm), *reg.variables.items(),
    ]


def _expire_event(reg: Registration) -> Fields:
    return _head("sofia::expire") + [
        ("profile-name", reg.profile), ("call-id", reg.call_id), ("user", reg.user),
        ("username", reg.user), ("host", reg.realm), ("contact", reg.contact),
        ("expires", str(reg.until)), ("user-agent", reg.agent), ("realm", reg.realm),
        ("network-ip", reg.network_ip), ("network-port", str(reg.network_port)),
    ]


# ---- api commands -------------------------------------------------------------------


def _status_line(reg: Registration, upper: bool) -> str:
    exp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(reg.until))
    secs = reg.until - int(time.time())
    if upper:
        return f"Registered({reg.transport})(unknown) EXP({exp}) EXPSECS({secs})"
    return f"Registered({reg.transport})(unknown) exp({exp}) expsecs({secs})"


def _text_entry(reg: Registration) -> str:
    return (
        f"Call-ID:    \t{reg.call_id}\nUser:       \t{reg.user}@{reg.realm}\n"
        f"Contact:    \t{reg.contact}\nAgent:      \t{reg.agent}\n"
        f"Status:     \t{_status_line(reg, True)}\nPing-Status:\tReachable\n"
        f"Ping-Time:\t0.00\nHost:       \t{events.HOSTNAME}\nIP:         \t{reg.network_ip}\n"
        f"Port:       \t{reg.network_port}\nAuth-User:  \t{reg.user}\n"
        f"Auth-Realm: \t{reg.realm}\nMWI-Account:\t{reg.user}@{reg.realm}\n\n"
    )


def amp_encode(text: str) -> str:
    """switch_amp_encode: the five XML entities, nothing else."""
    for char, entity in (("&", "&amp;"), ('"', "&quot;"), ("'", "&apos;"), ("<", "&lt;"),
                         (">", "&gt;")):
        text = text.replace(char, entity)
    return text


def _xml_entry(reg: Registration) -> str:
    rows = [
        ("call-id", reg.call_id), ("user", f"{reg.user}@{reg.realm}"),
        ("contact", amp_encode(reg.contact)), ("agent", reg.agent),
        ("status", _status_line(reg, False)), ("ping-status", "Reachable"),
        ("ping-time", "0.00"), ("host", events.HOSTNAME), ("network-ip", reg.network_ip),
        ("network-port", str(reg.network_port)), ("sip-auth-user", url_encode(reg.user)),
        ("sip-auth-realm", reg.realm), ("mwi-account", f"{reg.user}@{reg.realm}"),
    ]
    inner = "".join(f"        <{tag}>{value}</{tag}>\n" for tag, value in rows)
    return f"    <registration>\n{inner}    </registration>\n"


def _registrations(sofia: Sofia, xml: bool, profile: str, text: str) -> str:
    regs = sofia.of_profile(profile, text)
    if xml:
        return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n'
                + "".join(_xml_entry(r) for r in regs) + "  </registrations>\n</profile>\n")
    return (f"\nRegistrations:\n{LINE}\n" + "".join(_text_entry(r) for r in regs)
            + f"Total items returned: {len(regs)}\n{LINE}\n")


def _flush(sofia: Sofia, profile: str, target: str) -> str:
    sofia.sweep()
    user, _, host = target.rpartition("@")
    for reg in [r for r in sofia.registrations.values() if r.profile == profile]:
        if not target or reg.call_id == target or (reg.user, reg.realm) == (user, host):
            sofia.drop(reg)
    if target:
        return "+OK flushing all registrations matching specified call_id\n"
    return "+OK flushing all registrations\n"


def sofia_api(switch: Switch, arg: str) -> str:
    """``sofia status|xmlstatus profile P reg [TEXT]``, ``sofia profile P flush_inbound_reg``."""
    sofia = sofia_of(switch)
    words = arg.split()
    if words[:1] in (["status"], ["xmlstatus"]) and len(words) == 1:
        return "Invalid Syntax!\n"
    if words[:1] in (["status"], ["xmlstatus"]) and words[1:2] == ["profile"]:
        if len(words) < 3 or words[2] not in sofia.profiles:
            return "Invalid Profile!\n"
        if words[3:4] == ["reg"]:
            text = words[4] if len(words) > 4 else ""
            return _registrations(sofia, words[0] == "xmlstatus", words[2], text)
    if words[:1] == ["profile"] and words[2:3] == ["flush_inbound_reg"]:
        if words[1] not in sofia.profiles:
            return f"Invalid Profile [{words[1]}]"
        return _flush(sofia, words[1], words[3] if len(words) > 3 else "")
    return f"-ERR sofia {arg}: not simulated by the sandbox\n"


def sofia_contact(switch: Switch, arg: str) -> str:
    """``sofia_contact [PROFILE/]USER@HOST``: each contact as a dial string, or the error."""
    profile, _, target = arg.strip().rpartition("/")
    user, _, host = target.partition("@")
    sofia = sofia_of(switch)
    sofia.sweep()
    found = [r for r in sofia.registrations.values()
             if (r.user, r.realm) == (user, host) and profile in ("", "*", r.profile)]
    if not found:
        return "error/user_not_registered"
    return ",".join(f"sofia/{r.profile}/{r.uri}" for r in found)
