"""Small file-system helpers shared by the modules that write files durably."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make renames and creations in ``directory`` durable (best effort where a file system cannot)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


# What the desk writes holds all its mail and the technicians' signed reply addresses: private to its user,
# whatever the umask of the shell or service that started it (SPEC section 10; README "Durability").
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parent with mode 0700; existing directories are left as they are.

    An existing directory may be shared on purpose (``/var/lib``), so only what
    this call creates is made private.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            path.mkdir(mode=PRIVATE_DIR)
            os.chmod(path, PRIVATE_DIR)  # mkdir's mode is only what the umask lets through


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite gives -wal and -shm the same mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE))
        os.chmod(path, PRIVATE_FILE)


def open_private(path: Path, flags: int) -> int:
    """``os.open`` creating the file with mode 0600 whatever the umask (an existing file keeps its mode)."""
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        return os.open(path, (flags & ~os.O_CREAT) | os.O_CLOEXEC)
