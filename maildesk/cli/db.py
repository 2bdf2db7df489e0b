"""``maildesk db upgrade``: bring the database schema up to this version's migrations."""

from __future__ import annotations

import argparse

from maildesk.cli.common import open_database
from maildesk.errors import ExitCode


def cmd_db(args: argparse.Namespace) -> int:
    from maildesk.reports.backfill import derive_figures
    from maildesk.storage.revision import HEAD_REVISION

    settings, db = open_database(args, allow_upgrade=True)
    try:
        print(f"database schema is at revision {HEAD_REVISION}")
        derived = derive_figures(db, settings)  # tickets older than the report figures, from their history
        if derived:
            print(f"report figures derived from the history of {derived} older ticket(s)")
    finally:
        db.dispose()
    return ExitCode.OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    db = sub.add_parser("db", parents=[common], help="database schema")
    dsub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    dsub.add_parser("upgrade", parents=[common]).set_defaults(func=cmd_db)
