"""Load generator: originate CALLS calls on a switch, CONCURRENCY at a time.

Prints one JSON line: completed and failed counts and the hangup causes. A call is
complete when its ``-b`` leg (the one the engine served) hangs up NORMAL_CLEARING after
its script ran; any other cause (NO_ANSWER: the engine did not answer in time) fails."""

from __future__ import annotations

import asyncio
import json
import sys

from esl.connection import InboundClient


async def main(port: int, calls: int, concurrency: int) -> dict:
    client = await InboundClient.connect("127.0.0.1", port, "ClueCon")
    await client.subscribe(["CHANNEL_HANGUP_COMPLETE"])
    slots = asyncio.Semaphore(concurrency)
    finished = asyncio.Event()
    counts = {"completed": 0, "failed": 0}
    causes: dict[str, int] = {}

    def settle(key: str) -> None:
        counts[key] += 1
        slots.release()
        if counts["completed"] + counts["failed"] >= calls:
            finished.set()

    async def hangups() -> None:
        while True:
            event = await client.events.get()
            if (event.field("Channel-Name") or "").endswith("-b"):
                cause = event.field("Hangup-Cause") or "?"
                causes[cause] = causes.get(cause, 0) + 1
                settle("completed" if cause == "NORMAL_CLEARING" else "failed")

    async def originate(n: int) -> None:
        caller = f"{{origination_caller_id_number=1555{n:07d}}}"
        job = await client.bgapi(f"originate {caller}loopback/15550000000/default &park()")
        if not job.payload.startswith("+OK"):
            settle("failed")

    watcher = asyncio.create_task(hangups())
    jobs = []
    for n in range(calls):
        await slots.acquire()
        jobs.append(asyncio.create_task(originate(n)))
    await finished.wait()
    watcher.cancel()
    for job in jobs:
        job.cancel()
    await client.close()
    return {**counts, "hangup_causes": causes}


if __name__ == "__main__":
    port, calls, concurrency = (int(a) for a in sys.argv[1:4])
    print(json.dumps(asyncio.run(main(port, calls, concurrency))))
