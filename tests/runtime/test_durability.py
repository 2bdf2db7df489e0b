"""Nothing accepted is lost, nothing is applied twice: redelivery, storage failures, kill -9, quarantine."""

from __future__ import annotations

import contextlib
import smtplib
import threading
import time
import uuid
from dataclasses import fields
from datetime import UTC, datetime

import pytest

from maildesk.pipeline import Pipeline
from maildesk.runtime.app import App
from maildesk.storage.db import Database
from maildesk.storage.inbox import Inbox
from maildesk.types import RawMessage
from tests.support import Desk, cli_json, db_rows, make_message, run_cli, wait_inbox_drained, wait_until

REFUSE_INBOX = (
    "CREATE TRIGGER refuse_inbox BEFORE INSERT ON inbox BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
)


@pytest.fixture(scope="module")
def running(tmp_path_factory, shared_sink):
    desk = Desk(tmp_path_factory.mktemp("durability") / "desk", sink=shared_sink)
    desk.start()
    yield desk
    assert desk.stop() == 0, desk.log()


def outbox_for(desk: Desk, requester: str) -> list[tuple[str, str]]:
    return db_rows(
        desk.db_url, "SELECT template, status FROM outbox WHERE to_addr = :to ORDER BY id", to=requester
    )


def tickets_of(desk: Desk, requester: str) -> list[int]:
    return [
        n for (n,) in db_rows(desk.db_url, "SELECT number FROM tickets WHERE requester = :r", r=requester)
    ]


def settle(desk: Desk) -> None:
    """Wait until every stored message is processed (the daemon drains them in the background)."""
    ((count,),) = db_rows(desk.db_url, "SELECT COUNT(*) FROM inbox")
    wait_inbox_drained(desk.db_url, count)


def test_smtp_retry_of_the_same_message_makes_one_ticket_and_one_ack(running):
    sender = f"retry-{uuid.uuid4().hex[:6]}@client.com"
    message = make_message(subject="Printer offline", sender=sender)
    assert running.send(message, mail_from=sender) == {}
    assert running.send(message, mail_from=sender) == {}  # the client did not see the first 250 and retried
    settle(running)
    assert len(tickets_of(running, sender)) == 1
    assert [t for t, _s in outbox_for(running, sender)] == ["ack"]


def test_one_mail_to_two_desk_addresses_in_one_envelope_makes_one_ticket(running):
    sender = f"both-{uuid.uuid4().hex[:6]}@client.com"
    message = make_message(
        subject="Cannot print", sender=sender, to="support@example.org, support-l2@example.org"
    )
    assert running.send(message, mail_from=sender, to=["support@example.org", "support-l2@example.org"]) == {}
    settle(running)
    assert len(tickets_of(running, sender)) == 1
    assert [t for t, _s in outbox_for(running, sender)] == ["ack"]


def test_one_mail_to_two_desk_addresses_in_two_transactions_makes_one_ticket(running):
    sender = f"twice-{uuid.uuid4().hex[:6]}@client.com"
    message = make_message(
        subject="Screen flickers", sender=sender, to="support@example.org, support-l2@example.org"
    )
    assert running.send(message, mail_from=sender, to=["support@example.org"]) == {}
    assert running.send(message, mail_from=sender, to=["support-l2@example.org"]) == {}
    settle(running)
    time.sleep(0.3)
    settle(running)
    assert len(tickets_of(running, sender)) == 1
    assert [t for t, _s in outbox_for(running, sender)] == ["ack"]


def test_storage_failure_answers_451_and_nothing_is_half_stored(running):
    sender = f"451-{uuid.uuid4().hex[:6]}@client.com"
    message = make_message(subject="Storage test", sender=sender)
    db_rows(running.db_url, REFUSE_INBOX)
    try:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            running.send(message, mail_from=sender)
        assert refused.value.smtp_code == 451
    finally:
        db_rows(running.db_url, "DROP TRIGGER refuse_inbox")
    # The MTA retries later: now it is stored and becomes a ticket.
    assert running.send(message, mail_from=sender) == {}
    wait_until(lambda: tickets_of(running, sender), what="the retried message's ticket")


def test_pipe_ingest_beside_the_running_daemon_is_stored_once_and_processed(running):
    sender = f"pipe-{uuid.uuid4().hex[:6]}@client.com"
    message = make_message(subject="Piped by the MTA", sender=sender)
    for _attempt in range(2):  # the MTA retried
        result = running.cli(
            "ingest", "--mail-from", sender, "--rcpt", "support@example.org", stdin=message, check=False
        )
        assert result.returncode == 0, result.stderr.decode()
    wait_until(lambda: tickets_of(running, sender), what="the piped message's ticket")
    settle(running)
    assert len(tickets_of(running, sender)) == 1
    assert [t for t, _s in outbox_for(running, sender)] == ["ack"]

    db_rows(running.db_url, REFUSE_INBOX)
    try:
        refused = running.cli("ingest", stdin=make_message(sender=sender), check=False)
    finally:
        db_rows(running.db_url, "DROP TRIGGER refuse_inbox")
    assert refused.returncode == 75, refused.stderr.decode()


