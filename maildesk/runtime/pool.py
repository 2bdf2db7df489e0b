"""How many worker processes ``maildesk run`` starts when ``[processing] workers = "auto"`` (the default).

Each worker holds its own interpreter and libraries (about 30 MB PSS) and
needs a forkserver (about 25 MB more): two workers and the processing
process made the desk about 205 MB on two cores, where the daemon and its
processing process already keep both cores busy during a burst. So the
daemon's "auto" is a processing process on two cores or more (about 55 MB)
and one worker per core beyond two, at most four; with less than 1 GiB
available, neither: everything runs in the daemon's process (about 60 MB).
A backlog import (``maildesk ingest --mbox``) is one process that runs
once: it keeps config's "auto", one worker per core.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

from maildesk.config import Settings

MEMORY_FLOOR = 1 << 30  # bytes available below which the daemon starts no workers by itself
MAX_AUTO = 4


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo", "rb") as handle:
            for line in handle:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _short(available: int | None) -> bool:
    available = available if available is not None else available_memory()
    return available is not None and available < MEMORY_FLOOR


def auto_daemon_workers(cores: int | None = None, available: int | None = None) -> int:
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return 0 if _short(available) else max(0, min(cores - 2, MAX_AUTO))


def auto_processing_process(cores: int | None = None, available: int | None = None) -> bool:
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return cores >= 2 and not _short(available)


def separate_processing(settings: Settings) -> bool:
    """Whether ``maildesk run`` processes in a process of its own: with workers, or "auto" on two cores."""
    return settings.workers > 0 or (written_auto(settings.path) and auto_processing_process())


def written_auto(path: Path) -> bool:
    """Whether config.toml leaves ``[processing] workers`` to "auto" (written so, or not written)."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return False  # config has already read this file: keep what it decided
    processing = data.get("processing")
    return not isinstance(processing, dict) or processing.get("workers", "auto") == "auto"


def daemon_settings(settings: Settings) -> Settings:
    """The settings ``maildesk run`` works with: "auto" workers sized for the daemon."""
    if not written_auto(settings.path):
        return settings
    return dataclasses.replace(settings, workers=auto_daemon_workers())
