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
import traceback
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

from maildesk.errors import DatabaseUnavailable, SchemaOutdated
from maildesk.storage.fsutil import create_private_file, make_private_dir, open_private
from maildesk.storage.revision import HEAD_REVISION

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        return Path(url[len(prefix) :])
    return None


# SQLite errors after which a connection is no use until it is opened again: it was opened while the files
# were read-only (SQLite then opens them read-only for good), or its file went away or failed. PostgreSQL:
# a server that became a read-only standby (failover). Anything else a retry on the same connection can fix.
_REOPEN_SQLITE = ("readonly database", "disk i/o error", "unable to open database file")
_REOPEN_POSTGRES_STATES = frozenset({"25006"})  # read_only_sql_transaction


def needs_new_connection(error: BaseException) -> bool:
    """Whether the database connection that raised ``error`` must be thrown away (and its pool with it)."""
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if state in _REOPEN_POSTGRES_STATES:
        return True
    message = str(error).lower()
    return type(error).__module__ == "sqlite3" and any(text in message for text in _REOPEN_SQLITE)


# Failures of the database itself rather than of one message: the work is retried once they pass.
_PASSING_SQLITE = (
    *_REOPEN_SQLITE,
    "database or disk is full",
    "database is locked",
    "database table is locked",
)
# PostgreSQL: connection exceptions, read-only standby, serialization failure and deadlock,
# insufficient resources (disk full, out of memory), operator intervention (shutdown, restart).
_PASSING_POSTGRES_CLASSES = ("08", "25006", "40001", "40P01", "53", "57P")


def is_storage_failure(error: BaseException) -> bool:
    """The database failing (read-only, full, locked, unreachable), not a bug or one message's data.

    Such an error is the environment's: the work is retried once it passes
    and never quarantines the message it happened to be processing.
    """
    from sqlalchemy import exc

    if isinstance(error, OSError):
        return True  # the writer lock beside a SQLite file could not be opened
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None) or ""
    if state and state.startswith(_PASSING_POSTGRES_CLASSES):
        return True
    message = str(original).lower()
    return type(original).__module__ == "sqlite3" and any(text in message for text in _PASSING_SQLITE)


def _reopen_after(context: ExceptionContext) -> None:
    """``handle_error``: a connection spoilt for good counts as a disconnect, so SQLAlchemy drops it and
    every other connection of the pool (opened as long ago); the next checkout opens a fresh one."""
    if context.original_exception is not None and needs_new_connection(context.original_exception):
        context.is_disconnect = True


def create_db_engine(url: str) -> Engine:
    sqlite_file = _sqlite_path(url)
    if url.startswith("sqlite"):
        if sqlite_file is not None:
            make_private_dir(sqlite_file.parent)
            create_private_file(sqlite_file)  # SQLite gives its -wal and -shm files the database's mode
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # an accepted message survives power loss
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            # A reader (Database.reading) must not hold the write lock: in WAL mode it reads its snapshot
            # while writers go on.
            reader = connection.get_execution_options().get("maildesk_reader", False)
            connection.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")

        event.listen(engine, "handle_error", _reopen_after)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    event.listen(engine, "handle_error", _reopen_after)
    return engine


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
        self._handle: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        self._threads.acquire()
        self._depth += 1
        if self._depth == 1 and self._file is not None:
            try:
                if self._handle is None:
                    make_private_dir(self._file.parent)
                    handle = self._handle = open_private(self._file, os.O_WRONLY | os.O_APPEND)
                    self._closer = weakref.finalize(self, os.close, handle)
                fcntl.flock(self._handle, fcntl.LOCK_EX)
            except BaseException:
                # Not entered: a lock file that cannot be opened now (read-only, full disk) is tried again
                # next time, and the thread lock must not stay held by a turn that never began.
                self._depth -= 1
                self._threads.release()
                raise

    def __exit__(self, *exc: object) -> None:
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

    def recover(self, error: BaseException) -> None:
        """After a storage failure: drop every pooled connection, so the next session opens fresh ones.

        The frames of the error's traceback still hold the cursor that failed,
        and a SQLite connection with a live statement is only closed once that
        is gone (until then it keeps its files, and its read-only view of
        them, open): they are cleared first.
        """
        if is_storage_failure(error):
            _release_frames(error)
            self.engine.dispose()

    @contextlib.contextmanager
    def reading(self, count: int = 1) -> Iterator[list[Connection]]:
        """``count`` connections that read one and the same snapshot, and never hold up a writer.

        For reports that run queries side by side: on SQLite each is a
        deferred (read) transaction in WAL mode, all begun while this process
        holds the writers' turn, so no commit falls between them; on
        PostgreSQL the first exports its snapshot and the others take it.
        """
        connections = [self.engine.connect().execution_options(maildesk_reader=True) for _ in range(count)]
        try:
            if self.is_postgres:
                first, *others = connections
                first.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                snapshot = first.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
                for connection in others:
                    connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            else:
                with self._writer:
                    for connection in connections:
                        connection.exec_driver_sql(
                            "SELECT count(*) FROM sqlite_master"
                        )  # the snapshot starts
            yield connections
        finally:
            for connection in connections:
                connection.rollback()
                connection.close()

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


def _release_frames(error: BaseException) -> None:
    """Clear the locals of the finished frames of ``error`` and the errors it came from."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)  # frames still running are left alone
        current = current.__cause__ or current.__context__


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
