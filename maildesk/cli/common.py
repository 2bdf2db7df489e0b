"""What every command group shares: exit codes, the error a command raises, loading settings, database, app.

Imports are deferred into each function: ``maildesk ingest`` runs once per
message under an MTA and must start fast.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

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
        return config.load_settings(path)
    except config.ConfigError as exc:
        raise CliError(str(exc), EX_CONFIG) from None


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


def int_id(value: str | None) -> int:
    if value is None or not str(value).isdigit():
        raise CliError(f"{value!r} is not an id", EX_USAGE)
    return int(value)
