"""`callscript numbers assign NUMBER ACCOUNT` / `release NUMBER`: the operator gives numbers
to accounts (DESIGN, "Ownership"); customers only route the numbers they hold (/v1/numbers).

NUMBER is E.164 ("+15550001111"; spaces, dashes and a missing "+" are forgiven) checked by
`phonenumbers` for a plausible length in its country plan, not for being in service: test
ranges such as +1 555 are accepted, as carriers hand out numbers the library may not know
yet. ACCOUNT is the account's name or sid. Assigning a number the account already holds
is a no-op; one held by another account is refused (release it first), as is releasing a
number nobody holds. Each change is published on Redis (`callscript:routing`) so engines
reload at once; a Redis that is away is a warning, since engines also reload on a timer.
Prints one JSON line: the number as /v1/numbers shows it, plus its account_sid.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import phonenumbers
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.credentials import find_account
from api.errors import ApiError
from api.numbers import show
from api.routing import CHANNEL
from engine import config
from engine.resources import Number, new_sid
from engine.storage import open_database


def e164(text: str) -> str:
    """The number in E.164 form; ApiError 20008 naming what is wrong otherwise."""
    raw = text.strip()
    candidate = raw if raw.startswith("+") else "+" + raw
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException as exc:
        raise ApiError(
            20008, f"{raw!r} is not an E.164 number such as +15550001111: {exc}"
        ) from None
    if not phonenumbers.is_possible_number(parsed):
        raise ApiError(20008, f"{raw!r} is not an E.164 number: wrong length for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _held(session: Session, number: str) -> Number | None:
    return session.scalars(select(Number).where(Number.number == number)).first()


def assign(session: Session, text: str, account_ref: str) -> Number:
    number = e164(text)
    account = find_account(session, account_ref)
    if account is None:
        raise ApiError(20404, f"no account named {account_ref!r}")
    row = _held(session, number)
    if row is not None:
        if row.account_sid != account.sid:
            raise ApiError(20008, f"{number} is assigned to account {row.account_sid}; "
                                  "release it first")
        return row
    row = Number(id=new_sid("number"), account_sid=account.sid, number=number,
                 status_callback_event=["completed"])
    session.add(row)
    session.commit()
    return row


def release(session: Session, text: str) -> Number:
    number = e164(text)
    row = _held(session, number)
    if row is None:
        raise ApiError(20404, f"{number} is not assigned to any account")
    session.delete(row)
    session.commit()
    return row


def publish(redis_url: str | None, account_sid: str) -> None:
    """Tell the engines that `account_sid`'s numbers changed (they reread that account)."""
    if not redis_url:
        return
    try:
        client = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        client.publish(CHANNEL, account_sid)
        client.close()
    except RedisError as exc:
        print(f"callscript numbers: warning: engines not told at once ({exc}); "
              "they reload within seconds", file=sys.stderr)


def shown(row: Number) -> str:
    return json.dumps({**show(row), "account_sid": row.account_sid})


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="callscript numbers")
    parser.add_argument("action", choices=["assign", "release"])
    parser.add_argument("number", help="E.164, e.g. +15550001111")
    parser.add_argument("account", nargs="?", help="the account's name or sid (assign)")
    config.add_options(parser, "numbers")
    args = config.finish(parser.parse_args(list(argv)), "numbers")
    if args.action == "assign" and not args.account:
        parser.error("assign needs NUMBER ACCOUNT")
    db = open_database(args.database)
    try:
        with db.session() as session:
            if args.action == "assign":
                row = assign(session, args.number, args.account)
            else:
                row = release(session, args.number)
            line = shown(row)
    except ApiError as exc:
        print(f"callscript numbers: {exc.message}", file=sys.stderr)
        return 1
    finally:
        db.close()
    publish(args.redis, row.account_sid)
    print(line)
    return 0
