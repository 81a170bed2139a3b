"""Operator options: flags beat the command's variable, which beats the shared one."""

from __future__ import annotations

import pytest

from engine import config
from engine.config import EngineConfig


def test_defaults_follow_the_operator_table() -> None:
    args = config.parse("engine", [], environ={})
    engine = EngineConfig.from_args(args)
    assert engine.listen == ("127.0.0.1", 8084)
    assert engine.switches == (("127.0.0.1", 8021),)
    assert engine.switch_password == "ClueCon"
    assert engine.allow_private_urls is False
    assert args.redis == "redis://127.0.0.1:6379/0"
    assert args.database == "sqlite:///callscript.db"
    sandbox = config.parse("sandbox", [], environ={})
    assert (sandbox.listen, sandbox.password, sandbox.engine, sandbox.speed) == (
        "127.0.0.1:8021",
        "ClueCon",
        "127.0.0.1:8084",
        1.0,
    )


def test_environment_precedence() -> None:
    env = {
        "CALLSCRIPT_SWITCH_PASSWORD": "shared",
        "CALLSCRIPT_ENGINE_SWITCH_PASSWORD": "own",
        "CALLSCRIPT_LISTEN": "0.0.0.0:1",  # --listen is never shared
        "CALLSCRIPT_ENGINE_ALLOW_PRIVATE_URLS": "yes",
        "CALLSCRIPT_ENGINE_ROUTE": "100=http://a/,200=http://b/",
    }
    args = config.parse("engine", [], environ=env)
    assert args.switch_password == "own"
    assert args.listen == "127.0.0.1:8084"
    assert args.allow_private_urls is True
    assert EngineConfig.from_args(args).routes == (("100", "http://a/"), ("200", "http://b/"))
    call = config.parse("call", [], environ=env)
    assert call.switch_password == "shared"
    flags = config.parse(
        "engine",
        ["--switch-password", "flag", "--no-allow-private-urls", "--route", "300=http://c/"],
        environ=env,
    )
    assert flags.switch_password == "flag" and flags.allow_private_urls is False
    assert flags.route == ["300=http://c/"]


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ValueError, match="CALLSCRIPT_ENGINE_ALLOW_PRIVATE_URLS"):
        config.parse("engine", [], environ={"CALLSCRIPT_ENGINE_ALLOW_PRIVATE_URLS": "maybe"})
    args = config.parse("engine", ["--route", "no-equals-sign"], environ={})
    with pytest.raises(ValueError, match="NUMBER=URL"):
        EngineConfig.from_args(args)


def test_ipv6_and_multiple_switches() -> None:
    args = config.parse("engine", ["--switch", "[::1]:8021,127.0.0.2"], environ={})
    assert EngineConfig.from_args(args).switches == (("::1", 8021), ("127.0.0.2", 8021))
