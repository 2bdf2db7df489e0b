"""At most one drainer per database: the process that turns piped mail into tickets when no daemon runs.

A pipe client stores its message, then starts a drainer unless one holds
the drain lock: an flock on ``<db>.drain`` on SQLite (the pipe takes it and
hands it to the drainer it starts, so two clients piping at once start at
most one), a session advisory lock on PostgreSQL (a drainer that finds it
taken leaves at once). A drainer leaving when idle lets the lock go, then
looks at the inbox once more: a client that stored meanwhile found the lock
still taken and started nobody, so the leaving drainer takes its message.
Only stdlib imports (and psycopg on PostgreSQL): this is on the pipe path.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import Any

from maildesk.ingest.handoff import sqlite_file
from maildesk.storage.fsutil import open_private

DRAIN_KEY = 0x6D61696C64657364  # "maildesd": the advisory lock key of the drainer on PostgreSQL


class SqliteDrainLock:
    """An flock on ``<db>.drain``; ``fd`` is one inherited from the pipe client that took it."""

    def __init__(self, database: Path, fd: int | None = None) -> None:
        self.held = fd is not None
        self.fd = fd if fd is not None else open_private(drain_path(database), os.O_WRONLY | os.O_APPEND)

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        return True

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.held = False

    def close(self) -> None:
        os.close(self.fd)


class PostgresDrainLock:
    """A session advisory lock, on a connection of its own that lives as long as the drainer."""

    def __init__(self, url: str, connection: Any = None) -> None:  # a psycopg connection to reuse
        import psycopg

        from maildesk.ingest.pipe import libpq_url

        self.held = False
        self._connection = connection or psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=30)

    def try_acquire(self) -> bool:
        row = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (DRAIN_KEY,)).fetchone()
        self.held = bool(row and row[0])
        return self.held

    def release(self) -> None:
        self._connection.execute("SELECT pg_advisory_unlock(%s)", (DRAIN_KEY,))
        self.held = False

    def close(self) -> None:
        self._connection.close()


def drain_path(database: Path) -> Path:
    return database.with_name(database.name + ".drain")


def drain_lock(url: str, fd: int | None = None) -> SqliteDrainLock | PostgresDrainLock:
    database = sqlite_file(url)
    return SqliteDrainLock(database, fd) if database is not None else PostgresDrainLock(url)


def start_drainer(url: str, config: Path, log_level: str, connection: Any = None) -> bool:
    """Start a drainer in the background unless one runs; True when one was started.

    ``connection`` is the pipe client's psycopg connection on PostgreSQL, for the probe.
    The drainer is its own session with no terminal and no pipe of the MTA's
    open, so the MTA sees the command end as soon as this process exits.
    """
    database = sqlite_file(url)
    if database is not None:
        lock = SqliteDrainLock(database)
        if not lock.try_acquire():
            return False
        try:
            _spawn(config, log_level, lock.fd)
        finally:
            lock.close()  # the drainer holds the same open file, and with it the lock
        return True
    probe = PostgresDrainLock(url, connection)
    if not probe.try_acquire():
        return False  # a drainer runs; it looks at the inbox again before it leaves
    probe.release()  # the drainer takes it; of two started at once, one leaves at once
    _spawn(config, log_level, None)
    return True


def _spawn(config: Path, log_level: str, fd: int | None) -> None:
    import subprocess  # only when a drainer is started

    command = [
        sys.executable,
        "-m",
        "maildesk.runtime.drain",
        "--config",
        str(config),
        "--log-level",
        log_level,
    ]
    if fd is not None:
        os.set_inheritable(fd, True)
        command += ["--lock-fd", str(fd)]
    subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(fd,) if fd is not None else (),
        start_new_session=True,
    )
