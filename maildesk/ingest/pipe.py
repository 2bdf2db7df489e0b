"""The pipe fast path: store one message with the stdlib sqlite3 driver and hand it to the daemon.

An MTA runs ``maildesk ingest`` once per message, and importing SQLAlchemy
alone costs more than the whole budget. When a daemon is running on the
same SQLite database, the message only has to be made durable: one INSERT
into the inbox ledger, committed with a full sync, then a nudge. Anything
unusual (PostgreSQL, no daemon, an unexpected schema) returns None and the
caller takes the full in-process path instead.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from maildesk.config import Settings
from maildesk.ingest.handoff import daemon_running, send_wake, sqlite_file
from maildesk.message.ledger import message_key
from maildesk.storage.revision import HEAD_REVISION


def store_for_daemon(
    settings: Settings, data: bytes, *, mail_from: str | None, rcpt_tos: list[str], source: str = "pipe"
) -> bool:
    """True when the message is durably stored for a running daemon; False: take the full path.

    Raises sqlite3.Error when the database itself fails (the caller answers 75).
    """
    database = sqlite_file(settings.database_url)
    if database is None or not database.exists() or not daemon_running(database):
        return False
    connection = sqlite3.connect(database, timeout=60, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout=60000")
        connection.execute("PRAGMA synchronous=FULL")
        try:
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            return False
        if revision is None or revision[0] != HEAD_REVISION:
            return False
        received = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO inbox (message_key, received_at, source, mail_from, rcpt_tos, raw, state) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT (message_key) DO NOTHING",
            (message_key(data), received, source, mail_from, json.dumps(rcpt_tos), data),
        )
        connection.execute("COMMIT")
    finally:
        connection.close()
    send_wake(database)
    return True
