"""The database schema: SQLAlchemy 2 tables shared by SQLite and PostgreSQL.

Alembic migrations under ``maildesk/storage/migrations`` create exactly these tables;
``tests/storage/test_migrations.py`` checks that the two never drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from maildesk.states import ArticleStatus, InboxState, OutboxStatus, QuarantineStatus, TicketStatus

# BigInteger primary keys autoincrement as INTEGER on SQLite (rowid) and BIGSERIAL/identity elsewhere.
Id = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both engines (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class InboxMessage(Base):
    """Every message accepted by any intake, stored raw before the protocol says yes.

    ``message_key`` is the ledger: the Message-ID (or a digest of the bytes)
    is unique, so a redelivered message finds its earlier row instead of
    making a second one.
    """

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_state", "state", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_key: Mapped[str] = mapped_column(String(1000), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(200))
    mail_from: Mapped[str | None] = mapped_column(String(1000))
    rcpt_tos: Mapped[list] = mapped_column(JSON, default=list)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # pending -> done | quarantined | rejected
    state: Mapped[str] = mapped_column(String(20), default=InboxState.PENDING)
    ticket: Mapped[int | None] = mapped_column(BigInteger)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Quarantine(Base):
    """A message that could not be processed (or was dropped by a rule), with the reason."""

    __tablename__ = "quarantine"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(1000))
    mail_from: Mapped[str | None] = mapped_column(String(1000))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=QuarantineStatus.HELD)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status", "status", "number"),
        Index("ix_tickets_requester", "requester"),
        Index("ix_tickets_escalate_due", "escalate_due_at"),
        Index("ix_tickets_first_response_due", "first_response_due_at"),
        Index("ix_tickets_resolve_due", "resolve_due_at"),
        # Reports select tickets by when they were created and when they were closed (maildesk.reports).
        Index("ix_tickets_created", "created_at"),
        Index("ix_tickets_closed", "closed_at"),
        # Only the tickets linked to a problem: reports count the distinct problems.
        Index(
            "ix_tickets_problem",
            "problem",
            sqlite_where=text("problem IS NOT NULL"),
            postgresql_where=text("problem IS NOT NULL"),
        ),
        {"sqlite_autoincrement": True},
    )

    number: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=TicketStatus.NEW)
    level: Mapped[int] = mapped_column(Integer)
    team: Mapped[str | None] = mapped_column(String(200))  # a team of ``level`` (SPEC section 3)
    urgency: Mapped[str] = mapped_column(String(20), default="normal")
    category: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40), default="request")
    application: Mapped[str | None] = mapped_column(String(200))
    problem: Mapped[str | None] = mapped_column(String(200))
    requester: Mapped[str] = mapped_column(String(500))
    requester_name: Mapped[str] = mapped_column(String(500), default="")
    organisation: Mapped[str | None] = mapped_column(String(300))
    assignee: Mapped[str | None] = mapped_column(String(500))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(10), default="en")
    linked_to: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_spent_s: Mapped[int] = mapped_column(Integer, default=0)
    # Timers are data: due times checked by an indexed sweep (SPEC section 7).
    level_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalate_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Time left on a clock while it is stopped (pending, or closed until a reopen).
    first_response_remaining_s: Mapped[int | None] = mapped_column(Integer)
    resolve_remaining_s: Mapped[int | None] = mapped_column(Integer)
    resolve_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    root_message_id: Mapped[str | None] = mapped_column(String(1000))
    # Who else speaks on the ticket: the To/Cc of the request that opened it (SPEC section 5).
    participants: Mapped[list | None] = mapped_column(JSON)
    # Report figures, recorded as they happen (maildesk.tickets.figures). Durations are business
    # seconds of the desk calendar at that moment; null where they are not known (yet).
    first_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    taken_into_account_s: Mapped[int | None] = mapped_column(Integer)
    first_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_s: Mapped[int | None] = mapped_column(Integer)
    first_response_met: Mapped[bool | None] = mapped_column(Boolean)
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_s: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Of the current closing (also in ticket_closings, which keeps every closing and its reopening).
    resolution_s: Mapped[int | None] = mapped_column(Integer)
    resolve_met: Mapped[bool | None] = mapped_column(Boolean)
    self_care: Mapped[bool | None] = mapped_column(Boolean)
    suggestions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    technician: Mapped[str | None] = mapped_column(String(500))
    # When a grouping attribute last changed: older periods look their value up in ticket_changes.
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """The ticket's history; SPEC section 8 lists the event types."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_ticket", "ticket", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket: Mapped[int] = mapped_column(ForeignKey("tickets.number"))
    type: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_addr: Mapped[str | None] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(1000))
    inbox_id: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class ThreadMessage(Base):
    """Message-IDs known to belong to a ticket: received ones and the ones the desk sent."""

    __tablename__ = "thread_messages"

    message_id: Mapped[str] = mapped_column(String(1000), primary_key=True)
    ticket: Mapped[int] = mapped_column(BigInteger, index=True)


