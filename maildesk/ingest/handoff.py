"""How a pipe client hands a stored message to the running daemon on the same SQLite database.

The daemon holds a shared lock on ``<db>.daemon`` while it runs, and listens
for a datagram on ``<db>.wake``. A client that cannot take the lock
exclusively knows a daemon will process what it stored, and nudges it.
Only stdlib imports here: this is on the pipe fast path.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from maildesk.storage.fsutil import PRIVATE_FILE, make_private_dir, open_private

MAX_UNIX_PATH = 100  # sun_path is 108 bytes on Linux; longer paths fall back to polling


def sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        return Path(url[len(prefix) :])
    return None


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".daemon")


def wake_path(database: Path) -> Path:
    return database.with_name(database.name + ".wake")


def hold_daemon_lock(database: Path) -> TextIO:
    """Called by the daemon: an open file holding a shared lock for as long as it stays open."""
    make_private_dir(database.parent)
    handle = os.fdopen(open_private(lock_path(database), os.O_WRONLY | os.O_APPEND), "a")
    fcntl.flock(handle, fcntl.LOCK_SH)
    return handle


def daemon_running(database: Path) -> bool:
    """Whether a daemon holds its shared lock; probes take turns so none mistakes another's for a daemon.

    A probe holds the lock exclusively for an instant: without turns, two
    clients piping at once with no daemon could each see the other's probe,
    store for a daemon that does not exist, and leave the message pending.
    """
    path = lock_path(database)
    if not path.exists():
        return False
    probe = database.with_name(database.name + ".probe")
    with (
        os.fdopen(open_private(probe, os.O_WRONLY | os.O_APPEND), "a") as turn,
        os.fdopen(open_private(path, os.O_WRONLY | os.O_APPEND), "a") as handle,
    ):
        fcntl.flock(turn, fcntl.LOCK_EX)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def send_wake(database: Path) -> None:
    path = str(wake_path(database))
    if len(path) > MAX_UNIX_PATH:
        return
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"1", path)


class WakeListener:
    """The daemon's end: calls ``on_wake`` for each datagram until closed."""

    def __init__(self, database: Path, on_wake: Callable[[], None]) -> None:
        self.path = wake_path(database)
        self.on_wake = on_wake
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def start(self) -> bool:
        if len(str(self.path)) > MAX_UNIX_PATH:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        os.chmod(self.path, PRIVATE_FILE)  # only the desk's own user nudges it
        self._sock.settimeout(1.0)
        self._thread = threading.Thread(target=self._listen, name="wake", daemon=True)
        self._thread.start()
        return True

    def _listen(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                self._sock.recv(16)
            except TimeoutError:
                continue
            except OSError:
                return
            self.on_wake()

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
