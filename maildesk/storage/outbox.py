"""The outbox and bounce-suppression tables: drafts written, due rows claimed, attempts recorded.

Queuing renders and composes the mail once, so a retry sends the very same
bytes (same Message-ID) and a crash between send and bookkeeping at worst
repeats a delivery the maildir transport folds into one file. Deciding and
rendering the mail is ``notify.drafts``'s job, handing it to a transport
``notify.sender``'s; this module only reads and writes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from maildesk.config import Settings
from maildesk.states import OutboxStatus
from maildesk.storage.db import Database
from maildesk.storage.models import BounceSuppression, Outbox
from maildesk.types import Notification

CLAIM_FOR = timedelta(minutes=5)
# Built once: it runs for every automatic mail.
_RECENT_AUTOMATIC = (
    select(func.count())
    .select_from(Outbox)
    .where(
        Outbox.to_addr == bindparam("address"),
        Outbox.automatic.is_(True),
        Outbox.status.in_((OutboxStatus.QUEUED, OutboxStatus.SENT)),
        Outbox.created_at > bindparam("since"),
    )
)
# Every mail about one ticket that went (or is going) out in the last hour, whatever its template.
_RECENT_ABOUT_TICKET = (
    select(func.count())
    .select_from(Outbox)
    .where(
        Outbox.ticket == bindparam("ticket"),
        Outbox.status.in_((OutboxStatus.QUEUED, OutboxStatus.SENT)),
        Outbox.created_at > bindparam("since"),
    )
)
#: Beginning of the reason of a mail held back by the per-ticket cap: how a storm under way is found.
STORM_REASON = "mail storm:"
#: The notice that tells the supervisors of a storm; the per-ticket cap never holds it back.
STORM_TEMPLATE = "storm"
_STORM_UNDER_WAY = (
    select(func.count())
    .select_from(Outbox)
    .where(
        Outbox.ticket == bindparam("ticket"),
        Outbox.status == OutboxStatus.SUPPRESSED,
        Outbox.last_error.like(STORM_REASON + "%"),
        Outbox.created_at > bindparam("since"),
    )
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def suppression_reason(
    session: Session,
    notification: Notification,
    settings: Settings,
    now: datetime,
    pending_automatic: int = 0,
    pending_about_ticket: int = 0,
) -> str | None:
    """Why this mail must not go out (bounce suppression, hourly caps), or None.

    ``pending_automatic`` counts the automatic mails to the same address, and
    ``pending_about_ticket`` the mails about the same ticket, that this
    transaction decided but has not written yet.
    """
    with session.no_autoflush:  # earlier mails of a batch were flushed when their savepoint closed
        return _suppression_reason(
            session, notification, settings, now, pending_automatic, pending_about_ticket
        )


def _suppression_reason(
    session: Session,
    notification: Notification,
    settings: Settings,
    now: datetime,
    pending_automatic: int,
    pending_about_ticket: int,
) -> str | None:
    address = notification.to
    if notification.template != "reply":
        suppressed = active_suppressions(session, now).get(address)
        if suppressed is not None and suppressed.until > now:
            return f"address bounced permanently ({suppressed.reason}); suppressed until {suppressed.until:%Y-%m-%d %H:%M}Z"
    if notification.ticket is not None and notification.template != STORM_TEMPLATE:
        cap = settings.security.auto_mail_per_ticket_per_hour
        about_ticket = recent_about_ticket(session, notification.ticket, now) + pending_about_ticket
        if about_ticket >= cap:
            return f"{STORM_REASON} hourly cap of {cap} mails about ticket #{notification.ticket} reached"
    if notification.automatic:
        cap = settings.security.auto_mail_per_recipient_per_hour
        recent = (
            session.connection().scalar(
                _RECENT_AUTOMATIC, {"address": address, "since": now - timedelta(hours=1)}
            )
            or 0
        ) + pending_automatic
        if recent >= cap:
            return f"hourly cap of {cap} automatic mails to {address} reached"
    return None


def recent_about_ticket(session: Session, ticket: int, now: datetime) -> int:
    """Mails about ``ticket`` written in the last hour, counted once per transaction and ticket.

    The mails this transaction decides are counted by its ``OutboxBatch``;
    a savepoint rolled back takes its drafts away, never written rows.
    """
    counts = session.info.setdefault("mail_about_ticket", {})
    if ticket not in counts:
        counts[ticket] = session.connection().scalar(
            _RECENT_ABOUT_TICKET, {"ticket": ticket, "since": now - timedelta(hours=1)}
        )
    return counts[ticket]


def storm_under_way(session: Session, ticket: int, now: datetime) -> bool:
    """Whether mail about ``ticket`` was already held back by the cap in the last hour (a storm goes on)."""
    with session.no_autoflush:
        found = session.connection().scalar(
            _STORM_UNDER_WAY, {"ticket": ticket, "since": now - timedelta(hours=1)}
        )
    return bool(found)


def active_suppressions(session: Session, now: datetime) -> dict[str, BounceSuppression]:
    """Suppressed addresses, read once per transaction (the table is small; mail is many)."""
    cache = session.info.get("bounce_suppressions")
    if cache is None:
        rows = session.scalars(select(BounceSuppression).where(BounceSuppression.until > now))
        cache = session.info["bounce_suppressions"] = {row.address: row for row in rows}
    return cache


def suppress_address(session: Session, address: str, until: datetime, reason: str) -> None:
    """Stop automatic mail to an address that bounced permanently (and tell this transaction's cache)."""
    existing = session.get(BounceSuppression, address)
    if existing is None:
        existing = BounceSuppression(address=address, until=until, reason=reason)
        session.add(existing)
    else:
        existing.until, existing.reason = until, reason
    session.info.setdefault("bounce_suppressions", {})[address] = existing


@dataclass
class DraftMail:
    """An outbox row decided inside the ticket's transaction, waiting for its rendered bytes.

    Its Message-ID is minted at once, so the ticket's thread knows it before
    the mail is composed (possibly in a worker process, see ``runtime.workers``).
    """

    notification: Notification
    message_id: str  # "" when the mail cannot be sent at all
    status: str  # queued | suppressed | failed
    reason: str | None
    created_at: datetime
    mail_from: str  # the desk address; it goes out as its signed bounce address (see notify.sender)
    subject: str = ""
    raw: bytes = b""

    @property
    def storm(self) -> bool:
        """Held back by the per-ticket hourly cap."""
        return self.status == OutboxStatus.SUPPRESSED and (self.reason or "").startswith(STORM_REASON)


@dataclass
class OutboxBatch:
    """The drafts of one transaction: rendered together, then written in one statement."""

    drafts: list[DraftMail] = field(default_factory=list)

    def mark(self) -> int:
        return len(self.drafts)

    def rollback_to(self, mark: int) -> None:
        """Forget the drafts of a message whose savepoint rolled back."""
        del self.drafts[mark:]

    def pending_automatic(self, address: str) -> int:
        return sum(
            1
            for d in self.drafts
            if d.status == OutboxStatus.QUEUED and d.notification.automatic and d.notification.to == address
        )

    def pending_about_ticket(self, ticket: int | None) -> int:
        if ticket is None:
            return 0
        return sum(
            1 for d in self.drafts if d.status == OutboxStatus.QUEUED and d.notification.ticket == ticket
        )


def store_drafts(session: Session, drafts: list[DraftMail]) -> None:
    """Write rendered drafts as outbox rows: one executemany, in the ticket's transaction."""
    if not drafts:
        return
    session.execute(
        insert(Outbox),
        [
            {
                "ticket": d.notification.ticket,
                "to_addr": d.notification.to[:500],
                "mail_from": d.mail_from,
                "subject": d.subject,
                "template": d.notification.template,
                "message_id": d.message_id,
                "raw": d.raw,
                "automatic": d.notification.automatic,
                "status": d.status,
                "attempts": 0,
                "last_error": d.reason,
                "created_at": d.created_at,
                "next_attempt_at": d.created_at if d.status == OutboxStatus.QUEUED else None,
            }
            for d in drafts
        ],
    )


def claim_due(db: Database, limit: int, now: datetime) -> list[Outbox]:
    """Claim due rows so that two daemons never send the same one at once."""
    with db.session() as session:
        query = (
            select(Outbox)
            .where(
                Outbox.status == OutboxStatus.QUEUED,
                Outbox.next_attempt_at <= now,
                or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now),
            )
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
        )
        if db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        for row in rows:
            row.claimed_until = now + CLAIM_FOR
        return rows


