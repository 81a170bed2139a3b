"""engine/sofia.py against the bytes real FreeSWITCH sent (inbound_registration.esl)."""

from __future__ import annotations

import pytest

from engine.sofia import COMMAND, SwitchError, parse_registrations, status_of
from esl.protocol import ApiResponse, FrameReader
from tests import captures

SESSION = captures.load("inbound_registration.esl")


def recorded_reply(command: str) -> ApiResponse:
    """The switch's api/response to the recorded ``api COMMAND``."""
    items = list(SESSION.items)
    sent = next(i for i, (who, data) in enumerate(items)
                if who == "engine" and data == f"api {command}\n\n".encode())
    reader = FrameReader()
    reader.feed(next(data for who, data in items[sent + 1:] if who == "switch"))
    frame = next(iter(reader))
    assert isinstance(frame, ApiResponse)
    return frame


def test_the_engine_sends_the_recorded_command() -> None:
    assert recorded_reply(COMMAND).body.startswith(b'<?xml version="1.0"')


def test_recorded_reply_is_alices_registration() -> None:
    [alice] = parse_registrations(recorded_reply(COMMAND).body)
    assert alice.user == "alice@127.0.0.1" and alice.call_id == "1-23398@127.0.0.1"
    assert alice.contact == '"" <sip:alice@127.0.0.1:5096>'
    assert alice.expires == 178 and alice.state["transport"] == "UDP"
    status = status_of([alice], "alice", "127.0.0.1")
    assert status == {
        "registered": True, "contact": "sip:alice@127.0.0.1:5096", "expires": 178,
        "user_agent": "sipp", "network_ip": "127.0.0.1", "network_port": 5096,
        "transport": "UDP", "ping_status": "Reachable", "call_id": "1-23398@127.0.0.1",
        "registrations": 1,
    }


def test_other_users_and_domains_are_not_registered() -> None:
    regs = parse_registrations(recorded_reply(COMMAND).body)
    for user, domain in (("bob", "127.0.0.1"), ("alice", "10.0.0.1"), ("alic", "127.0.0.1")):
        status = status_of(regs, user, domain)
        assert status["registered"] is False and status["contact"] is None
        assert status["registrations"] == 0
    assert status_of(regs, "alice", "127.0.0.1".upper())["registered"] is True


def test_freshest_of_several_registrations_wins() -> None:
    body = recorded_reply(COMMAND).body
    second = (body.replace(b"expsecs(178)", b"expsecs(3500)")
              .replace(b"5096", b"5097").replace(b"sipp", b"desk-phone"))
    start = second.index(b"    <registration>")
    end = second.index(b"  </registrations>")
    both = body.replace(b"  </registrations>", second[start:end] + b"  </registrations>")
    status = status_of(parse_registrations(both), "alice", "127.0.0.1")
    assert status["registrations"] == 2 and status["expires"] == 3500
    assert status["user_agent"] == "desk-phone" and status["network_port"] == 5097


def test_lapsed_rows_do_not_count() -> None:
    body = recorded_reply(COMMAND).body.replace(b"expsecs(178)", b"expsecs(-2)")
    assert status_of(parse_registrations(body), "alice", "127.0.0.1")["registered"] is False


def test_no_registrations() -> None:
    body = (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n'
            b"  </registrations>\n</profile>\n")
    assert parse_registrations(body) == []


@pytest.mark.parametrize("body, words", [
    (b"Invalid Profile!\n", "Invalid Profile!"),
    (b"-ERR sofia Command not found!\n", "-ERR sofia Command not found!"),
    (b"", "an empty reply"),
    (b"<?xml version='1.0'?><profile><registrations>", "unreadable"),
    (b"<?xml version='1.0'?><error>no</error>", "expected <profile>"),
    (b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x "y">]><profile>&x;</profile>', "DOCTYPE"),
])
def test_errors_name_what_the_switch_said(body: bytes, words: str) -> None:
    with pytest.raises(SwitchError) as caught:
        parse_registrations(body)
    assert words in str(caught.value)


def test_the_text_form_is_not_taken_for_xml() -> None:
    with pytest.raises(SwitchError, match="Registrations:"):
        parse_registrations(recorded_reply("sofia status profile internal reg").body)
