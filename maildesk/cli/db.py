"""``maildesk db upgrade``: bring the database schema up to this version's migrations."""

from __future__ import annotations

import argparse

from maildesk.cli.common import EX_OK, open_database


def cmd_db(args: argparse.Namespace) -> int:
    from maildesk.storage.revision import HEAD_REVISION

    _settings, db = open_database(args, allow_upgrade=True)
    db.dispose()
    print(f"database schema is at revision {HEAD_REVISION}")
    return EX_OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    db = sub.add_parser("db", parents=[common], help="database schema")
    dsub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    dsub.add_parser("upgrade", parents=[common]).set_defaults(func=cmd_db)
