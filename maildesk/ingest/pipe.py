"""The pipe path: store one message with a light driver, without SQLAlchemy or the pipeline.

An MTA runs ``maildesk ingest`` once per message, and importing SQLAlchemy,
Jinja2 and the pipeline costs several times the whole budget of a pipe
delivery. Storing needs none of them: one INSERT into the inbox ledger,
committed (fully synced on SQLite), with the stdlib ``sqlite3`` driver or
``psycopg``. Whatever processes the message afterwards (the daemon, or a
drainer started on demand, see ``drain_lock``) runs in another process.

``open_store`` returns None for anything unusual (a database that does not
exist yet, another driver); the caller then takes the full in-process path,
which also creates or refuses the schema with its usual messages.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from maildesk.ingest.handoff import sqlite_file
from maildesk.message.ledger import message_key
from maildesk.states import InboxState
from maildesk.storage.fsutil import open_private
from maildesk.storage.revision import HEAD_REVISION

COLUMNS = "message_key, received_at, source, mail_from, rcpt_tos, raw, state"
PG_PREFIXES = ("postgresql+psycopg://", "postgresql://", "postgres://")


class StoreFailed(Exception):
    """The database failed while storing: the MTA must retry (75). ``str()`` is the driver's message."""


class _Store:
    _connection: Any = None  # the driver's connection (sqlite3 or psycopg)
    _errors: type[Exception] = Exception  # the driver's error class

    def current(self) -> bool:
        """Whether the schema is the one this code writes; else the full path says what to do."""
        try:
            row = self._connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except self._errors:
            return False
        return row is not None and row[0] == HEAD_REVISION

    def close(self) -> None:
        self._connection.close()


class SqliteStore(_Store):
    """One INSERT with the stdlib driver, in the writers' turn the desk's processes take (``<db>.writer``)."""

    kind = "sqlite"

    def __init__(self, database: Path) -> None:
        import sqlite3

        self.database = database
        self._errors = sqlite3.Error
        try:
            self._connection = sqlite3.connect(database, timeout=60, isolation_level=None)
            self._connection.execute("PRAGMA busy_timeout=60000")
            self._connection.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise StoreFailed(str(exc)) from None

    def store(self, data: bytes, mail_from: str | None, rcpt_tos: list[str], source: str) -> None:
        received = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        turn = open_private(
            self.database.with_name(self.database.name + ".writer"), os.O_WRONLY | os.O_APPEND
        )
        try:
            fcntl.flock(turn, fcntl.LOCK_EX)  # the kernel hands the turn over at once: no busy-handler sleeps
            self._connection.execute("BEGIN IMMEDIATE")
            self._connection.execute(
                f"INSERT INTO inbox ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, '{InboxState.PENDING}') "
                "ON CONFLICT (message_key) DO NOTHING",
                (message_key(data), received, source, mail_from, json.dumps(rcpt_tos), data),
            )
            self._connection.execute("COMMIT")
        except self._errors as exc:
            with contextlib.suppress(self._errors):
                self._connection.execute("ROLLBACK")
            raise StoreFailed(str(exc)) from None
        finally:
            os.close(turn)  # releases the turn


class PostgresStore(_Store):
    """One INSERT with psycopg, committed by itself (the server's synchronous commit)."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        self._errors = psycopg.Error
        try:
            self._connection = psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=30)
        except psycopg.Error as exc:
            raise StoreFailed(str(exc)) from None

    @property
    def connection(self) -> Any:
        return self._connection

    def store(self, data: bytes, mail_from: str | None, rcpt_tos: list[str], source: str) -> None:
        try:
            self._connection.execute(
                f"INSERT INTO inbox ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, '{InboxState.PENDING}') "
                "ON CONFLICT (message_key) DO NOTHING",
                (message_key(data), datetime.now(UTC), source, mail_from, json.dumps(rcpt_tos), data),
            )
        except self._errors as exc:
            raise StoreFailed(str(exc)) from None


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL of the desk as a libpq connection URI (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return "postgresql://" + url.split("://", 1)[1]


def open_store(url: str) -> SqliteStore | PostgresStore | None:
    """A light store for the desk's database, or None: take the full path (no database yet, another driver).

    Raises StoreFailed when the database is there but cannot be opened (the MTA retries).
    """
    database = sqlite_file(url)
    if database is not None:
        return SqliteStore(database) if database.exists() else None
    if url.startswith(PG_PREFIXES):
        return PostgresStore(url)
    return None