class AttachmentRow(Base):
    __tablename__ = "attachments"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket: Mapped[int] = mapped_column(BigInteger, index=True)
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Outbox(Base):
    """Mail the desk decided to send, rendered, written in the same transaction as the change."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_recipient", "to_addr", "created_at"),
        Index("ix_outbox_ticket", "ticket", "created_at"),  # the per-ticket hourly cap
        Index("ix_outbox_message_id", "message_id"),  # delivery reports that quote our Message-ID
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket: Mapped[int | None] = mapped_column(BigInteger)
    to_addr: Mapped[str] = mapped_column(String(500))
    mail_from: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(Text)
    template: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(1000))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BounceSuppression(Base):
    """An address that bounced permanently gets no automatic mail until ``until``."""

    __tablename__ = "bounce_suppressions"

    address: Mapped[str] = mapped_column(String(500), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)


class ImapCheckpoint(Base):
    """Where an IMAP account's folder was read up to, so restarts neither refetch nor miss."""

    __tablename__ = "imap_checkpoints"
    __table_args__ = (UniqueConstraint("account", "folder"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)


class KbArticle(Base):
    """A knowledge-base article: seeded by admins, added with ``kb add``, or filed from a closed ticket.

    Only ``published`` articles leave the desk (suggestions, search, level-0
    answers, ``[known]``): a draft filed from a closure holds one person's
    ticket text until a technician has read it. ``updates`` is the published
    article a draft proposes to replace (publishing it rewrites that one).
    """

    __tablename__ = "kb_articles"
    __table_args__ = (Index("ix_kb_articles_status", "status", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    application: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(40))
    source_ticket: Mapped[int | None] = mapped_column(BigInteger)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=ArticleStatus.DRAFT)
    language: Mapped[str | None] = mapped_column(String(10))
    updates: Mapped[int | None] = mapped_column(BigInteger)


class TicketClosing(Base):
    """Every closing of a ticket and its reopening, once it happens: was a ticket closed at a moment."""

    __tablename__ = "ticket_closings"
    __table_args__ = (
        Index("ix_ticket_closings_ticket", "ticket", "reopened_at"),
        Index("ix_ticket_closings_reopened", "reopened_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket: Mapped[int] = mapped_column(BigInteger)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_s: Mapped[int | None] = mapped_column(Integer)  # business seconds, less the time pending
    resolve_met: Mapped[bool | None] = mapped_column(Boolean)  # None: no resolve target
    self_care: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_by: Mapped[str | None] = mapped_column(String(500))  # a technician, "requester" or "rule"


class TicketEscalation(Base):
    """A move into a higher level, by the timer or by a technician."""

    __tablename__ = "ticket_escalations"
    # In ticket order and covering: a report joins the tickets in the order they are stored.
    __table_args__ = (
        Index("ix_ticket_escalations_ticket", "ticket", "to_level", "by_timer", "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_level: Mapped[int | None] = mapped_column(Integer)
    to_level: Mapped[int] = mapped_column(Integer)
    by_timer: Mapped[bool] = mapped_column(Boolean)


class TimeEntry(Base):
    """One ``[time=...]``: billed in the period it was recorded in."""

    __tablename__ = "time_entries"
    __table_args__ = (
        Index("ix_time_entries_ticket", "ticket", "at", "seconds"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    seconds: Mapped[int] = mapped_column(Integer)
    technician: Mapped[str | None] = mapped_column(String(500))


class AttributeChange(Base):
    """The value a grouping attribute had before it changed, so a report sees it as it was then."""

    __tablename__ = "ticket_changes"
    __table_args__ = (
        Index("ix_ticket_changes_lookup", "ticket", "field", "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(String(500))


class SelfCareMail(Base):
    """A mail to ``[kb] self_service`` answered with articles: self-care in reports, while it opens no ticket.

    The question, the articles sent and the Message-ID of the answer are kept,
    so a reply to the answer opens a ticket with that context (``ticket``
    then names it, and the mail no longer counts as self-care).
    """

    __tablename__ = "self_service_mails"
    __table_args__ = (
        Index("ix_self_service_mails_at", "at"),
        Index("ix_self_service_mails_answer", "answer_id"),
        Index("ix_self_service_mails_question", "question_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    sender: Mapped[str] = mapped_column(String(500))
    organisation: Mapped[str | None] = mapped_column(String(300))
    question_id: Mapped[str | None] = mapped_column(String(1000))  # the Message-ID of the question
    answer_id: Mapped[str | None] = mapped_column(String(1000))  # the Message-ID of the desk's answer
    language: Mapped[str | None] = mapped_column(String(10))
    subject: Mapped[str | None] = mapped_column(Text)
    question: Mapped[str | None] = mapped_column(Text)
    articles: Mapped[list | None] = mapped_column(JSON)  # the slugs sent
    ticket: Mapped[int | None] = mapped_column(BigInteger)  # opened by a reply to the answer


class ReportRun(Base):
    """A scheduled report's period, claimed by the one daemon that mails it (unique: once per period)."""

    __tablename__ = "report_runs"
    __table_args__ = (UniqueConstraint("since", "until", name="uq_report_runs_period"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class FiguresBackfill(Base):
    """Tickets made before the report figures were recorded, still to derive from their events.

    The migration that added the figures writes one row (the newest ticket
    then); ``maildesk db upgrade`` derives the figures with the desk calendar,
    moving ``done_up_to`` as it commits, and removes the row at the end.
    """

    __tablename__ = "figures_backfill"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    up_to: Mapped[int] = mapped_column(BigInteger)
    done_up_to: Mapped[int] = mapped_column(BigInteger, default=0)
