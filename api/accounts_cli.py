"""`callscript accounts`: the operator makes accounts and hands out their credentials.

- `create NAME` makes an account with one API key and a webhook secret, and prints one
  JSON line `{"account_sid", "api_key", "api_secret"}`: the secret is shown this once
  (only its keyed hash is stored, api/credentials.py);
- `keys ACCOUNT` adds a key (same JSON line), for rotating keys without downtime;
  `keys ACCOUNT --revoke KEY` revokes one at once (its Bearer tokens stop working too)
  and prints `{"account_sid", "api_key", "revoked": true}`;
- `webhook-secret ACCOUNT` prints the active webhook secrets, newest first, one a line;
  `--rotate` makes a new one first, keeping the previous one active (at most two, so
  receivers can switch over while both sign; DESIGN, "Settled decisions").

ACCOUNT is the account's name or sid. Errors are one line on stderr: a taken name or an
unknown account or key exits 1, a usage error 2 (argparse), a database whose schema is
not this code's 2 (engine/cli.py). Secrets go to stdout only, never to a log.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sqlalchemy.orm import Session

from api import credentials
from engine import config
from engine.resources import Account
from engine.storage import open_database

PROG = "callscript accounts"


class Refused(Exception):
    """What the operator asked cannot be done; the message says why."""


def _account(session: Session, ref: str) -> Account:
    account = credentials.find_account(session, ref)
    if account is None:
        raise Refused(f"no account named {ref!r}")
    return account


def _create(session: Session, args: argparse.Namespace) -> list[str]:
    try:
        key = credentials.create_account(session, args.name)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    return [json.dumps(key.as_dict())]


def _keys(session: Session, args: argparse.Namespace) -> list[str]:
    account = _account(session, args.name)
    if args.revoke is None:
        return [json.dumps(credentials.add_key(session, account).as_dict())]
    if not credentials.revoke_key(session, account, args.revoke):
        raise Refused(f"no active key {args.revoke!r} in account {args.name!r}")
    return [json.dumps({"account_sid": account.sid, "api_key": args.revoke, "revoked": True})]


def _webhook_secret(session: Session, args: argparse.Namespace) -> list[str]:
    return credentials.webhook_secrets(session, _account(session, args.name), args.rotate)


ACTIONS = {"create": _create, "keys": _keys, "webhook-secret": _webhook_secret}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="create NAME | keys ACCOUNT [--revoke KEY] | webhook-secret ACCOUNT "
                    "[--rotate]  (ACCOUNT: a name or sid)",
    )
    parser.add_argument("action", choices=list(ACTIONS))
    parser.add_argument("name", help="the new account's name (create), else a name or sid")
    parser.add_argument("--revoke", metavar="KEY", help="keys: revoke this API key")
    parser.add_argument("--rotate", action="store_true",
                        help="webhook-secret: make a new secret, keep the previous one")
    config.add_options(parser, "accounts")
    return parser


def main(argv: Sequence[str]) -> int:
    parser = _parser()
    args = config.finish(parser.parse_args(list(argv)), "accounts")
    if args.revoke is not None and args.action != "keys":
        parser.error("--revoke goes with keys")
    if args.rotate and args.action != "webhook-secret":
        parser.error("--rotate goes with webhook-secret")
    db = open_database(args.database)
    try:
        with db.session() as session:
            lines = ACTIONS[args.action](session, args)
    except Refused as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    for line in lines:
        print(line)
    return 0
