"""<Conference> end to end: sandbox calls -> engine -> real script server, several at once.

Calls are placed together with asyncio.gather and routed by their To number (one script
that branches on To). A controller task drives the room through the sandbox's own
``conference`` api (as an operator or the REST API would) once the members are in, so
no assertion depends on timing. Status events are read from the engine's emit hook.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import wave

import pytest

from engine.samples import tone_wav


def response(*verbs: str) -> str:
    return '<?xml version="1.0"?>\n<Response>' + "".join(verbs) + "</Response>"


def by_to(scripts: dict[str, str]):
    def voice(form: dict[str, str]) -> str:
        return scripts[form["To"]]
    return voice


@pytest.fixture
def emitted(platform) -> list[tuple[str, str, dict[str, str]]]:
    """Every status event the engine emits: (CallSid, event, data)."""
    seen: list[tuple[str, str, dict[str, str]]] = []
    runner = platform.engine.runner
    runner.services = dataclasses.replace(
        runner.services, emit=lambda sid, event, data: seen.append((sid, event, dict(data))))
    return seen


def room(platform, name: str) -> str:
    return f"{platform.engine.config.account_sid}_{name}"


async def api(platform, command: str) -> str:
    return await platform.sandbox.switch.api(command)


async def until_members(platform, name: str, count: int) -> list[list[str]]:
    """Wait (bounded) until the room holds ``count`` members; its list lines."""
    for _ in range(2000):
        reply = await api(platform, f"conference {room(platform, name)} count")
        if reply == str(count):
            listing = await api(platform, f"conference {room(platform, name)} list")
            return [line.split(";") for line in listing.splitlines()]
        await asyncio.sleep(0.005)
    raise AssertionError(f"room {name} never had {count} members")


def conference_apps(result) -> list[dict[str, str]]:
    return [step for step in result.trace if step["app"] == "conference"]


async def test_end_conference_on_exit_releases_the_others(platform, site) -> None:
    after = "<Speak>The conference is over.</Speak>"
    site["/voice"] = by_to({
        "100": response("<Conference>sales</Conference>", after),
        "200": response("<Conference>sales</Conference>", after),
        "300": response('<Conference endConferenceOnExit="true">sales</Conference>', after),
    })

    async def controller() -> None:
        members = await until_members(platform, "sales", 3)
        chair = [m for m in members if "endconf" in m[5].split("|")][0]
        assert (await api(platform, f"conference {room(platform, 'sales')} kick {chair[0]}")
                ) == f"+OK kicked {chair[0]}\n"

    a, b, c, _ = await asyncio.gather(platform.call(to="100"), platform.call(to="200"),
                                      platform.call(to="300"), controller())
    for result in (a, b, c):
        assert result.hangup_cause == "NORMAL_CLEARING", result
        assert result.apps[-2:] == ["conference", "playback"]
        sets = [s["arg"] for s in result.trace if s["app"] == "set"]
        assert "hangup_after_conference=false" in sets
        assert "conference_max_members=250" in sets
    assert conference_apps(a)[0]["arg"] == (
        f"{room(platform, 'sales')}@callscript+flags{{moderator|nomoh}}")
    assert conference_apps(c)[0]["arg"].endswith("+flags{endconf|moderator|nomoh}")
    assert await api(platform, f"conference {room(platform, 'sales')} list") == (
        f"-ERR Conference {room(platform, 'sales')} not found\n")


@pytest.fixture
async def watcher(platform):
    """An inbound client subscribed to conference::maintenance, as an operator would be."""
    from esl.connection import InboundClient

    client = await InboundClient.connect("127.0.0.1", platform.sandbox.port, "ClueCon")
    await client.subscribe(["CUSTOM", "conference::maintenance"])
    yield client
    await client.close()


def drain(client) -> list:
    got = []
    while not client.events.empty():
        got.append(client.events.get_nowait())
    return got


async def test_wait_url_plays_until_a_moderator_joins(platform, site, watcher) -> None:
    site["/tone.wav"] = (200, "audio/wav", tone_wav(0.3))
    site["/wait"] = response('<Redirect method="GET">/wait2</Redirect>')
    site["/wait2"] = response("<Play>/tone.wav</Play>", '<Pause length="1"/>')
    site["/voice"] = by_to({
        "100": response('<Conference startConferenceOnEnter="false" waitUrl="/wait" '
                        'waitMethod="GET">lobby</Conference>', "<Speak>Goodbye.</Speak>"),
        "200": response('<Conference endConferenceOnExit="true">lobby</Conference>'),
    })

    async def controller():
        await until_members(platform, "lobby", 1)
        while not [e for e in drain_into(seen) if e.field("Action") == "play-file-done"]:
            await asyncio.sleep(0.005)
        chair = asyncio.ensure_future(platform.call(to="200"))
        members = await until_members(platform, "lobby", 2)
        await platform.sandbox.switch.clock.sleep(10.0)  # turns of the music, had it gone on
        await api(platform, f"conference {room(platform, 'lobby')} kick "
                            f"{[m for m in members if 'endconf' in m[5]][0][0]}")
        return await chair

    seen: list = []

    def drain_into(into: list) -> list:
        into.extend(drain(watcher))
        return into

    waiter, chair = await asyncio.gather(platform.call(to="100"), controller())
    drain_into(seen)
    moh = [s["arg"] for s in waiter.trace if s["arg"].startswith("conference_moh_sound=")][0]
    moh = moh.split("=", 1)[1]
    assert moh.startswith("file_string://") and moh.endswith("!silence_stream://1000")
    assert [h.method for h in site.hits if h.path.startswith("/wait")] == ["GET", "GET"]
    assert conference_apps(waiter)[0]["arg"].endswith("+flags{wait-mod}")
    actions = [(e.field("Action"), e.field("File"), e.field("Caller-Destination-Number"))
               for e in seen]
    joined = actions.index(("add-member", None, "200"))
    before = [a for a in actions[:joined] if a[:2] == ("play-file-done", moh)]
    after = [a for a in actions[joined:] if a[:2] == ("play-file-done", moh)]
    # It played, then stopped when the chair came: the file cut short fires its
    # play-file-done after the join, unless that turn of the music had just ended.
    assert before and len(after) <= 1
    assert waiter.apps[-2:] == ["conference", "playback"]
    assert waiter.hangup_cause == chair.hangup_cause == "NORMAL_CLEARING"


async def test_muted_member_and_status_callbacks(platform, site, emitted) -> None:
    site["/voice"] = by_to({
        "100": response('<Conference muted="true" statusCallback="/status" '
                        'statusCallbackEvent="start end join leave mute" '
                        'statusCallbackMethod="GET">board</Conference>'),
        "200": response('<Conference endConferenceOnExit="true" '
                        'startConferenceOnEnter="false">board</Conference>'),
    })

    async def controller():
        first = await until_members(platform, "board", 1)
        assert first[0][5].split("|")[:1] == ["hear"]  # no "speak": muted
        second = asyncio.ensure_future(platform.call(to="200"))
        await until_members(platform, "board", 2)
        name = room(platform, "board")
        assert await api(platform, f"conference {name} unmute {first[0][0]}") == (
            f"+OK unmute {first[0][0]}\n")
        others = await until_members(platform, "board", 2)
        await api(platform, f"conference {name} kick {[m for m in others if m != first[0]][0][0]}")
        return await second

    muted, _ = await asyncio.gather(platform.call(to="100"), controller())
    sid = "CA" + muted.uuid.replace("-", "")
    mine = [(event, data) for call, event, data in emitted if call == sid]
    assert [e for e, _ in mine] == ["conference-join", "conference-start", "conference-mute",
                                    "conference-leave", "conference-end"]
    datas = [d for _, d in mine]
    assert [d["StatusCallbackEvent"] for d in datas] == [
        "participant-join", "conference-start", "participant-unmute", "participant-leave",
        "conference-end"]
    assert datas[0]["Muted"] == "true" and datas[2]["Muted"] == "false"
    sids = {d["ConferenceSid"] for d in datas}
    assert len(sids) == 1 and len(sids.pop()) == 34
    assert all(d["FriendlyName"] == "board" and d["callback_method"] == "GET"
               and d["callback_url"] == site.url + "/status" for d in datas)
    assert datas[-1]["ReasonConferenceEnded"] == "last-participant-left"
    assert [s["arg"] for s in conference_apps(muted)][0].endswith("+flags{mute|moderator|nomoh}")
    # the other member asked for no events; the default ("start end") had no callback URL
    assert not [e for sid, e, d in emitted if "callback_url" in d and d["FriendlyName"] != "board"]


async def test_max_participants_refuses_the_extra_caller(platform, site, watcher) -> None:
    conf = '<Conference maxParticipants="2" beep="false">tiny</Conference>'
    site["/voice"] = by_to({n: response(conf, "<Speak>Next verb.</Speak>")
                            for n in ("100", "200", "300")})

    async def controller():
        first = [asyncio.ensure_future(platform.call(to=n)) for n in ("100", "200")]
        await until_members(platform, "tiny", 2)
        extra = await platform.call(to="300")
        assert await api(platform, f"conference {room(platform, 'tiny')} count") == "2"
        await api(platform, f"conference {room(platform, 'tiny')} hup all")
        return extra, await asyncio.gather(*first)

    extra, members = await controller()
    assert extra.apps[-2:] == ["conference", "playback"]
    assert extra.hangup_cause == "NORMAL_CLEARING"
    adds = [e for e in drain(watcher) if e.field("Action") == "add-member"]
    assert {e.field("Caller-Destination-Number") for e in adds} == {"100", "200"}
    assert all(m.apps[-1] == "conference" for m in members)  # hung up in the room
    sets = [s["arg"] for s in extra.trace if s["app"] == "set"]
    assert "conference_max_members=2" in sets
    assert "conference_enter_sound=silence_stream://1" in sets
    assert "conference_exit_sound=silence_stream://1" in sets


async def test_record_from_start_writes_the_conference(platform, site, engine_config) -> None:
    site["/voice"] = by_to({
        "100": response('<Conference record="record-from-start" beep="onEnter">rec</Conference>'),
        "200": response('<Conference beep="onExit">rec</Conference>'),
    })

    async def controller():
        calls = [asyncio.ensure_future(platform.call(to="100"))]
        await until_members(platform, "rec", 1)
        calls.append(asyncio.ensure_future(platform.call(to="200")))
        await until_members(platform, "rec", 2)
        await api(platform, f"conference {room(platform, 'rec')} hup all")
        return await asyncio.gather(*calls)

    first, second = await controller()
    files = os.listdir(engine_config.recordings_dir)
    assert len(files) == 1 and files[0].startswith("CF") and files[0].endswith(".wav")
    with wave.open(os.path.join(engine_config.recordings_dir, files[0])) as wav:
        assert wav.getframerate() == 8000 and wav.getnframes() > 0
    sets = {s["arg"] for s in first.trace + second.trace if s["app"] == "set"}
    assert {"conference_enter_sound=tone_stream://%(200,0,500,600,700)",
            "conference_exit_sound=silence_stream://1"} <= {
        s["arg"] for s in first.trace if s["app"] == "set"}
    assert "conference_exit_sound=tone_stream://%(500,0,300,200,100,50,25)" in sets
