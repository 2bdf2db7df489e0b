"""The states a row goes through, each named once: tickets, inbox messages, outgoing mail, quarantine, articles.

``StrEnum`` members are their strings: they are stored, compared, printed and
written to JSON exactly as the bare strings were (``TicketStatus.OPEN ==
"open"``), so the database, SPEC's JSON shapes and the templates see no change.
"""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    """SPEC section 5: new until a technician acts, open, pending (waiting for the requester), closed."""

    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    CLOSED = "closed"


#: The statuses of a ticket that is not closed.
OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)
#: The statuses whose escalation clock stands still.
CLOCK_STOPPED = (TicketStatus.PENDING, TicketStatus.CLOSED)


class InboxState(StrEnum):
    """A stored message: waiting to be processed, done, or kept in quarantine (held or rejected)."""

    PENDING = "pending"
    DONE = "done"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"


class QuarantineStatus(StrEnum):
    """A quarantine entry: held with its reason, put back in the inbox, or rejected on purpose."""

    HELD = "held"
    RETRIED = "retried"
    REJECTED = "rejected"


class OutboxStatus(StrEnum):
    """An outgoing mail: waiting (first attempt or a retry), sent, failed for good, or suppressed by a cap."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class ArticleStatus(StrEnum):
    """A knowledge-base article: a draft waiting for review, published, or retired."""

    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"
