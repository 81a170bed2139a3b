"""The ``callscript`` command: one subcommand per process of DESIGN's operator table."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from engine import config

USAGE = """usage: callscript COMMAND [options]

commands:
  engine    serve calls the switch hands over (outbound ESL)
  sandbox   run the FreeSWITCH stand-in
  call      place one simulated call and print its trace
  demo      sandbox + engine + sample script, one call
  db        `db upgrade`: run the database migrations
  worker    deliver and sign webhooks (RQ worker)
  webhooks  failed | replay ID | replay --all: dead letters
  api       the REST management API (gunicorn)
  numbers   assign NUMBER ACCOUNT | release NUMBER: give numbers to accounts
  accounts  create NAME | keys ACCOUNT [--revoke KEY] | webhook-secret ACCOUNT [--rotate]

`callscript COMMAND --help` lists a command's options and their environment variables.
"""


def _logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # `kill -USR1 PID` writes every thread's stack beside the log: a stuck process reads so.
    faulthandler.register(signal.SIGUSR1, all_threads=True)


def cmd_engine(argv: Sequence[str]) -> int:
    from engine.server import Engine

    args = config.parse("engine", argv)
    _logging()
    try:
        engine_config = config.EngineConfig.from_args(args)
    except ValueError as exc:
        print(f"callscript engine: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(Engine(engine_config).serve_forever())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"callscript engine: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_sandbox(argv: Sequence[str]) -> int:
    from sandbox.switch import Sandbox

    args = config.parse("sandbox", argv)
    _logging()

    async def run() -> None:
        sandbox = Sandbox(args.listen, args.password, args.engine, args.speed)
        await sandbox.start()
        try:
            await asyncio.Event().wait()
        finally:
            await sandbox.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def cmd_call(argv: Sequence[str]) -> int:
    from esl.errors import ESLError
    from sandbox.caller import place_call

    args = config.parse("call", argv)
    switch = config.host_port(args.switch.split(",")[0], 8021)
    try:
        result = asyncio.run(
            place_call(
                switch,
                args.switch_password,
                getattr(args, "from"),
                args.to,
                args.digits,
                args.hangup_after,
                args.timeout,
                sip_user=args.sip_user,
            )
        )
    except ESLError as exc:
        print(f"callscript call: {exc}", file=sys.stderr)
        return 1
    if result.error:
        print(f"callscript call: {result.error}", file=sys.stderr)
    return 0 if result.ended and not result.error else 1


def cmd_demo(argv: Sequence[str]) -> int:
    from engine.demo import run_demo

    args = config.parse("demo", argv)
    _logging(logging.WARNING)
    return asyncio.run(run_demo(args.digits, args.speed, args.redis))


def cmd_worker(argv: Sequence[str]) -> int:
    from engine.worker import run_worker, settings_from_args

    args = config.parse("worker", argv)
    _logging()
    try:
        settings = settings_from_args(args)
        run_worker(settings)
    except ValueError as exc:  # a bad secret, schedule, or a schema to upgrade
        print(f"callscript worker: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_webhooks(argv: Sequence[str]) -> int:
    import argparse

    from redis import Redis
    from rq import Queue

    from engine.delivery import QUEUE
    from engine.storage import open_database
    from engine.worker import failed_lines, replay

    parser = argparse.ArgumentParser(prog="callscript webhooks")
    parser.add_argument("action", choices=["failed", "replay"])
    parser.add_argument("ids", nargs="*", help="delivery ids (the webhook-id) to replay")
    parser.add_argument("--all", action="store_true", help="replay every dead letter")
    config.add_options(parser, "webhooks")
    args = config.finish(parser.parse_args(list(argv)), "webhooks")
    _logging(logging.WARNING)
    db = open_database(args.database)
    if args.action == "failed":
        for line in failed_lines(db):
            print(line)
        return 0
    if not args.ids and not args.all:
        parser.error("replay needs delivery ids or --all")
    queue = Queue(QUEUE, connection=Redis.from_url(args.redis))
    revived = replay(db, queue, None if args.all else args.ids)
    for delivery_id in revived:
        print(f"replaying {delivery_id}")
    missing = set(args.ids) - set(revived)
    for delivery_id in sorted(missing):
        print(f"callscript webhooks: {delivery_id}: no such delivery, or already pending",
              file=sys.stderr)
    return 1 if missing else 0


def cmd_api(argv: Sequence[str]) -> int:
    from api.serve import main as api_main

    return api_main(argv)


def cmd_db(argv: Sequence[str]) -> int:
    from engine.migrations.cli import main as db_main

    return db_main(argv)


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "engine": cmd_engine,
    "sandbox": cmd_sandbox,
    "call": cmd_call,
    "demo": cmd_demo,
    "db": cmd_db,
    "worker": cmd_worker,
    "webhooks": cmd_webhooks,
    "api": cmd_api,
    "numbers": lambda argv: __import__("api.numbers_cli", fromlist=["main"]).main(argv),
    "accounts": lambda argv: __import__("api.accounts_cli", fromlist=["main"]).main(argv),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"callscript: unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return command(argv[1:])
    except ValueError as exc:  # a bad environment value, named by config
        print(f"callscript {argv[0]}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
