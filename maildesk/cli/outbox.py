"""``maildesk outbox list|retry``: outgoing mail and its delivery state, and the outbox JSON shape."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from maildesk.cli.common import count, int_id, open_database
from maildesk.cli.output import print_rows
from maildesk.errors import ExitCode, NotFound, UsageError
from maildesk.states import OutboxStatus

if TYPE_CHECKING:
    from maildesk.storage.models import Outbox

COLUMNS = ("id", "ticket", "status", "attempts", "template", "to", "subject", "last_error")


def outbox_json(row: Outbox) -> dict:
    return {
        "id": row.id,
        "ticket": row.ticket,
        "to": row.to_addr,
        "subject": row.subject,
        "template": row.template,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
    }


def cmd_outbox(args: argparse.Namespace) -> int:
    from maildesk.storage.outbox import list_rows, retry

    _settings, db = open_database(args)
    if args.action == "list":
        print_rows([outbox_json(o) for o in list_rows(db, args.status, args.limit)], COLUMNS, args.format)
        return ExitCode.OK
    if not args.all and args.id is None:
        raise UsageError("outbox retry: give an ID or --all")
    count = retry(db, None if args.all else int_id(args.id, "outbox"))
    if not args.all and count == 0:
        raise NotFound(f"outbox {args.id}: no such mail")
    print(f"{count} mail(s) queued again; the running daemon sends them")
    return ExitCode.OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    outbox = sub.add_parser("outbox", parents=[common], help="outgoing mail and its delivery state")
    osub = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    olist = osub.add_parser("list", parents=[common])
    olist.add_argument("--status", choices=tuple(OutboxStatus))
    olist.add_argument("--limit", type=count, default=100)
    olist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    oretry = osub.add_parser("retry", parents=[common])
    oretry.add_argument("id", nargs="?", metavar="ID")
    oretry.add_argument("--all", action="store_true")
    for p in (olist, oretry):
        p.set_defaults(func=cmd_outbox)
