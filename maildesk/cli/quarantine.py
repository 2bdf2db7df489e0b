"""``maildesk quarantine list|show|retry``: messages that could not be processed, and the entry JSON shape."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from maildesk.cli.common import int_id, open_app, open_database
from maildesk.cli.output import dumps, iso, print_rows
from maildesk.errors import ExitCode, NotFound, UsageError
from maildesk.states import InboxState

if TYPE_CHECKING:
    from maildesk.storage.models import Quarantine

COLUMNS = ("id", "received_at", "status", "mail_from", "message_id", "reason")


def quarantine_json(entry: Quarantine) -> dict:
    return {
        "id": entry.id,
        "received_at": iso(entry.received_at),
        "message_id": entry.message_id,
        "mail_from": entry.mail_from,
        "reason": entry.reason,
        "status": entry.status,
    }


def cmd_quarantine(args: argparse.Namespace) -> int:
    from maildesk.storage import quarantine

    if args.action == "list":
        _settings, db = open_database(args)
        print_rows([quarantine_json(q) for q in quarantine.entries(db)], COLUMNS, args.format)
        return ExitCode.OK
    if args.action == "show":
        _settings, db = open_database(args)
        found = quarantine.entry_with_message(db, int_id(args.id, "quarantine"))
        if found is None:
            raise NotFound(f"quarantine {args.id}: no such entry")
        _show(quarantine_json(found[0]), found[1], args)
        return ExitCode.OK
    return _retry(args)


def _show(shape: dict, raw: bytes, args: argparse.Namespace) -> None:
    if args.format == "json":
        shape["raw"] = raw.decode("utf-8", "replace")
        print(dumps(shape))
    elif args.raw:
        sys.stdout.buffer.write(raw)
    else:
        for key, value in shape.items():
            print(f"{key + ':':13}{'' if value is None else value}")
        print()
        print(raw[:4000].decode("utf-8", "replace"))


def _retry(args: argparse.Namespace) -> int:
    """Put the stored message back in the inbox and process it again now."""
    if not args.all and args.id is None:
        raise UsageError("quarantine retry: give an ID or --all")
    app = open_app(args)
    try:
        try:
            results = app.retry_quarantined(None if args.all else int_id(args.id, "quarantine"))
        except LookupError as exc:
            raise NotFound(str(exc)) from None
    finally:
        app.close()
    if results is None:
        print(f"quarantine {args.id}: already retried, nothing to do")
        return ExitCode.OK
    for entry_id, outcome in results:
        verdict = (
            f"ticket #{outcome.ticket}"
            if outcome.state == InboxState.DONE
            else f"{outcome.state}: {outcome.reason}"
        )
        print(f"quarantine {entry_id}: {verdict}")
    return ExitCode.OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    quarantine = sub.add_parser("quarantine", parents=[common], help="messages that could not be processed")
    qsub = quarantine.add_subparsers(dest="action", required=True, metavar="ACTION")
    qlist = qsub.add_parser("list", parents=[common])
    qlist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    qshow = qsub.add_parser("show", parents=[common])
    qshow.add_argument("id", metavar="ID")
    qshow.add_argument("--format", choices=("text", "json"), default="text")
    qshow.add_argument("--raw", action="store_true", help="write the stored message bytes to stdout")
    qretry = qsub.add_parser("retry", parents=[common])
    qretry.add_argument("id", nargs="?", metavar="ID")
    qretry.add_argument("--all", action="store_true")
    for p in (qlist, qshow, qretry):
        p.set_defaults(func=cmd_quarantine)
