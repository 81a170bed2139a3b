"""End to end: a script the schema refuses never reaches the call.

The script server answers with a document whose first verbs are fine and whose last is
not. The whole document is refused before anything runs, so the switch's trace shows
only the spoken error (answer + one playback), the good verbs' media is never fetched,
and the call hangs up normally.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.samples import tone_wav

INVALID = Path(__file__).resolve().parents[1] / "schemas" / "corpus" / "invalid"

BROKEN_LAST_VERB = [
    '<Gather timeout="-1"><Speak>Press a key.</Speak></Gather>',
    '<Speak voice="robot">Hello.</Speak>',
    "<Gather><Dial>+14155550100</Dial></Gather>",
    '<Bridge ringTone="jp">+14155550100</Bridge>',
    "<Pause>5</Pause>",
    "<Response><Hangup/></Response>",
]


def script(last_verb: str) -> str:
    return (
        '<?xml version="1.0"?>\n<Response>\n  <Play>/tone.wav</Play>\n'
        f"  <Speak>This must not be heard.</Speak>\n  {last_verb}\n</Response>"
    )


def spoken_error_only(result) -> bool:
    return result.apps == ["answer", "playback"] and result.trace[-1]["response"] == "FILE PLAYED"


@pytest.mark.parametrize("last_verb", BROKEN_LAST_VERB)
async def test_refused_document_runs_nothing(platform, site, last_verb) -> None:
    site["/tone.wav"] = (200, "audio/wav", tone_wav(0.3))
    site["/voice"] = script(last_verb)
    result = await platform.call()
    assert spoken_error_only(result)
    assert result.hangup_cause == "NORMAL_CLEARING"
    assert [hit.path for hit in site.hits] == ["/voice"]  # /tone.wav never fetched


@pytest.mark.parametrize("name", ["gather_with_dial.xml", "unknown_verb_say.xml",
                                  "entity_bomb.xml", "bridge_no_target.xml"])
async def test_corpus_document_refused_on_a_call(platform, site, name) -> None:
    body = (INVALID / name).read_bytes()
    site["/voice"] = (200, "text/xml", body)
    result = await platform.call()
    assert spoken_error_only(result)
    assert result.hangup_cause == "NORMAL_CLEARING"


async def test_fallback_is_told_12100(platform, site, engine_config) -> None:
    platform.engine.runner.config = dataclasses.replace(
        engine_config, fallback_url=site.url + "/fallback"
    )
    site["/voice"] = script('<Record maxLength="0"/>')
    site["/fallback"] = '<Response><Hangup/></Response>'
    result = await platform.call()
    (posted,) = site.posted("/fallback")
    assert posted["ErrorCode"] == "12100"
    assert posted["ErrorUrl"] == site.url + "/voice"
    assert result.apps == [] and result.hangup_cause == "NORMAL_CLEARING"
