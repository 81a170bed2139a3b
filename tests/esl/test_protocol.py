"""The sans-IO parser against every recorded FreeSWITCH session, cut every way."""

from __future__ import annotations

import random

import pytest

from esl import encode, protocol
from esl.errors import LocalProtocolError, RemoteProtocolError
from esl.protocol import (
    ApiResponse,
    AuthRequest,
    CommandReader,
    CommandReply,
    DisconnectNotice,
    Event,
    FrameReader,
)
from tests.captures import CAPTURES, load


def frames_of(chunks: list[bytes]) -> list:
    reader = FrameReader()
    out = []
    for chunk in chunks:
        reader.feed(chunk)
        out.extend(reader)
    return out


@pytest.mark.parametrize("name", CAPTURES)
def test_every_recorded_frame_parses_one_for_one(name: str) -> None:
    session = load(name)
    frames = frames_of([frame for frame in session.switch_frames])
    assert len(frames) == len(session.switch_frames)
    for frame, raw in zip(frames, session.switch_frames, strict=True):
        assert frame.content_type, raw[:80]
        length = frame.get("Content-Length")
        assert len(frame.body) == int(length or 0)


@pytest.mark.parametrize("name", CAPTURES)
def test_whole_stream_in_one_read_and_random_cuts_parse_identically(name: str) -> None:
    stream = load(name).switch_bytes
    whole = frames_of([stream])
    rng = random.Random(name)
    cuts = sorted(rng.sample(range(1, len(stream)), k=min(300, len(stream) - 1)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert frames_of(pieces) == whole


def test_split_at_every_byte_boundary() -> None:
    stream = load("outbound_basic.esl").switch_bytes[:12000]
    expected = frames_of([stream])
    assert len(expected) >= 5
    for cut in range(1, len(stream)):
        assert frames_of([stream[:cut], stream[cut:]]) == expected, cut


def test_byte_by_byte_feed() -> None:
    stream = load("inbound_session.esl").switch_bytes
    assert frames_of([stream[i : i + 1] for i in range(len(stream))]) == frames_of([stream])


def test_connect_reply_carries_channel_data_decoded() -> None:
    reply = frames_of([load("outbound_basic.esl").switch_frames[0]])[0]
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "+OK\n"  # Reply-Text: %2BOK%0A
    assert reply.get("Event-Name") == "CHANNEL_DATA"
    assert reply.get("variable_current_application_data") == "127.0.0.1:8084 async full"
    assert reply.get("Event-Date-GMT", "").startswith("Sun, 22 Nov 2026")
    assert reply.get("variable_DP_MATCH") == "ARRAY::9999|:9999"


def test_event_values_are_percent_decoded_after_splitting() -> None:
    events = [
        f for f in frames_of([load("outbound_basic.esl").switch_bytes]) if isinstance(f, Event)
    ]
    pagd = next(e for e in events if e.field("Application") == "play_and_get_digits")
    assert pagd.field("Application-Data") == (
        "1 3 1 4000 # tone_stream://%(400,0,800) silence_stream://250 cs_digits \\d+ 2000"
    )
    done = next(
        e
        for e in events
        if e.name == "CHANNEL_EXECUTE_COMPLETE" and e.field("Application") == "play_and_get_digits"
    )
    assert done.field("variable_cs_digits") == "42"
    assert [e.field("DTMF-Digit") for e in events if e.name == "DTMF"] == ["4", "2", "#"]


def test_encoded_newline_in_a_value_does_not_split_the_header() -> None:
    raw = b"Content-Type: command/reply\nReply-Text: %2BOK%0A%0AEvent-Name: X\n\n"
    (reply,) = frames_of([raw])
    assert reply.reply_text == "+OK\n\nEvent-Name: X"
    assert "Event-Name" not in reply


def test_body_with_blank_lines_is_framed_by_content_length() -> None:
    body = b"line one\n\nline three\n\n\n"
    raw = b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body
    raw += b"Content-Type: command/reply\nReply-Text: +OK\n\n"
    api, reply = frames_of([raw])
    assert isinstance(api, ApiResponse) and api.body == body
    assert isinstance(reply, CommandReply) and reply.ok


def test_content_length_counts_bytes_not_characters() -> None:
    body = "héllo wörld\n".encode()
    raw = b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body
    (api,) = frames_of([raw])
    assert api.text == "héllo wörld\n"


def test_background_job_body_and_json_events() -> None:
    frames = frames_of([load("inbound_originate_outcomes.esl").switch_bytes])
    jobs = [f for f in frames if isinstance(f, Event) and f.name == "BACKGROUND_JOB"]
    assert "-ERR USER_BUSY\n" in [job.payload for job in jobs]
    session = frames_of([load("inbound_session.esl").switch_bytes])
    json_events = [f for f in session if f.content_type == "text/event-json"]
    assert json_events and all(isinstance(e, Event) for e in json_events)
    assert json_events[0].field("Event-Date-GMT") == "Sun, 22 Nov 2026 23:10:38 GMT"


def test_repeated_headers_are_kept() -> None:
    raw = b"Content-Type: command/reply\nReply-Text: +OK\nX-Dup: 1\nX-Dup: 2\n\n"
    (reply,) = frames_of([raw])
    assert reply.get_all("X-Dup") == ["1", "2"]


def test_disconnect_notice() -> None:
    frames = frames_of([load("inbound_bad_password.esl").switch_bytes])
    assert isinstance(frames[0], AuthRequest)
    assert isinstance(frames[1], CommandReply) and frames[1].reply_text == "-ERR invalid"
    assert isinstance(frames[2], DisconnectNotice)
    assert frames[2].body.startswith(b"Disconnected, goodbye.")
    linger = frames_of([load("outbound_basic.esl").switch_bytes])[-1]
    assert isinstance(linger, DisconnectNotice)
    assert linger.get("Content-Disposition") == "linger"


def test_garbage_is_a_remote_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError, match="colon"):
        frames_of([b"this is not esl\n\n"])
    with pytest.raises(RemoteProtocolError, match="Content-Length"):
        frames_of([b"Content-Type: api/response\nContent-Length: many\n\n"])


@pytest.mark.parametrize("name", CAPTURES)
def test_recorded_commands_parse_and_reencode(name: str) -> None:
    session = load(name)
    reader = CommandReader()
    reader.feed(session.engine_bytes)
    commands = list(reader)
    assert len(commands) == len(session.engine_frames)
    for command in commands:
        if command.verb == "sendmsg" and command.get("call-command") == "execute":
            app = command.get("execute-app-name") or ""
            arg = command.get("execute-app-arg") or ""
            encoded = protocol.execute(app, arg, command.get("Event-UUID"))
            assert encoded in session.engine_frames


def test_command_encoders_match_the_recorded_bytes() -> None:
    sent = set(load("outbound_basic.esl").engine_frames)
    assert protocol.connect() in sent
    assert protocol.myevents() in sent
    assert protocol.linger() in sent
    assert protocol.hangup("NORMAL_CLEARING") in sent
    inbound = set(load("inbound_session.esl").engine_frames)
    assert protocol.auth("ClueCon") in inbound
    assert protocol.api("status") in inbound
    assert (
        protocol.event(
            "plain",
            ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB"],
        )
        in inbound
    )


def test_encoders_refuse_newlines() -> None:
    with pytest.raises(LocalProtocolError, match="newline"):
        protocol.api("status\n\nexit")
    with pytest.raises(LocalProtocolError, match="call-command"):
        protocol.sendmsg([("call-command", "execute\nx")])


def test_event_plain_round_trip_uses_freeswitch_encoding() -> None:
    fields = [("Event-Name", "CHANNEL_EXECUTE"), ("Application-Data", "a=b c:d/%#\\+")]
    raw = encode.encode_event_plain(fields)
    assert b"Application-Data: a%3Db%20c%3Ad/%25%23%5C%2B\n" in raw
    (event,) = frames_of([raw])
    assert event.fields == tuple(fields)
