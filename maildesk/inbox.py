"""The durable inbox: raw bytes are committed here before any intake says yes.

Every intake (SMTP/LMTP, IMAP, pipe, backlog import) calls ``Inbox.accept``
and only then acknowledges the message to its peer. The unique message key
is the ledger that makes redelivery idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from maildesk.db import Database
from maildesk.ledger import message_key
from maildesk.models import InboxMessage
from maildesk.types import RawMessage


@dataclass(frozen=True)
class Accepted:
    inbox_id: int
    duplicate: bool  # the ledger already had this message: nothing new was stored


def _row(key: str, raw: RawMessage) -> dict:
    return {"message_key": key, "received_at": raw.received_at, "source": raw.source, "mail_from": raw.mail_from,
            "rcpt_tos": list(raw.rcpt_tos), "raw": raw.data, "state": "pending"}


class Inbox:
    """Written with Core statements: this is the path every intake waits on before it says yes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def accept(self, raw: RawMessage) -> Accepted:
        """Store the message durably (or find it already stored); raises if storage fails."""
        key = message_key(raw.data)
        for _attempt in range(3):
            try:
                with self.db.session() as session:
                    connection = session.connection()
                    existing = connection.scalar(select(InboxMessage.id).where(InboxMessage.message_key == key))
                    if existing is not None:
                        return Accepted(existing, duplicate=True)
                    inserted = connection.execute(insert(InboxMessage).values(**_row(key, raw)))
                    return Accepted(inserted.inserted_primary_key[0], duplicate=False)
            except IntegrityError:
                continue  # another process stored the same key at the same moment: look again
        raise RuntimeError(f"could not store message {key}")

    def accept_many(self, raws: list[RawMessage]) -> list[Accepted]:
        """Store a batch in one transaction (backlog imports); falls back to one by one on a race."""
        try:
            with self.db.session() as session:
                connection = session.connection()
                keys = [message_key(raw.data) for raw in raws]
                known = dict(connection.execute(select(InboxMessage.message_key, InboxMessage.id)
                                                .where(InboxMessage.message_key.in_(set(keys)))).all())
                results = []
                for key, raw in zip(keys, raws, strict=True):
                    if key in known:
                        results.append(Accepted(known[key], duplicate=True))
                        continue
                    known[key] = connection.execute(insert(InboxMessage).values(**_row(key, raw))) \
                        .inserted_primary_key[0]
                    results.append(Accepted(known[key], duplicate=False))
                return results
        except IntegrityError:
            return [self.accept(raw) for raw in raws]
