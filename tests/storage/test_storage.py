"""Storage on SQLite and PostgreSQL: ticket numbers and the inbox ledger under concurrency."""

from __future__ import annotations

import shutil
import subprocess
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select

from maildesk.runtime.app import App
from maildesk.storage.db import Database
from maildesk.storage.inbox import Inbox
from maildesk.storage.models import Event, InboxMessage, Outbox, ThreadMessage, Ticket
from maildesk.types import RawMessage
from tests.support import MAILDESK, Desk, db_rows, make_message, postgres_url, wait_inbox_drained, wait_until

PROCESSES, PER_PROCESS = 4, 25


def test_ticket_numbers_are_unique_and_increasing_across_concurrent_ingest_processes(tmp_path, db_url):
    desk = Desk(tmp_path / "desk", db_url=db_url)
    desk.cli("db", "upgrade")
    batches: list[list[str]] = []
    for worker in range(PROCESSES):
        paths = []
        for index in range(PER_PROCESS):
            path = tmp_path / f"w{worker}-{index:02}.eml"
            path.write_bytes(
                make_message(
                    subject=f"Request {worker}/{index}",
                    sender=f"w{worker}@client.com",
                    message_id=f"<w{worker}-{index}@client.com>",
                )
            )
            paths.append(str(path))
        batches.append(paths)
    processes = [
        subprocess.Popen(
            [*MAILDESK, "--config", str(desk.config), "ingest", *paths],
            cwd=desk.dir,
            env=desk.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for paths in batches
    ]
    for process in processes:
        _out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err.decode()[-2000:]

    rows = db_rows(desk.db_url, "SELECT number, requester, root_message_id FROM tickets")
    numbers = [number for number, _r, _m in rows]
    assert len(rows) == PROCESSES * PER_PROCESS
    assert len(set(numbers)) == len(numbers)
    by_message = {message_id: number for number, _r, message_id in rows}
    for worker in range(PROCESSES):
        mine = [by_message[f"<w{worker}-{index}@client.com>"] for index in range(PER_PROCESS)]
        assert mine == sorted(mine), "a later message got a smaller number"
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM outbox WHERE template = 'ack'") == [
        (PROCESSES * PER_PROCESS,)
    ]


def test_concurrent_accepts_of_the_same_message_store_it_once(tmp_path, db_url):
    desk = Desk(tmp_path / "desk", db_url=db_url)
    desk.cli("db", "upgrade")
    data = make_message(message_id="<same@client.com>")
    databases = [Database(desk.db_url) for _ in range(6)]  # one engine each, as separate processes have
    barrier = threading.Barrier(len(databases))
    results: list = []
    errors: list[BaseException] = []

    def accept(db: Database) -> None:
        raw = RawMessage(
            data=data,
            mail_from="user@client.com",
            rcpt_tos=("support@example.org",),
            source="smtp",
            received_at=datetime.now(UTC),
        )
        barrier.wait()
        try:
            results.append(Inbox(db).accept(raw))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=accept, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for db in databases:
        db.dispose()
    assert errors == []
    assert len({r.inbox_id for r in results}) == 1
    assert sorted(r.duplicate for r in results) == [False] + [True] * (len(databases) - 1)
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM inbox") == [(1,)]


def _request(app: App, subject: str) -> int:
    app.inbox.accept(
        RawMessage(
            data=make_message(subject=subject),
            mail_from="user@client.com",
            rcpt_tos=("support@example.org",),
            source="smtp",
            received_at=datetime.now(UTC),
        )
    )
    (outcome,) = app.processor.process_pending()
    return outcome.ticket


def _delete_ticket(app: App, number: int) -> None:
    with app.db.session() as session:
        for model in (Event, Outbox, ThreadMessage):
            session.execute(delete(model).where(model.ticket == number))
        session.execute(delete(InboxMessage).where(InboxMessage.ticket == number))
        session.execute(delete(Ticket).where(Ticket.number == number))


def test_ticket_numbers_are_never_reused_after_a_delete(tmp_path, db_url):
    desk = Desk(tmp_path / "desk", db_url=db_url)
    app = App.from_config(desk.config)
    try:
        first = [_request(app, f"Request {i}") for i in range(3)]
        assert first == sorted(first) and len(set(first)) == 3
        _delete_ticket(app, first[-1])
        assert _request(app, "After deleting the newest") > first[-1]
    finally:
        app.close()
    # Also after a restart, with every ticket gone.
    app = App.from_config(desk.config)
    try:
        with app.db.session() as session:
            remaining = list(session.scalars(select(Ticket.number)))
        for number in remaining:
            _delete_ticket(app, number)
        assert _request(app, "After deleting them all") > max(remaining)
    finally:
        app.close()


@pytest.mark.postgres
def test_two_daemons_on_one_postgres_database_share_the_work_without_doubles(tmp_path, sink):
    with postgres_url() as url:
        desks = [Desk(tmp_path / f"desk{i}", sink=sink, db_url=url) for i in range(2)]
        desks[0].cli("db", "upgrade")
        secret = desks[0].dir / "var" / "secret"
        desks[0].secret()
        (desks[1].dir / "var").mkdir(parents=True, exist_ok=True)
        shutil.copy(secret, desks[1].dir / "var" / "secret")  # one desk, two MX hosts: one secret
        for desk in desks:
            desk.start()
        try:
            for index in range(16):
                data = make_message(subject=f"Request {index}", sender=f"two{index}@client.com")
                targets = desks if index % 4 == 0 else [desks[index % 2]]  # some reach both MX hosts
                for desk in targets:
                    assert desk.send(data, mail_from=f"two{index}@client.com") == {}
            wait_inbox_drained(url, 16, timeout=60)
            wait_until(
                lambda: len([m for m in sink.parsed() if "Request received" in str(m["Subject"])]) >= 16,
                what="16 acks",
            )
            # A double send, were there one, has arrived once every mail is marked sent.
            wait_until(
                lambda: not db_rows(url, "SELECT id FROM outbox WHERE status = 'queued'"), what="all sent"
            )
        finally:
            codes = [desk.stop() for desk in desks]
        assert codes == [0, 0]
        numbers = [n for (n,) in db_rows(url, "SELECT number FROM tickets")]
        assert len(numbers) == len(set(numbers)) == 16
        acks = [str(m["To"]) for m in sink.parsed() if "Request received" in str(m["Subject"])]
        assert sorted(acks) == sorted(f"two{index}@client.com" for index in range(16))
