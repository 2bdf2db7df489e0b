"""Quarantine: stored messages that could not be applied, kept with why, listed, and put back in the inbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from maildesk.states import InboxState, QuarantineStatus
from maildesk.storage.db import Database
from maildesk.storage.models import InboxMessage, Quarantine


def hold(session: Session, row: InboxMessage, reason: str, status: str, now: datetime) -> None:
    """Keep ``row`` out of the flow with why: ``status`` is "held" (it failed) or "rejected" (on purpose).

    A message quarantined again (a retry that failed anew) keeps its one entry, with the new reason.
    """
    row.state = InboxState.REJECTED if status == QuarantineStatus.REJECTED else InboxState.QUARANTINED
    row.processed_at = now
    entry = session.scalar(select(Quarantine).where(Quarantine.inbox_id == row.id))
    message_id = row.message_key if not row.message_key.startswith("<sha256-") else None
    if entry is None:
        session.add(
            Quarantine(
                inbox_id=row.id,
                received_at=row.received_at,
                message_id=message_id,
                mail_from=row.mail_from,
                reason=reason,
                status=status,
            )
        )
    else:
        entry.reason, entry.status = reason, status


def entries(db: Database) -> list[Quarantine]:
    """Every entry, newest first."""
    with db.session() as session:
        return list(session.scalars(select(Quarantine).order_by(Quarantine.id.desc())))


def entry_with_message(db: Database, entry_id: int) -> tuple[Quarantine, bytes] | None:
    """The entry and the stored bytes of its message, or None when there is no such entry."""
    with db.session() as session:
        entry = session.get(Quarantine, entry_id)
        if entry is None:
            return None
        message = session.get(InboxMessage, entry.inbox_id)
        return entry, message.raw if message is not None else b""


@dataclass(frozen=True)
class Requeued:
    """What a retry put back in the inbox: entry id by inbox id, or nothing when it was retried before."""

    entry_of: dict[int, int]
    already_retried: bool = False


def requeue(db: Database, entry_id: int | None) -> Requeued:
    """Put one entry's message (``None``: every entry not yet retried) back in the inbox as pending.

    Raises LookupError when ``entry_id`` names no entry. An entry retried
    before is left alone: its message is applied (or pending for the
    daemon), and applying it again would apply it twice.
    """
    with db.session() as session:
        query = select(Quarantine).where(Quarantine.status != QuarantineStatus.RETRIED)
        if entry_id is not None:
            query = select(Quarantine).where(Quarantine.id == entry_id)
        found = list(session.scalars(query))
        if entry_id is not None and not found:
            raise LookupError(f"quarantine {entry_id}: no such entry")
        if entry_id is not None and found[0].status == QuarantineStatus.RETRIED:
            return Requeued({}, already_retried=True)
        inbox_ids = [e.inbox_id for e in found]
        session.execute(
            update(InboxMessage).where(InboxMessage.id.in_(inbox_ids)).values(state=InboxState.PENDING)
        )
        session.execute(
            update(Quarantine)
            .where(Quarantine.id.in_([e.id for e in found]))
            .values(status=QuarantineStatus.RETRIED)
        )
        return Requeued({e.inbox_id: e.id for e in found})
