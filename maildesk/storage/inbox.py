"""The durable inbox: raw bytes are committed here before any intake says yes.

Every intake (SMTP/LMTP, IMAP, pipe, backlog import) calls ``Inbox.accept``
and only then acknowledges the message to its peer. The unique message key
is the ledger that makes redelivery idempotent. A large message arrives as
a ``Spool`` and is streamed into its row (SQLite's incremental blob I/O), so
the listener never holds the whole of it, let alone several at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import Connection, Select, func, insert, select
from sqlalchemy.exc import IntegrityError

from maildesk.message.ledger import message_key
from maildesk.states import InboxState
from maildesk.storage.db import Database
from maildesk.storage.models import InboxMessage
from maildesk.storage.spool import Spool
from maildesk.types import RawMessage


@dataclass(frozen=True)
class Accepted:
    inbox_id: int
    duplicate: bool  # the ledger already had this message: nothing new was stored


def _row(key: str, raw: RawMessage, data: object) -> dict:
    return {
        "message_key": key,
        "received_at": raw.received_at,
        "source": raw.source,
        "mail_from": raw.mail_from,
        "rcpt_tos": list(raw.rcpt_tos),
        "raw": data,
        "state": InboxState.PENDING,
    }


def _key(raw: RawMessage, spool: Spool | None) -> str:
    return spool.key if spool is not None else message_key(raw.data)


def _insert(connection: Connection, key: str, raw: RawMessage, spool: Spool | None) -> int:
    """Insert one row; a large spooled message is written into it a chunk at a time."""
    if spool is None:
        data: object = raw.data
    elif spool.small or connection.dialect.name != "sqlite":
        data = spool.read()  # PostgreSQL's bytea takes the value whole: one message at a time
    else:
        data = func.zeroblob(spool.size)
    inserted = connection.execute(insert(InboxMessage).values(**_row(key, raw, data))).inserted_primary_key
    assert inserted is not None
    inbox_id: int = inserted[0]
    if spool is not None and not spool.small and connection.dialect.name == "sqlite":
        sqlite = connection.connection.driver_connection  # the sqlite3 connection, in this transaction
        assert sqlite is not None
        with sqlite.blobopen("inbox", "raw", inbox_id) as blob:
            for chunk in spool.chunks():
                blob.write(chunk)
    return inbox_id


class _Waiting:
    """One message waiting for the group commit that stores it."""

    def __init__(self, raw: RawMessage, spool: Spool | None) -> None:
        self.raw = raw
        self.spool = spool
        self.done = threading.Event()
        self.result: Accepted | None = None
        self.error: BaseException | None = None


class Inbox:
    """Written with Core statements: this is the path every intake waits on before it says yes.

    Messages arriving together (several SMTP sessions, an IMAP batch) are
    stored by one transaction, one commit and one fsync: the first caller
    writes whatever the others queued meanwhile (a group commit), and each
    caller returns only once its own message is committed.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._writing = False

    def accept(self, raw: RawMessage, spool: Spool | None = None) -> Accepted:
        """Store the message durably (or find it already stored); raises if storage fails.

        With ``spool`` the bytes are there (``raw.data`` is then empty); the caller closes it.
        """
        mine = _Waiting(raw, spool)
        with self._lock:
            self._queue.append(mine)
            leader = not self._writing
            self._writing = True
        if leader:
            self._write_queued()
        mine.done.wait()
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None  # set by the writer whenever it sets no error
        return mine.result

    def _write_queued(self) -> None:
        """Store what is queued, in groups, until the queue is empty."""
        while True:
            with self._lock:
                group, self._queue = self._queue, []
                if not group:
                    self._writing = False
                    return
            try:
                results = (
                    self.accept_many([w.raw for w in group], [w.spool for w in group])
                    if len(group) > 1
                    else [self._accept_one(group[0].raw, group[0].spool)]
                )
            except BaseException as exc:  # noqa: BLE001 - every waiting caller must hear of it
                for waiting in group:
                    waiting.error = exc
                    waiting.done.set()
                continue
            for waiting, result in zip(group, results, strict=True):
                waiting.result = result
                waiting.done.set()

    def _accept_one(self, raw: RawMessage, spool: Spool | None = None) -> Accepted:
        key = _key(raw, spool)
        for _attempt in range(3):
            try:
                with self.db.session() as session:
                    connection = session.connection()
                    existing = connection.scalar(
                        select(InboxMessage.id).where(InboxMessage.message_key == key)
                    )
                    if existing is not None:
                        return Accepted(existing, duplicate=True)
                    return Accepted(_insert(connection, key, raw, spool), duplicate=False)
            except IntegrityError:
                continue  # another process stored the same key at the same moment: look again
        raise RuntimeError(f"could not store message {key}")

    def accept_many(self, raws: list[RawMessage], spools: list[Spool | None] | None = None) -> list[Accepted]:
        """Store a batch in one transaction (backlog imports); falls back to one by one on a race."""
        spools = spools or [None] * len(raws)
        try:
            with self.db.session() as session:
                connection = session.connection()
                keys = [_key(raw, spool) for raw, spool in zip(raws, spools, strict=True)]
                known = dict(
                    connection.execute(
                        select(InboxMessage.message_key, InboxMessage.id).where(
                            InboxMessage.message_key.in_(set(keys))
                        )
                    ).all()
                )
                results = []
                for key, raw, spool in zip(keys, raws, spools, strict=True):
                    if key in known:
                        results.append(Accepted(known[key], duplicate=True))
                        continue
                    known[key] = _insert(connection, key, raw, spool)
                    results.append(Accepted(known[key], duplicate=False))
                return results
        except IntegrityError:
            return [self._accept_one(raw, spool) for raw, spool in zip(raws, spools, strict=True)]


