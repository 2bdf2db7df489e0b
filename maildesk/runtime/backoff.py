"""How a background loop (processor, sender, timer sweep) lives through failures without a restart.

A database that turned read-only for a moment, a full disk, a PostgreSQL
failover: the loop drops its pooled connections (they may be spoilt for
good, see ``db.needs_new_connection``), waits longer after each failure up
to a ceiling, and says so once per change of state rather than once per
attempt: one line when it starts failing (or fails differently), one when
it works again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from maildesk.storage.db import Database

log = structlog.get_logger("maildesk.runtime")


class Backoff:
    """The failure state of one loop: ``failed`` says how long to wait, ``succeeded`` ends the episode."""

    def __init__(self, name: str, *, first: float = 1.0, longest: float = 16.0) -> None:
        self.name = name  # events are "<name>_failed" and "<name>_recovered"
        self.first = first
        self.longest = longest
        self.failures = 0
        self._error: str | None = None
        self._since = 0.0

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def failed(self, error: BaseException, db: Database | None = None) -> float:
        """Record a failure (dropping ``db``'s connections when storage failed); the seconds to wait."""
        if db is not None:
            db.recover(error)
        text = f"{type(error).__name__}: {' '.join(str(error).split())[:500]}"
        if not self.failing:
            self._since = time.monotonic()
        if text != self._error:
            log.error(f"{self.name}_failed", error=text, attempts=self.failures + 1)
            self._error = text
        self.failures += 1
        return min(self.longest, self.first * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        if self.failing:
            log.info(
                f"{self.name}_recovered",
                attempts=self.failures,
                after_s=round(time.monotonic() - self._since, 1),
            )
        self.failures, self._error = 0, None
