"""The nouns inside <Bridge>: Number, SipAccount, SipUri (Twilio's Number, Client/Sip).

Each becomes one FreeSWITCH dial string from the engine's settings: ``--dial-number``
with ``{number}``, ``user/{username}@{domain}`` for a registered SIP account, and
``--dial-sip-uri`` with ``{uri}``. Values are strict because they end up inside a
``bridge`` argument, where ``,`` ``|`` ``{}`` ``[]`` and spaces have meaning: a value that
could change the dial string is refused with the line, never escaped into something else.
A number may be written with the usual separators (spaces, ``-``, ``.``, brackets), which
are dropped; ``+`` is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from verbs import attrs
from verbs.base import Settings
from verbs.errors import VerbError

NUMBER_TAG, SIP_ACCOUNT_TAG, SIP_URI_TAG = "Number", "SipAccount", "SipUri"
TAGS = (NUMBER_TAG, SIP_ACCOUNT_TAG, SIP_URI_TAG)
MAX_TARGETS = 10
"""Twilio rings at most ten numbers at once; so do we."""

_SEPARATORS = re.compile(r"[\s().-]")
_NUMBER = re.compile(r"\+?[0-9]{1,20}")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_URI = re.compile(r"sips?:[A-Za-z0-9._+%!~*'-]+@([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])"
                  r"(:[0-9]{1,5})?(;[A-Za-z0-9_.=-]+)*", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9*#A-Da-dwW]{1,256}")
_CALLER_ID = re.compile(r"\+?[0-9]{1,20}|[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Target:
    """One callee: ``kind`` is the noun's tag; ``send_digits`` only for Number."""

    kind: str
    value: str
    send_digits: str = ""

    def dial_string(self, settings: Settings) -> str:
        if self.kind == NUMBER_TAG:
            return settings.dial_number.format(number=self.value)
        if self.kind == SIP_ACCOUNT_TAG:
            return settings.dial_sip_account.format(username=self.value,
                                                    domain=settings.sip_domain)
        return settings.dial_sip_uri.format(uri=self.value)


def _error(element: attrs.Element, message: str, name: str | None = None) -> VerbError:
    return VerbError(message, attrs.line_of(element), name)


def number(element: attrs.Element, text: str) -> str:
    value = _SEPARATORS.sub("", text)
    if not _NUMBER.fullmatch(value):
        raise _error(element, f"<{element.tag}> must be a phone number (at most 20 digits,"
                              f" an optional leading +), got {text[:40]!r}")
    return value


def parse_target(element: attrs.Element) -> Target:
    """One child of <Bridge>."""
    tag = element.tag if isinstance(element.tag, str) else "?"
    if tag not in TAGS:
        raise _error(element, f"<Bridge> may contain only Number, SipAccount and SipUri,"
                              f" not <{tag}>")
    attrs.check_attributes(element, ("sendDigits",) if tag == NUMBER_TAG else ())
    text = attrs.text_of(element, 256)
    if tag == NUMBER_TAG:
        digits = element.get("sendDigits")
        if digits is not None and not _DIGITS.fullmatch(digits.strip()):
            raise _error(element, f"must be DTMF digits 0-9 * # A-D, w (half a second) or W"
                                  f" (a second) to pause, at most 256, got {digits!r}",
                         "sendDigits")
        return Target(tag, number(element, text), (digits or "").strip())
    if tag == SIP_ACCOUNT_TAG:
        if not _USERNAME.fullmatch(text):
            raise _error(element, f"<SipAccount> must be a SIP username (letters, digits,"
                                  f" . _ + -), got {text[:40]!r}")
        return Target(tag, text)
    if not _URI.fullmatch(text):
        raise _error(element, f"<SipUri> must be a sip: or sips: URI like"
                              f" sip:user@host[:port], got {text[:60]!r}")
    return Target(tag, text)


def parse_targets(element: attrs.Element) -> tuple[Target, ...]:
    """The nouns of a <Bridge>, or its text as one number."""
    if len(element):
        attrs.check_no_text(element)
        targets = tuple(parse_target(child) for child in element)
    else:
        text = (element.text or "").strip()
        if not text:
            raise _error(element, "<Bridge> needs a number as text or at least one"
                                  " Number, SipAccount or SipUri")
        targets = (Target(NUMBER_TAG, number(element, text)),)
    if len(targets) > MAX_TARGETS:
        raise _error(element, f"<Bridge> may ring at most {MAX_TARGETS} destinations")
    return targets


def caller_id(element: attrs.Element) -> str | None:
    """callerId: a phone number or a SIP user name (it becomes a channel variable)."""
    raw = element.get("callerId")
    if raw is None or not raw.strip():
        return None
    if not _CALLER_ID.fullmatch(raw.strip()):
        raise _error(element, f"must be a phone number (digits, optionally after +) or a"
                              f" SIP user name, got {raw[:40]!r}", "callerId")
    return raw.strip()
