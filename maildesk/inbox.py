"""The durable inbox: raw bytes are committed here before any intake says yes.

Every intake (SMTP/LMTP, IMAP, pipe, backlog import) calls ``Inbox.accept``
and only then acknowledges the message to its peer. The unique message key
is the ledger that makes redelivery idempotent.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from maildesk.db import Database
from maildesk.models import InboxMessage
from maildesk.types import RawMessage

_HEADER_END = re.compile(rb"\r?\n\r?\n|\r\r")
_MESSAGE_ID = re.compile(rb"(?im)^message-id[ \t]*:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)")
_ANGLE_ID = re.compile(rb"<[^<>\s]+>")
MAX_KEY = 998


def digest_message_id(data: bytes) -> str:
    """The identity of a message that has no Message-ID: a digest of its bytes."""
    return f"<sha256-{hashlib.sha256(data).hexdigest()[:32]}@maildesk>"


def message_key(data: bytes) -> str:
    """The Message-ID from the header block (cheaply, without a full parse), else a digest."""
    end = _HEADER_END.search(data)
    head = data[: end.start()] if end else data[:65536]
    match = _MESSAGE_ID.search(head)
    if match:
        value = match.group(1)
        angle = _ANGLE_ID.search(value)
        token = (angle.group(0) if angle else value.strip()).decode("utf-8", "replace")
        token = re.sub(r"[\x00-\x20\x7f]", "", token)
        if token and token != "<>":
            if not token.startswith("<"):
                token = f"<{token}>"
            return token[:MAX_KEY]
    return digest_message_id(data)


@dataclass(frozen=True)
class Accepted:
    inbox_id: int
    duplicate: bool  # the ledger already had this message: nothing new was stored


class Inbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def accept(self, raw: RawMessage) -> Accepted:
        """Store the message durably (or find it already stored); raises if storage fails."""
        key = message_key(raw.data)
        for _attempt in range(3):
            try:
                with self.db.session() as session:
                    existing = session.scalar(select(InboxMessage.id).where(InboxMessage.message_key == key))
                    if existing is not None:
                        return Accepted(existing, duplicate=True)
                    row = InboxMessage(message_key=key, received_at=raw.received_at, source=raw.source,
                                       mail_from=raw.mail_from, rcpt_tos=list(raw.rcpt_tos), raw=raw.data,
                                       state="pending")
                    session.add(row)
                    session.flush()
                    return Accepted(row.id, duplicate=False)
            except IntegrityError:
                continue  # another process stored the same key at the same moment: look again
        raise RuntimeError(f"could not store message {key}")
