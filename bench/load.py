"""Load generator: originate CALLS calls on a switch, CONCURRENCY at a time.

Prints one JSON line: completed and failed counts. A call is complete when its
``-b`` leg (the one the engine served) hangs up."""

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

    def settle(key: str) -> None:
        counts[key] += 1
        slots.release()
        if counts["completed"] + counts["failed"] >= calls:
            finished.set()

    async def hangups() -> None:
        while True:
            event = await client.events.get()
            if (event.field("Channel-Name") or "").endswith("-b"):
                settle("completed")

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
    await client.close()
    return counts


if __name__ == "__main__":
    port, calls, concurrency = (int(a) for a in sys.argv[1:4])
    print(json.dumps(asyncio.run(main(port, calls, concurrency))))
