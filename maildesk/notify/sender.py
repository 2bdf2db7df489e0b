"""Deliver queued outbox rows through the transport, retrying on the configured schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from maildesk.notify.transport import PermanentDeliveryError, TransientDeliveryError, Transport
from maildesk.security.signing import bounce_address
from maildesk.storage import outbox
from maildesk.storage.db import Database
from maildesk.storage.models import Outbox

log = structlog.get_logger("maildesk.outbox")


class OutboxSender:
    """Delivers queued mail through the transport, retrying on the configured schedule."""

    def __init__(
        self, db: Database, transport: Transport, retry: tuple[timedelta, ...], secret: bytes
    ) -> None:
        self.db = db
        self.transport = transport
        self.retry = retry
        self.secret = secret  # signs each mail's bounce address
        # Outcomes of mail handed to the transport whose recording failed (the database went read-only
        # between the two): written before anything new is claimed, so a recovered database is told
        # what was sent instead of sending it again once the claim runs out.
        self._unrecorded: list[tuple[Outbox, str | None, bool]] = []

    def envelope_sender(self, row: Outbox) -> str:
        """The signed bounce address (VERP) of this mail: a delivery report about it proves itself."""
        return bounce_address(self.secret, row.mail_from, row.id)

    def send_due(self, limit: int = 100, now: datetime | None = None) -> int:
        """Send what is due now; returns how many were handled (sent or failed)."""
        now = now or datetime.now(UTC)
        if self._unrecorded:
            outbox.record_attempts(self.db, self._unrecorded, self.retry)  # raises while the database fails
            _log_results(self._unrecorded)
            self._unrecorded = []
        rows = outbox.claim_due(self.db, limit, now)
        if not rows:
            return 0
        results = [self._deliver(row) for row in rows]
        sync = getattr(self.transport, "sync", None)
        if sync is not None:
            sync()  # what was written must be durable before it is recorded as sent
        try:
            outbox.record_attempts(self.db, results, self.retry)
        except Exception:  # re-raised: kept only so that the next call records what was sent
            self._unrecorded = results
            raise
        _log_results(results)
        return len(rows)

    def _deliver(self, row: Outbox) -> tuple[Outbox, str | None, bool]:
        """Hand one mail to the transport: (row, error or None, permanent?)."""
        try:
            self.transport.deliver(self.envelope_sender(row), row.to_addr, row.raw, row.message_id)
        except PermanentDeliveryError as exc:
            return row, str(exc), True
        except TransientDeliveryError as exc:
            return row, str(exc), False
        except Exception as exc:  # noqa: BLE001 - a transport bug must not kill the sender
            return row, f"{type(exc).__name__}: {exc}", False
        return row, None, False

    def next_due(self) -> datetime | None:
        return outbox.next_due(self.db)


def _log_results(results: list[tuple[Outbox, str | None, bool]]) -> None:
    for row, error, permanent in results:
        if error is None:
            log.info(
                "mail_sent",
                outbox=row.id,
                ticket=row.ticket,
                template=row.template,
                message_id=row.message_id,
            )
        else:
            log.warning(
                "mail_delivery_failed",
                outbox=row.id,
                ticket=row.ticket,
                error=error,
                permanent=permanent,
                attempts=row.attempts + 1,
            )
