"""End to end: Gather's validDigits, minDigits, maxDigits and interDigitTimeout on the
sandbox switch (whose play_and_get_digits follows outbound_gather_no_input.esl), with
the argument the engine sends and what the action receives."""

from __future__ import annotations

import pytest

TAIL = "silence_stream://250 cs_gather_digits"


def response(*verbs: str) -> str:
    return '<?xml version="1.0"?>\n<Response>' + "".join(verbs) + "</Response>"


def gather_arg(result) -> list[str]:
    step = next(s for s in result.trace if s["app"] == "play_and_get_digits")
    return step["arg"].split(" ")


@pytest.mark.parametrize("pressed, posted", [("12#", "12"), ("21", "21")])
async def test_valid_digits_accepts_its_keys(platform, site, pressed, posted) -> None:
    site["/voice"] = response('<Gather action="/menu" validDigits="12" timeout="1"/>')
    site["/menu"] = response("<Hangup/>")

    result = await platform.call(digits=pressed)

    assert gather_arg(result)[8] == "^[12]+$"
    assert site.posted("/menu")[0]["Digits"] == posted


async def test_a_key_outside_valid_digits_makes_the_entry_invalid(platform, site) -> None:
    site["/voice"] = response('<Gather action="/menu" validDigits="12*" timeout="1"/>',
                              "<Hangup/>")
    site["/menu"] = response("<Hangup/>")

    result = await platform.call(digits="13#")

    assert gather_arg(result)[8] == "^[12*]+$"
    assert site.posted("/menu") == []
    assert result.apps == ["answer", "play_and_get_digits"]


async def test_invalid_entry_with_action_on_empty_result(platform, site) -> None:
    site["/voice"] = response(
        '<Gather action="/menu" validDigits="0123456789" actionOnEmptyResult="true"'
        ' timeout="1"/>')
    site["/menu"] = response("<Hangup/>")

    result = await platform.call(digits="5*#")

    assert gather_arg(result)[8] == "^[0-9]+$"
    assert site.posted("/menu")[0]["Digits"] == ""


async def test_min_digits_fewer_is_no_input(platform, site) -> None:
    site["/voice"] = response('<Gather action="/menu" minDigits="3" timeout="1"/>',
                              "<Hangup/>")
    site["/menu"] = response("<Hangup/>")

    result = await platform.call(digits="12#")

    assert gather_arg(result)[:2] == ["3", "127"]
    assert site.posted("/menu") == []


async def test_min_digits_met(platform, site) -> None:
    site["/voice"] = response('<Gather action="/menu" minDigits="3" timeout="1"/>')
    site["/menu"] = response("<Hangup/>")
    await platform.call(digits="123#")
    assert site.posted("/menu")[0]["Digits"] == "123"


async def test_max_digits_stops_the_entry(platform, site) -> None:
    site["/voice"] = response('<Gather action="/menu" maxDigits="2" finishOnKey=""/>')
    site["/menu"] = response("<Hangup/>")

    result = await platform.call(digits="123")

    assert gather_arg(result)[:2] == ["1", "2"]
    assert gather_arg(result)[4] == "none"
    assert site.posted("/menu")[0]["Digits"] == "12"


async def test_inter_digit_timeout_ends_a_partial_entry(platform, site) -> None:
    site["/voice"] = response(
        '<Gather action="/menu" timeout="7" interDigitTimeout="2" numDigits="4"/>')
    site["/menu"] = response("<Hangup/>")

    result = await platform.call(digits="12")

    arg = gather_arg(result)
    assert (arg[1], arg[3], arg[-1]) == ("4", "7000", "2000")
    assert " ".join(arg[6:8]) == TAIL
    assert site.posted("/menu")[0]["Digits"] == "12"


async def test_inter_digit_timeout_defaults_to_timeout(platform, site) -> None:
    site["/voice"] = response('<Gather action="/menu" timeout="3"/>', "<Hangup/>")
    result = await platform.call()
    arg = gather_arg(result)
    assert (arg[3], arg[-1]) == ("3000", "3000")


async def test_num_digits_and_max_digits_refuse_the_document(platform, site) -> None:
    """A document error: nothing runs but the spoken error (no fallback configured)."""
    site["/voice"] = response('<Gather numDigits="2" maxDigits="3"/>')
    result = await platform.call()
    assert "play_and_get_digits" not in result.apps
