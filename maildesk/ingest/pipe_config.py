"""The two settings a pipe delivery needs, remembered from the last full load of an unchanged config.toml.

Storing a piped message needs the database URL and ``max_message_size``,
but loading config.toml validates all of it (levels, teams, calendars and
their holidays) and its imports alone cost more than the rest of the
command. The first ``maildesk ingest`` after each change of the file loads
it in full (a mistake still exits 78 naming FILE:LINE) and notes the two
values, with the file's identity (device, inode, size, times) and that of
the code that validated it, in a private per-user directory. Later
deliveries read that note while the file is unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maildesk.config import Settings

CODE = Path(__file__).resolve().parents[1] / "config"  # the package that validates: a new version loads again


class PipeSettings:
    """What storing a piped message needs (a plain class: ``dataclasses`` costs an import on this path)."""

    __slots__ = ("database_url", "max_message_size")

    def __init__(self, database_url: str, max_message_size: int) -> None:
        self.database_url = database_url
        self.max_message_size = max_message_size


def identity(path: Path) -> list[int]:
    """What tells a changed config.toml (or a new version of the code that validates it)."""
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, *_code_identity()]


def _code_identity() -> list[int]:
    """The newest change and the total size of the config package's modules."""
    newest = size = 0
    with os.scandir(CODE) as entries:
        for entry in entries:
            if entry.name.endswith(".py"):
                found = entry.stat()
                newest, size = max(newest, found.st_mtime_ns), size + found.st_size
    return [newest, size]


def _directory() -> Path | None:
    """The per-user directory of the notes; None when it is not this user's alone (no note is kept then)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp"
    directory = Path(base) / f"maildesk-{os.getuid()}"
    with contextlib.suppress(FileExistsError, OSError):
        directory.mkdir(mode=0o700)
    try:
        st = os.lstat(directory)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return directory


def _note(config: Path) -> Path | None:
    directory = _directory()
    if directory is None:
        return None
    name = hashlib.sha256(str(config).encode()).hexdigest()[:32]
    return directory / f"pipe-{name}.json"


def remembered(config: Path) -> PipeSettings | None:
    """The settings noted for this unchanged file, or None: load it in full."""
    config = config.resolve()
    note = _note(config)
    if note is None:
        return None
    try:
        data = json.loads(note.read_bytes())
        if data["config"] != str(config) or data["identity"] != identity(config):
            return None
        return PipeSettings(str(data["database_url"]), int(data["max_message_size"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(config: Path, before: list[int], settings: Settings, max_message_size: int) -> PipeSettings:
    """Note what a full load of ``config`` gave, for the next deliveries (if a note can be kept).

    ``before`` is the file's identity taken before the load: a file changed meanwhile is not noted.
    """
    found = PipeSettings(settings.database_url, max_message_size)
    config = config.resolve()
    note = _note(config)
    if note is None or identity(config) != before:
        return found
    data: dict[str, object] = {"config": str(config), "identity": before, "database_url": found.database_url}
    data["max_message_size"] = found.max_message_size
    temporary = note.with_name(f"{note.name}.{os.getpid()}")
    with contextlib.suppress(OSError):
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(temporary, note)
    return found
