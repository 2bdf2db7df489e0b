"""What every command group shares: loading settings, the database and the app, ids and counts.

A command raises a :mod:`maildesk.errors` error for what went wrong; ``main``
alone turns it into the exit code the error carries.

Imports are deferred into each function: ``maildesk ingest`` runs once per
message under an MTA and must start fast.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from maildesk.errors import ConfigError, ExitCode, NotFound, UsageError

if TYPE_CHECKING:
    from maildesk.config import Settings
    from maildesk.runtime.app import App
    from maildesk.storage.db import Database

MAX_ID = 2**63 - 1  # the largest id either database can hold: a larger number names nothing


def config_path(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "config", None) or os.environ.get("MAILDESK_CONFIG") or "config.toml")


def load_settings(args: argparse.Namespace) -> Settings:
    from maildesk import config

    path = config_path(args)
    if not path.exists():
        raise ConfigError([f"{path}: config file not found (use --config PATH or set MAILDESK_CONFIG)"])
    settings = config.load_settings(path)
    args.database_url = settings.database_url  # named by a database error, wherever it happens
    return settings


def open_database(args: argparse.Namespace, *, allow_upgrade: bool = False) -> tuple[Settings, Database]:
    from maildesk.storage.db import Database

    settings = load_settings(args)
    db = Database(settings.database_url)
    try:
        db.ensure_schema(allow_upgrade=allow_upgrade, carry_over=settings.carry_over())
    except BaseException:
        db.dispose()
        raise
    return settings, db


def open_app(args: argparse.Namespace, settings: Settings | None = None) -> App:
    from maildesk.runtime.app import App

    return App.from_settings(settings or load_settings(args))


def int_id(value: str | None, what: str) -> int:
    """An id from the command line: not a number is a usage error; a number no row can have names nothing."""
    if value is None or not (value.isascii() and value.isdigit()):
        raise UsageError(f"{value!r} is not an id")
    number = int(value)
    if not 0 < number <= MAX_ID:
        raise NotFound(f"{what} {value}: no such entry")
    return number


class Parser(argparse.ArgumentParser):
    """argparse that says a usage error in one stderr line and exits 64 (SPEC section 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def count(text: str) -> int:
    """``--limit``: a whole number, 0 or more."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rows (0 or more)")
    return min(int(text), MAX_ID)


def level_id(text: str) -> int:
    """``--level``: a level id as config.toml writes it (a whole number)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a level id (a whole number)") from None
    if abs(value) > 2**31:
        raise argparse.ArgumentTypeError(f"{text!r} is not a level id (too large)")
    return value


def storage_failure(exc: Exception, args: argparse.Namespace) -> str | None:
    """One line naming the database when ``exc`` is it failing (corrupt, unreadable, gone), else None.

    That is the environment, not a bug: 69 (unavailable), or 75 for ``ingest`` so that the MTA retries.
    """
    import sqlite3
    import sys

    detail: BaseException | None = None
    if isinstance(exc, sqlite3.Error):
        detail = exc
    elif "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, DBAPIError) and not isinstance(exc.orig, sqlite3.IntegrityError):
            detail = exc.orig if exc.orig is not None else exc
    if detail is None:
        return None
    url = getattr(args, "database_url", None)
    where = "the database"
    if url:
        from maildesk.config import safe_database_url

        where = f"database {safe_database_url(url)}"
    return f"cannot use {where}: {one_line(detail) or type(detail).__name__}"


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