def test_concurrent_pipe_clients_never_take_each_other_for_a_daemon(tmp_path):
    from maildesk.ingest.handoff import daemon_running, lock_path

    database = tmp_path / "maildesk.db"
    database.touch()
    lock_path(database).touch()  # a daemon ran here once, and is gone
    mistaken: list[bool] = []

    def probe() -> None:
        mistaken.extend(found for found in (daemon_running(database) for _ in range(300)) if found)

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert mistaken == []


def test_ingest_of_the_same_file_twice_makes_one_ticket(tmp_path):
    desk = Desk(tmp_path / "desk")
    path = tmp_path / "request.eml"
    path.write_bytes(make_message(subject="Keyboard broken"))
    desk.cli("ingest", str(path))
    desk.cli("ingest", str(path))
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM tickets") == [(1,)]
    assert db_rows(desk.db_url, "SELECT template FROM outbox WHERE to_addr = 'user@client.com'") == [("ack",)]


def test_ingest_exits_75_when_the_message_cannot_be_stored(tmp_path):
    desk = Desk(tmp_path / "desk")
    desk.cli("db", "upgrade")
    db_rows(desk.db_url, REFUSE_INBOX)
    result = desk.cli("ingest", stdin=make_message(), check=False)
    assert result.returncode == 75, result.stderr

    # A database that cannot even be opened is a temporary failure too: the MTA keeps the message.
    (tmp_path / "desk" / "var" / "gone.db").mkdir(parents=True)
    desk.config.write_text(
        desk.config.read_text().replace(desk.db_url, f"sqlite:///{tmp_path}/desk/var/gone.db")
    )
    result = desk.cli("ingest", stdin=make_message(), check=False)
    assert result.returncode == 75, result.stderr
    assert len(result.stderr.decode().strip().splitlines()) == 1


def _burst(
    desk: Desk, worker: int, count: int, accepted: list[str], lock: threading.Lock, stop: threading.Event
) -> None:
    """Send ``count`` distinct requests on one connection; remember those answered 250."""
    client: smtplib.SMTP | None = None
    for index in range(count):
        if stop.is_set():
            break
        message_id = f"<burst-{worker}-{index}-{uuid.uuid4().hex[:6]}@client.com>"
        message = make_message(
            subject=f"Burst {worker}/{index}", sender=f"burst{worker}@client.com", message_id=message_id
        )
        try:
            if client is None:
                client = smtplib.SMTP("127.0.0.1", desk.port, timeout=10)
            refused = client.sendmail(f"burst{worker}@client.com", ["support@example.org"], message)
        except (OSError, smtplib.SMTPException):
            break  # the daemon is gone: what was not answered 250 may or may not be stored
        if refused == {}:
            with lock:
                accepted.append(message_id)
    if client is not None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()


def test_kill_9_during_a_burst_loses_nothing_and_duplicates_nothing(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink)
    desk.start()
    accepted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    workers = [threading.Thread(target=_burst, args=(desk, w, 50, accepted, lock, stop)) for w in range(4)]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: len(accepted) >= 60, timeout=60, interval=0.01, what="60 accepted messages")
    finally:
        desk.kill()  # SIGKILL: no chance to finish anything
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    with lock:
        answered = list(accepted)
    assert len(answered) < 200, "the burst was over before the kill"

    # Something stored but never processed before the crash, for start-up to find.
    straggler = "<straggler@client.com>"
    inbox = Inbox(Database(desk.db_url))
    inbox.accept(
        RawMessage(
            data=make_message(subject="Straggler", sender="late@client.com", message_id=straggler),
            mail_from="late@client.com",
            rcpt_tos=("support@example.org",),
            source="smtp",
            received_at=datetime.now(UTC),
        )
    )
    inbox.db.dispose()

    desk.start()
    try:
        stored = {key for (key,) in db_rows(desk.db_url, "SELECT message_key FROM inbox")}
        wait_inbox_drained(desk.db_url, len(stored), timeout=90)
        assert set(answered) <= stored, "a message answered 250 was lost"
        assert straggler in stored
        states = dict(db_rows(desk.db_url, "SELECT state, COUNT(*) FROM inbox GROUP BY state"))
        assert states == {"done": len(stored)}
        per_message = dict(
            db_rows(
                desk.db_url,
                "SELECT message_id, COUNT(*) FROM events WHERE type = 'message' GROUP BY message_id",
            )
        )
        assert set(per_message) == stored
        assert set(per_message.values()) == {1}
        ((tickets,),) = db_rows(desk.db_url, "SELECT COUNT(*) FROM tickets")
        assert tickets == len(stored)
        acks = db_rows(
            desk.db_url, "SELECT ticket, COUNT(*) FROM outbox WHERE template = 'ack' GROUP BY ticket"
        )
        assert len(acks) == tickets and {count for _t, count in acks} == {1}
    finally:
        assert desk.stop() == 0, desk.log()