def raw_message(row: InboxMessage, *, with_bytes: bool = True) -> RawMessage:
    """A stored row as the RawMessage an intake accepted; its envelope only (``data`` empty) without bytes."""
    return RawMessage(
        data=row.raw if with_bytes else b"",
        mail_from=row.mail_from,
        rcpt_tos=tuple(row.rcpt_tos or ()),
        source=row.source,
        received_at=row.received_at,
    )


def pending_query(db: Database, size: int, only_ids: list[int] | None = None) -> Select:
    """The next pending rows, oldest first, claimed by the transaction that reads them.

    On PostgreSQL rows another daemon holds are skipped (SKIP LOCKED); SQLite serialises writers.
    """
    query = (
        select(InboxMessage)
        .where(InboxMessage.state == InboxState.PENDING)
        .order_by(InboxMessage.id)
        .limit(size)
    )
    if only_ids is not None:
        query = query.where(InboxMessage.id.in_(only_ids))
    if db.is_postgres:
        query = query.with_for_update(skip_locked=True)
    return query


def pending_ids(db: Database, size: int, max_bytes: int, only_ids: list[int] | None = None) -> list[int]:
    """The next pending rows, as many as ``size`` and ``max_bytes`` of raw mail allow (always at least one).

    A burst of large messages then goes in several batches rather than all in memory at once.
    """
    query = (
        select(InboxMessage.id, func.length(InboxMessage.raw))
        .where(InboxMessage.state == InboxState.PENDING)
        .order_by(InboxMessage.id)
        .limit(size)
    )
    if only_ids is not None:
        query = query.where(InboxMessage.id.in_(only_ids))
    ids: list[int] = []
    total = 0
    with db.session() as session:
        for inbox_id, length in session.execute(query):
            total += length or 0
            if ids and total > max_bytes:
                break
            ids.append(inbox_id)
    return ids


def peek_pending(db: Database, ids: list[int]) -> list[tuple[int, bytes]]:
    """(id, raw) of these pending rows, read without claiming them (the write transaction claims)."""
    if not ids:
        return []
    query = (
        select(InboxMessage.id, InboxMessage.raw).where(InboxMessage.id.in_(ids)).order_by(InboxMessage.id)
    )
    with db.session() as session:
        return [(inbox_id, raw) for inbox_id, raw in session.execute(query)]
