"""``callscript demo``: the whole platform on the embedded defaults, one call, its trace.

Everything runs in this process on free loopback ports: the sample ExternalScript
server, the sandbox switch and an engine allowed to reach loopback URLs (the sample
script is on loopback). The call is placed exactly as ``callscript call`` does.
"""

from __future__ import annotations

import logging
import tempfile

from engine.config import EngineConfig
from engine.samples import ScriptServer, create_app
from engine.server import Engine
from sandbox.caller import place_call
from sandbox.switch import Sandbox

PASSWORD = "ClueCon"


class _VerbLines(logging.Handler):
    """Prints each verb as the engine starts it, between the switch's app lines."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "call %s: <%s>" and isinstance(record.args, tuple):
            print(f"verb <{record.args[1]}>", flush=True)


def _show_verbs() -> None:
    logger = logging.getLogger("engine.loop")
    logger.addHandler(_VerbLines())
    logger.setLevel(logging.INFO)
    logger.propagate = False


async def run_demo(digits: str = "1", speed: float = 20.0) -> int:
    _show_verbs()
    with ScriptServer(create_app()) as scripts, tempfile.TemporaryDirectory() as tmp:
        engine = Engine(
            EngineConfig(
                listen=("127.0.0.1", 0),
                default_url=scripts.url,
                allow_private_urls=True,
                media_dir=f"{tmp}/media",
                recordings_dir=f"{tmp}/recordings",
            )
        )
        await engine.start(link_switches=False)
        sandbox = Sandbox("127.0.0.1:0", PASSWORD, f"127.0.0.1:{engine.port}", speed)
        await sandbox.start()
        print(
            f"script server {scripts.url}, engine 127.0.0.1:{engine.port}, "
            f"sandbox 127.0.0.1:{sandbox.port} (speed x{speed:g})"
        )
        print(f"calling 15550002222 from 15550001111, pressing {digits!r} when asked")
        try:
            result = await place_call(
                ("127.0.0.1", sandbox.port),
                PASSWORD,
                "15550001111",
                "15550002222",
                digits=digits,
                timeout=120,
            )
        finally:
            await sandbox.stop()
            await engine.stop()
        for params in scripts.app.config["calls"]:
            shown = {
                k: params[k]
                for k in ("CallSid", "From", "To", "CallStatus", "Digits")
                if k in params
            }
            print(f"script server received {shown}")
        return 0 if result.ended and not result.error else 1
