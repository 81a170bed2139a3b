"""Routing changes: from the API's published message to the engine's new snapshot.

An engine (engine/reloader.RouteTable, as `callscript engine --database --redis` runs it)
follows a Redis of the bench's own and a SQLite file holding `--numbers` numbers spread
over `--accounts` accounts. Each change assigns one more number to a small account and
publishes that account's sid, as `callscript numbers assign` does; the figure is the time
from the PUBLISH to the engine's next snapshot (p50, max over `--changes`). The same is
measured with the old message naming no account ("changed"), which rebuilds everything,
and the time of one full rebuild. One JSON line per size.

    python -m bench.routing                      # 1,000, 10,000 and 50,000 numbers
    python -m bench.routing --numbers 100000 --changes 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench.webhooks import start_redis  # noqa: E402
from engine.reloader import CHANNEL, RouteTable  # noqa: E402
from engine.resources import Account, Number, new_sid  # noqa: E402
from engine.storage import open_database  # noqa: E402


def seed(database: str, numbers: int, accounts: int) -> list[str]:
    """Accounts holding `numbers` numbers between them; their sids."""
    db = open_database(database)
    sids = [new_sid("account") for _ in range(accounts)]
    with db.engine.begin() as connection:
        connection.execute(insert(Account), [{"sid": sid, "name": sid} for sid in sids])
        rows = [{"id": new_sid("number"), "account_sid": sids[n % accounts],
                 "number": f"+1555{n:07d}", "status_callback_event": ["completed"]}
                for n in range(numbers)]
        connection.execute(insert(Number), rows)
    db.close()
    return sids


async def until_next(table: RouteTable, generation: int) -> None:
    while table.generation == generation:
        await asyncio.sleep(0.0005)


async def measure(database: str, redis_url: str, account: str, changes: int) -> dict:
    import redis.asyncio as aioredis

    table = RouteTable(database, redis_url, every=3600)
    client = aioredis.Redis.from_url(redis_url)
    db = open_database(database)
    try:
        await table.start()
        while (await client.pubsub_numsub(CHANNEL))[0][1] < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the rebuild after subscribing
        started = time.perf_counter()
        await table.reload()
        full = time.perf_counter() - started
        figures = {}
        for label, message in (("account", account), ("everything", "changed")):
            waits = []
            for n in range(changes):
                with db.engine.begin() as connection:
                    connection.execute(insert(Number), [{
                        "id": new_sid("number"), "account_sid": account,
                        "number": f"+1666{label == 'account':d}{n:06d}",
                        "status_callback_event": ["completed"]}])
                generation = table.generation
                sent = time.perf_counter()
                await client.publish(CHANNEL, message)
                await until_next(table, generation)
                waits.append((time.perf_counter() - sent) * 1000)
            figures[label] = {"p50_ms": round(statistics.median(waits), 1),
                              "max_ms": round(max(waits), 1)}
        return {"full_rebuild_ms": round(full * 1000, 1),
                "numbers_in_snapshot": len(table.snapshot.numbers), **figures}
    finally:
        await table.stop()
        await client.aclose()
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.routing")
    parser.add_argument("--numbers", type=int, action="append",
                        help="numbers in the database (repeatable; default 1000, 10000, 50000)")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    for numbers in args.numbers or [1000, 10_000, 50_000]:
        with tempfile.TemporaryDirectory(prefix="callscript-bench-routing-") as tmp:
            redis_proc, redis_url = start_redis(Path(tmp))
            try:
                database = f"sqlite:///{tmp}/routing.db"
                small = seed(database, numbers, args.accounts)[0]
                result = asyncio.run(measure(database, redis_url, small, args.changes))
            finally:
                redis_proc.terminate()
                redis_proc.wait(10)
            print(json.dumps({"bench": "routing", "numbers": numbers,
                              "accounts": args.accounts, "changes": args.changes,
                              **result}), flush=True)


if __name__ == "__main__":
    main()
