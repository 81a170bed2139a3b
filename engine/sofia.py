"""What mod_sofia answers about SIP registrations, read into the status the API shows.

Pure functions, no I/O: engine/switch_requests.py sends COMMAND over its inbound link and
hands the reply's body here. COMMAND is the one recorded in
esl-captures/inbound_registration.esl: the XML form, not ``sofia status ... reg``, since
its values are tagged and escaped instead of aligned with tabs. The switch lists every
registration of the profile (mod_sofia's ``reg <text>`` would only narrow by a substring
of the contact), so the user is picked out here, by ``<user>`` = ``username@domain``.

A reply that is not that document (``Invalid Profile!`` when the profile is not running,
``-ERR sofia Command not found!`` without mod_sofia) raises SwitchError quoting the
switch, so the API can answer 502 with what the switch said.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree

PROFILE = "internal"
COMMAND = f"sofia xmlstatus profile {PROFILE} reg"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_pis=True, remove_comments=True)
# "Registered(UDP)(unknown) exp(2026-11-22 23:22:50) expsecs(178)": state, transport,
# rpid, expiry in the switch's local time, seconds left (newer mod_sofia only).
_STATUS = re.compile(
    r"(?P<state>[^(]*)\((?P<transport>[^)]*)\)\((?P<rpid>[^)]*)\)"
    r"(?: exp\((?P<at>[^)]*)\))?(?: expsecs\((?P<secs>-?\d+)\))?", re.IGNORECASE)
_URI = re.compile(r"<([^>]*)>")


class SwitchError(Exception):
    """The switch answered, but with an error instead of the registrations."""


@dataclass(frozen=True)
class Registration:
    """One row of the profile's registrations, as ``sofia xmlstatus`` shows it."""

    user: str
    call_id: str
    contact: str
    agent: str
    status: str
    ping_status: str
    network_ip: str
    network_port: str

    @property
    def state(self) -> dict[str, str | None]:
        match = _STATUS.match(self.status)
        return match.groupdict() if match else {}

    @property
    def expires(self) -> int | None:
        secs = self.state.get("secs")
        return int(secs) if secs is not None else None


def _error_text(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    first = text.splitlines()[0] if text else "(an empty reply)"
    return first[:200]


def parse_registrations(body: bytes) -> list[Registration]:
    """Every ``<registration>`` of the reply; SwitchError if it is not a profile document."""
    if not body.lstrip().startswith((b"<?xml", b"<profile")):
        raise SwitchError(_error_text(body))
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SwitchError(f"unreadable registrations XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise SwitchError("the registrations XML has a DOCTYPE, which mod_sofia never sends")
    if root.tag != "profile":
        raise SwitchError(f"expected <profile>, the switch sent <{root.tag}>")
    return [_registration(node) for node in root.iterfind("registrations/registration")]


def _registration(node: Any) -> Registration:
    def text(tag: str) -> str:
        return (node.findtext(tag) or "").strip()

    return Registration(
        user=text("user"), call_id=text("call-id"), contact=text("contact"),
        agent=text("agent"), status=text("status"), ping_status=text("ping-status"),
        network_ip=text("network-ip"), network_port=text("network-port"),
    )


def _same_user(registration: Registration, username: str, domain: str) -> bool:
    user, _, host = registration.user.rpartition("@")
    return user == username and host.lower() == domain.lower()


def _live(registration: Registration) -> bool:
    """Listed and not past its expiry (a row lingers until mod_sofia's next sweep)."""
    expires = registration.expires
    return expires is None or expires > 0


def status_of(registrations: Iterable[Registration], username: str,
              domain: str) -> dict[str, Any]:
    """The status of ``username@domain``: registered or not, and the details of its
    freshest registration (the one expiring last) when a phone registered several times."""
    mine = [r for r in registrations if _same_user(r, username, domain) and _live(r)]
    if not mine:
        return {"registered": False, "contact": None, "expires": None, "user_agent": None,
                "network_ip": None, "network_port": None, "transport": None,
                "ping_status": None, "call_id": None, "registrations": 0}
    best = max(mine, key=lambda r: r.expires if r.expires is not None else -1)
    uri = _URI.search(best.contact)
    port = best.network_port
    return {
        "registered": True,
        "contact": uri.group(1) if uri else best.contact,
        "expires": best.expires,
        "user_agent": best.agent or None,
        "network_ip": best.network_ip or None,
        "network_port": int(port) if port.isdigit() else None,
        "transport": best.state.get("transport") or None,
        "ping_status": best.ping_status or None,
        "call_id": best.call_id or None,
        "registrations": len(mine),
    }
