"""What every command group shares: exit codes, the error a command raises, loading settings, database, app.

Imports are deferred into each function: ``maildesk ingest`` runs once per
message under an MTA and must start fast.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from maildesk.config import Settings
    from maildesk.runtime.app import App
    from maildesk.storage.db import Database

# sysexits.h
EX_OK, EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_SOFTWARE, EX_TEMPFAIL, EX_CONFIG = (
    0,
    64,
    65,
    66,
    69,
    70,
    75,
    78,
)


MAX_ID = 2**63 - 1  # the largest id either database can hold: a larger number names nothing


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def config_path(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "config", None) or os.environ.get("MAILDESK_CONFIG") or "config.toml")


def load_settings(args: argparse.Namespace) -> Settings:
    from maildesk import config

    path = config_path(args)
    if not path.exists():
        raise CliError(f"{path}: config file not found (use --config PATH or set MAILDESK_CONFIG)", EX_CONFIG)
    try:
        settings = config.load_settings(path)
    except config.ConfigError as exc:
        raise CliError(str(exc), EX_CONFIG) from None
    args.database_url = settings.database_url  # named by a database error, wherever it happens
    return settings


def open_database(args: argparse.Namespace, *, allow_upgrade: bool = False) -> tuple[Settings, Database]:
    from maildesk.storage.db import Database, DatabaseUnavailable, SchemaOutdated

    settings = load_settings(args)
    db = Database(settings.database_url)
    try:
        db.ensure_schema(allow_upgrade=allow_upgrade, carry_over=settings.carry_over())
    except SchemaOutdated as exc:
        db.dispose()
        raise CliError(str(exc), EX_CONFIG) from None
    except DatabaseUnavailable as exc:
        db.dispose()
        raise CliError(str(exc), EX_UNAVAILABLE) from None
    return settings, db


def open_app(args: argparse.Namespace, settings: Settings | None = None) -> App:
    from maildesk.config import ConfigError
    from maildesk.runtime.app import App
    from maildesk.storage.db import DatabaseUnavailable, SchemaOutdated

    settings = settings or load_settings(args)
    try:
        return App.from_settings(settings)
    except SchemaOutdated as exc:
        raise CliError(str(exc), EX_CONFIG) from None
    except DatabaseUnavailable as exc:
        raise CliError(str(exc), EX_TEMPFAIL if args.command == "ingest" else EX_UNAVAILABLE) from None
    except ConfigError as exc:
        raise CliError(str(exc), EX_CONFIG) from None


def int_id(value: str | None, what: str) -> int:
    """An id from the command line: not a number is a usage error; a number no row can have names nothing."""
    if value is None or not (value.isascii() and value.isdigit()):
        raise CliError(f"{value!r} is not an id", EX_USAGE)
    number = int(value)
    if not 0 < number <= MAX_ID:
        raise CliError(f"{what} {value}: no such entry", EX_DATAERR)
    return number


class Parser(argparse.ArgumentParser):
    """argparse that says a usage error in one stderr line and exits 64 (SPEC section 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EX_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


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