def record_attempts(
    db: Database, results: list[tuple[Outbox, str | None, bool]], retry: tuple[timedelta, ...]
) -> None:
    """Write the outcome of a burst, (row, error or None, permanent?) each, in one transaction.

    Sent, failed for good (a permanent error or no retry left), or due again
    after the next step of ``retry``. A crash before this resends, never loses.
    """
    now = _utcnow()
    updates = []
    for row, error, permanent in results:
        values: dict = {
            "id": row.id,
            "attempts": row.attempts + 1,
            "claimed_until": None,
            "last_error": error,
            "status": row.status,
            "sent_at": None,
            "next_attempt_at": None,
        }
        if error is None:
            values.update(status=OutboxStatus.SENT, sent_at=now)
        elif permanent or row.attempts >= len(retry):
            values.update(status=OutboxStatus.FAILED)
        else:
            values.update(next_attempt_at=now + retry[row.attempts])
        updates.append(values)
    with db.session() as session:
        session.execute(update(Outbox), updates)  # one executemany, by primary key


def next_due(db: Database) -> datetime | None:
    with db.session() as session:
        return session.scalar(
            select(func.min(Outbox.next_attempt_at)).where(Outbox.status == OutboxStatus.QUEUED)
        )


def retry(db: Database, outbox_id: int | None) -> int:
    """Queue failed (or suppressed) mail again now; ``None`` means every failed one."""
    with db.session() as session:
        query = update(Outbox).where(
            Outbox.status.in_(
                (OutboxStatus.FAILED,)
                if outbox_id is None
                else (OutboxStatus.FAILED, OutboxStatus.SUPPRESSED, OutboxStatus.QUEUED)
            )
        )
        if outbox_id is not None:
            query = query.where(Outbox.id == outbox_id)
        result = session.execute(
            query.values(
                status=OutboxStatus.QUEUED, next_attempt_at=_utcnow(), attempts=0, claimed_until=None
            )
        )
        return result.rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult


def list_rows(db: Database, status: str | None = None, limit: int = 100) -> list[Outbox]:
    """The newest outbox rows first, of one status or of any."""
    query = select(Outbox).order_by(Outbox.id.desc()).limit(limit)
    if status:
        query = query.where(Outbox.status == status)
    with db.session() as session:
        return list(session.scalars(query))