class ExplodingPipeline(Pipeline):
    """A pipeline whose processing fails, as a bug in any stage would."""

    def process(self, session, row, now, outbox, parsed=None):
        raise RuntimeError("stage exploded")


def test_message_that_makes_the_pipeline_raise_is_quarantined_and_retry_replays_it(tmp_path):
    desk = Desk(tmp_path / "desk")
    app = App.from_config(desk.config)
    try:
        working = app.pipeline
        app.pipeline = ExplodingPipeline(**{f.name: getattr(working, f.name) for f in fields(Pipeline)})
        accepted = app.inbox.accept(
            RawMessage(
                data=make_message(subject="Explodes", message_id="<boom@client.com>"),
                mail_from="user@client.com",
                rcpt_tos=("support@example.org",),
                source="smtp",
                received_at=datetime.now(UTC),
            )
        )
        (outcome,) = app.processor.process_pending()
        assert (outcome.inbox_id, outcome.state) == (accepted.inbox_id, "quarantined")
        assert "stage exploded" in outcome.reason
        app.pipeline = working
    finally:
        app.close()

    (held,) = cli_json(desk.config, "quarantine", "list")
    assert held["message_id"] == "<boom@client.com>"
    assert held["status"] == "held"
    assert "RuntimeError: stage exploded" in held["reason"]
    assert cli_json(desk.config, "tickets", "list", "--status", "all") == []

    replay = desk.cli("quarantine", "retry", str(held["id"]))
    assert "ticket #1" in replay.stdout.decode()
    (ticket,) = cli_json(desk.config, "tickets", "list", "--status", "all")
    assert ticket["subject"] == "Explodes"
    assert cli_json(desk.config, "quarantine", "list")[0]["status"] == "retried"
    assert db_rows(desk.db_url, "SELECT state FROM inbox") == [("done",)]

    # Replaying it again must not apply it twice.
    code, out, err = run_cli(desk.config, "quarantine", "retry", str(held["id"]))
    assert code == 0, err
    assert "already retried" in out
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM tickets") == [(1,)]
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM outbox WHERE template = 'ack'") == [(1,)]


def test_a_processed_message_put_back_in_the_inbox_is_not_applied_twice(tmp_path):
    desk = Desk(tmp_path / "desk")
    app = App.from_config(desk.config)
    try:
        for data in (
            make_message(subject="First", message_id="<once@client.com>"),
            make_message(
                subject="Re: First", message_id="<twice@client.com>", in_reply_to="<once@client.com>"
            ),
        ):
            app.inbox.accept(
                RawMessage(
                    data=data,
                    mail_from="user@client.com",
                    rcpt_tos=("support@example.org",),
                    source="smtp",
                    received_at=datetime.now(UTC),
                )
            )
        assert [o.ticket for o in app.processor.process_pending()] == [1, 1]
        db_rows(desk.db_url, "UPDATE inbox SET state = 'pending'")  # as a botched manual replay would
        assert [(o.state, o.ticket) for o in app.processor.process_pending()] == [("done", 1)] * 2
    finally:
        app.close()
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM tickets") == [(1,)]
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM events WHERE type = 'message'") == [(2,)]
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM outbox WHERE template = 'ack'") == [(1,)]


def test_a_copy_with_other_line_endings_is_the_same_message(tmp_path):
    desk = Desk(tmp_path / "desk")
    db = Database(desk.db_url)
    db.ensure_schema()
    inbox = Inbox(db)
    crlf = make_message(subject="Line ends", message_id="<line-ends@client.com>")
    try:
        first, *copies = (
            inbox.accept(
                RawMessage(
                    data=data,
                    mail_from=None,
                    rcpt_tos=(),
                    source="imap:inbox",
                    received_at=datetime.now(UTC),
                )
            )
            for data in (crlf, crlf.replace(b"\r\n", b"\n"), crlf.replace(b"\r\n", b"\r"))
        )
    finally:
        db.dispose()
    assert not first.duplicate
    assert [(c.inbox_id, c.duplicate) for c in copies] == [(first.inbox_id, True)] * 2
