"""Database engine, sessions and schema version checks for SQLite and PostgreSQL.

SQLite runs in WAL mode with every transaction opened as BEGIN IMMEDIATE:
several threads (intake, worker, sender) and processes (``maildesk ingest``
beside the daemon) write to one file, and a deferred transaction that reads
and then writes fails with SQLITE_BUSY instead of waiting its turn.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from maildesk.storage.fsutil import create_private_file, make_private_dir, open_private
from maildesk.storage.revision import HEAD_REVISION

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class SchemaOutdated(RuntimeError):
    """The database schema is older than this code; ``maildesk db upgrade`` fixes it."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or opened."""


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        return Path(url[len(prefix) :])
    return None


def create_db_engine(url: str) -> Engine:
    sqlite_file = _sqlite_path(url)
    if url.startswith("sqlite"):
        if sqlite_file is not None:
            make_private_dir(sqlite_file.parent)
            create_private_file(sqlite_file)  # SQLite gives its -wal and -shm files the database's mode
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # an accepted message survives power loss
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


class _WriterTurn:
    """Whose turn it is to write to a SQLite database.

    SQLite has one writer at a time, and a writer that finds it busy sleeps in
    SQLite's busy handler in growing steps, leaving the lock idle after it is
    freed. Threads of this process queue on a lock, and processes (the
    daemon's listeners and its processing process) on an flock beside the
    database, which the kernel hands over at once.
    """

    def __init__(self, database: Path | None) -> None:
        self._threads = threading.RLock()
        self._file = database.with_name(database.name + ".writer") if database is not None else None
        self._handle = None
        self._depth = 0

    def __enter__(self) -> None:
        self._threads.acquire()
        self._depth += 1
        if self._depth == 1 and self._file is not None:
            if self._handle is None:
                make_private_dir(self._file.parent)
                self._handle = open_private(self._file, os.O_WRONLY | os.O_APPEND)
                self._closer = weakref.finalize(self, os.close, self._handle)
            fcntl.flock(self._handle, fcntl.LOCK_EX)

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self._depth -= 1
        if self._depth == 0 and self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        if self._handle is not None:
            self._closer()
            self._handle = None


class Database:
    """One engine and its session factory; pass it to whatever needs storage."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = _WriterTurn(_sqlite_path(url)) if not self.is_postgres else contextlib.nullcontext()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        with self._writer, self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if isinstance(self._writer, _WriterTurn):
            self._writer.close()

    # -- schema -------------------------------------------------------------

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def ensure_schema(self, *, allow_upgrade: bool = False, carry_over: dict | None = None) -> None:
        """Create the schema in an empty database; refuse an outdated one unless upgrading.

        Several processes may start at once on a new database, so creation
        happens under a lock (an advisory lock on PostgreSQL, a file lock
        beside the SQLite file). ``carry_over`` is what migrations may need
        from the config to carry existing rows over (``Settings.carry_over``).
        """
        try:
            revision = self.current_revision()
        except Exception as exc:  # noqa: BLE001 - any driver error means "cannot reach it"
            raise DatabaseUnavailable(f"cannot open database {self.safe_url}: {_first_line(exc)}") from None
        if revision == HEAD_REVISION:
            return
        with self._schema_lock():
            revision = self.current_revision()
            if revision == HEAD_REVISION:
                return
            with self.engine.connect() as conn:
                empty = not inspect(conn).get_table_names()
            if revision is None and not empty:
                raise SchemaOutdated(f"database {self.safe_url} has tables but no maildesk schema version")
            if revision is not None and not allow_upgrade:
                raise SchemaOutdated(
                    f"database schema is at revision {revision}, this maildesk needs {HEAD_REVISION}: "
                    "run 'maildesk db upgrade'"
                )
            self.upgrade(carry_over)

    def upgrade(self, carry_over: dict | None = None) -> None:
        """Apply Alembic migrations up to head."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection_engine"] = self.engine
        config.attributes["maildesk_carry_over"] = carry_over or {}
        command.upgrade(config, "head")

    @contextlib.contextmanager
    def _schema_lock(self) -> Iterator[None]:
        sqlite_file = _sqlite_path(self.url)
        if self.is_postgres:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(726354)"))
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(726354)"))
                    conn.commit()
        elif sqlite_file is not None:
            with os.fdopen(
                open_private(sqlite_file.with_name(sqlite_file.name + ".schema-lock"), os.O_WRONLY)
            ) as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
        else:
            yield

    @property
    def safe_url(self) -> str:
        """The URL without a password, for messages and logs."""
        return self.engine.url.render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
