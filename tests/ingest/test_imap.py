"""IMAP intake against a real Dovecot: store first, then move/delete/flag; restarts, faults, IDLE, batches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select
from structlog.testing import capture_logs

from maildesk.ingest.imap import ImapPoller
from maildesk.storage.db import Database
from maildesk.storage.inbox import Accepted, Inbox
from maildesk.storage.models import ImapCheckpoint, InboxMessage
from maildesk.types import RawMessage

from .dovecot import DOVECOT, Dovecot, dovecot_available, free_port
from .mailbox import Mailbox, make_message

pytestmark = pytest.mark.imap

FAST: dict[str, Any] = {"backoff_base": 0.05, "backoff_cap": 0.3, "idle_slice": 0.5}


def inbox_keys(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(InboxMessage.message_key).order_by(InboxMessage.id)))


def inbox_sources(db: Database) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(InboxMessage.source)))


def checkpoint(db: Database, account: str) -> tuple[int, int] | None:
    with db.session() as session:
        row = session.scalar(select(ImapCheckpoint).where(ImapCheckpoint.account == account))
        return (row.uidvalidity, row.last_uid) if row else None


def ids(*numbers: int) -> list[str]:
    return [f"<{n}.test@example.org>" for n in numbers]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> float:
    """Seconds until ``condition()`` held; fails the test after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - started


@contextmanager
def running(*pollers: ImapPoller) -> Iterator[threading.Event]:
    """Run each poller's ``run`` in a thread; stop and join them all at the end."""
    stop = threading.Event()
    threads = [threading.Thread(target=p.run, args=(stop,), name=f"imap-{p.account.name}") for p in pollers]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        assert not any(t.is_alive() for t in threads), "a poller did not stop within 15 s"


def events(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


# -- done actions ---------------------------------------------------------------


def test_move_stores_each_message_once_then_moves_it_to_a_created_folder(
    mailbox: Mailbox, db: Database
) -> None:
    mailbox.append(make_message(n) for n in (1, 2, 3))
    woken = []
    poller = ImapPoller(
        mailbox.account(done="move:Handled"), Inbox(db), db, on_stored=lambda: woken.append(1)
    )
    try:
        assert poller.poll_once() == 3
        assert poller.poll_once() == 0
    finally:
        poller.close()
    assert inbox_keys(db) == ids(1, 2, 3)
    assert inbox_sources(db) == {f"imap:{mailbox.user}"}
    assert woken == [1]
    assert mailbox.message_ids("INBOX") == []
    assert mailbox.message_ids("Handled") == ids(1, 2, 3)


def test_move_without_the_move_capability_copies_then_expunges(
    mailbox: Mailbox, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient, "has_capability", lambda self, cap: cap.upper() != "MOVE" and real(self, cap)
    )
    mailbox.append(make_message(n) for n in (1, 2))
    poller = ImapPoller(mailbox.account(), Inbox(db), db)
    try:
        assert poller.poll_once() == 2
    finally:
        poller.close()
    assert inbox_keys(db) == ids(1, 2)
    assert mailbox.message_ids("INBOX") == []
    assert mailbox.message_ids("Processed") == ids(1, 2)


def test_delete_expunges_what_was_stored(mailbox: Mailbox, db: Database) -> None:
    mailbox.append(make_message(n) for n in (1, 2))
    poller = ImapPoller(mailbox.account(done="delete"), Inbox(db), db)
    try:
        assert poller.poll_once() == 2
    finally:
        poller.close()
    assert inbox_keys(db) == ids(1, 2)
    assert mailbox.message_ids("INBOX") == []


def test_flag_marks_flagged_and_seen_and_never_takes_flagged_messages(mailbox: Mailbox, db: Database) -> None:
    mailbox.append([make_message(1), make_message(2)])
    with mailbox.client() as client:  # a message someone flagged by hand is left alone
        client.append("INBOX", make_message(9), flags=[b"\\Flagged"])
    poller = ImapPoller(mailbox.account(done="flag"), Inbox(db), db)
    try:
        assert poller.poll_once() == 2
        fetched = poller.stats.bodies_fetched
        assert poller.poll_once() == 0
        assert poller.stats.bodies_fetched == fetched
        mailbox.append([make_message(3)])
        assert poller.poll_once() == 1
    finally:
        poller.close()
    assert inbox_keys(db) == ids(1, 2, 3)
    contents = dict(mailbox.contents("INBOX"))
    assert set(contents) == set(ids(1, 2, 3, 9))
    for key in ids(1, 2, 3):
        assert {b"\\Flagged", b"\\Seen"} <= contents[key]


# -- restarts and crashes -----------------------------------------------------------


def test_restart_neither_duplicates_nor_refetches(mailbox: Mailbox, db: Database) -> None:
    account = mailbox.account(done="flag")
    mailbox.append(make_message(n) for n in (1, 2, 3))
    first = ImapPoller(account, Inbox(db), db)
    try:
        assert first.poll_once() == 3
    finally:
        first.close()
    assert checkpoint(db, account.name) == (mailbox.uidvalidity(), 3)

    mailbox.append([make_message(4)])
    second = ImapPoller(account, Inbox(db), db)  # as after a daemon restart: same database
    try:
        assert second.poll_once() == 1
        assert second.stats.bodies_fetched == 1
        assert second.poll_once() == 0
    finally:
        second.close()
    assert inbox_keys(db) == ids(1, 2, 3, 4)
    assert checkpoint(db, account.name) == (mailbox.uidvalidity(), 4)


def test_crash_between_commit_and_move_makes_no_duplicate(mailbox: Mailbox, db: Database) -> None:
    mailbox.append(make_message(n) for n in (1, 2))
    # The daemon stored message 1 and died before moving it.
    Inbox(db).accept(
        RawMessage(
            data=make_message(1),
            mail_from=None,
            rcpt_tos=(),
            source=f"imap:{mailbox.user}",
            received_at=datetime.now(UTC),
        )
    )
    poller = ImapPoller(mailbox.account(), Inbox(db), db)
    try:
        assert poller.poll_once() == 1
    finally:
        poller.close()
    assert poller.stats.duplicates == 1
    assert inbox_keys(db) == ids(1, 2)
    assert mailbox.message_ids("INBOX") == []
    assert mailbox.message_ids("Processed") == ids(1, 2)


def test_failure_during_the_move_is_finished_by_the_next_poller(
    mailbox: Mailbox, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox.append(make_message(n) for n in (1, 2))
    account = mailbox.account()

    def crash(self: ImapPoller, client: IMAPClient, uids: list[int]) -> None:
        raise ConnectionResetError("killed before the move")

    with monkeypatch.context() as patch:
        patch.setattr(ImapPoller, "_finish", crash)
        doomed = ImapPoller(account, Inbox(db), db)
        with pytest.raises(ConnectionResetError):
            doomed.poll_once()
        doomed.close()
    assert inbox_keys(db) == ids(1, 2)
    assert mailbox.message_ids("INBOX") == ids(1, 2)

    poller = ImapPoller(account, Inbox(db), db)
    try:
        assert poller.poll_once() == 0
    finally:
        poller.close()
    assert inbox_keys(db) == ids(1, 2)
    assert mailbox.message_ids("INBOX") == []
    assert mailbox.message_ids("Processed") == ids(1, 2)


def test_stored_message_left_below_the_checkpoint_is_finished_without_refetching(
    mailbox: Mailbox, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox.append(make_message(n) for n in (1, 2))
    account = mailbox.account()
    with monkeypatch.context() as patch:  # a server that answered OK to MOVE and moved nothing
        patch.setattr(ImapPoller, "_finish", lambda self, client, uids: None)
        first = ImapPoller(account, Inbox(db), db)
        try:
            assert first.poll_once() == 2
        finally:
            first.close()
    assert mailbox.message_ids("INBOX") == ids(1, 2)

    second = ImapPoller(account, Inbox(db), db)
    try:
        assert second.poll_once() == 0
    finally:
        second.close()
    assert second.stats.bodies_fetched == 0  # only the Message-ID header was read
    assert inbox_keys(db) == ids(1, 2)
    assert mailbox.message_ids("INBOX") == []
    assert mailbox.message_ids("Processed") == ids(1, 2)


class FlakyInbox(Inbox):
    """An inbox that cannot store one given message (and so no batch that holds it)."""

    def __init__(self, db: Database, refuse: bytes) -> None:
        super().__init__(db)
        self.refuse = refuse

    def accept(self, raw: RawMessage) -> Accepted:
        if self.refuse in raw.data:
            raise ValueError("disk full while storing this one")
        return super().accept(raw)

    def accept_many(self, raws: list[RawMessage]) -> list[Accepted]:
        if any(self.refuse in raw.data for raw in raws):
            raise ValueError("disk full while storing this batch")
        return super().accept_many(raws)


def test_message_that_cannot_be_stored_stays_and_does_not_block_the_others(
    mailbox: Mailbox, db: Database
) -> None:
    mailbox.append(make_message(n) for n in (1, 2, 3))
    account = mailbox.account(batch_size=2)
    with capture_logs() as logs:
        poller = ImapPoller(account, FlakyInbox(db, b"request 2."), db)
        try:
            assert poller.poll_once() == 2
            assert poller.poll_once() == 0  # tried again, still failing, still not blocking
        finally:
            poller.close()
    assert inbox_keys(db) == ids(1, 3)
    assert mailbox.message_ids("INBOX") == ids(2)
    assert mailbox.message_ids("Processed") == ids(1, 3)
    failures = events(logs, "imap_message_failed")
    assert len(failures) == 2 and "disk full" in failures[0]["reason"]

    healed = ImapPoller(account, Inbox(db), db)
    try:
        assert healed.poll_once() == 1
    finally:
        healed.close()
    assert inbox_keys(db) == ids(1, 3, 2)
    assert mailbox.message_ids("INBOX") == []


def test_uidvalidity_change_rescans_the_folder_without_duplicates(mailbox: Mailbox, db: Database) -> None:
    account = mailbox.account(folder="Support", done="flag")
    mailbox.append([make_message(1), make_message(2)], folder="Support")
    old_validity = mailbox.uidvalidity("Support")
    poller = ImapPoller(account, Inbox(db), db)
    try:
        assert poller.poll_once() == 2
        with mailbox.client() as client:  # the folder is rebuilt under the poller: UIDs start again at 1
            client.delete_folder("Support")
            client.create_folder("Support")
        mailbox.append([make_message(1), make_message(3)], folder="Support")
        new_validity = mailbox.uidvalidity("Support")
        assert new_validity != old_validity
        with capture_logs() as logs:
            assert poller.poll_once() == 1
    finally:
        poller.close()
    assert inbox_keys(db) == ids(1, 2, 3)
    assert checkpoint(db, account.name) == (new_validity, 2)
    assert events(logs, "imap_uidvalidity_changed")[0]["new"] == new_validity


# -- the loop: IDLE, polling, faults -------------------------------------------------


def test_idle_delivers_a_new_message_within_seconds(mailbox: Mailbox, db: Database) -> None:
    account = mailbox.account(idle=True, poll_every=timedelta(hours=1), resync_every=timedelta(hours=1))
    woken = threading.Event()
    poller = ImapPoller(account, Inbox(db), db, on_stored=woken.set, **FAST)
    with running(poller):
        wait_for(lambda: poller.state == "idling", what="the poller to IDLE")
        mailbox.append([make_message(1)])
        latency = wait_for(lambda: len(inbox_keys(db)) == 1, timeout=5, what="the IDLE push")
    assert latency < 5
    assert woken.is_set()
    assert mailbox.message_ids("Processed") == ids(1)


def test_mail_arriving_during_a_pass_is_taken_without_waiting_for_the_resync(
    mailbox: Mailbox, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server announces it in the reply to a command of the pass (here MOVE); IDLE,
    # entered afterwards, would not announce it again.
    real_finish = ImapPoller._finish
    arrived: list[int] = []

    def finish_while_mail_arrives(self: ImapPoller, client: IMAPClient, uids: list[int]) -> None:
        if not arrived:
            arrived.append(1)
            mailbox.append([make_message(2)])
        real_finish(self, client, uids)

    monkeypatch.setattr(ImapPoller, "_finish", finish_while_mail_arrives)
    mailbox.append([make_message(1)])
    account = mailbox.account(poll_every=timedelta(hours=1), resync_every=timedelta(hours=1))
    poller = ImapPoller(account, Inbox(db), db, **FAST)
    with running(poller):
        wait_for(lambda: len(inbox_keys(db)) == 2, timeout=5, what="the message that came in during the pass")
    assert mailbox.message_ids("Processed") == ids(1, 2)


def test_polls_on_poll_every_without_idle(mailbox: Mailbox, db: Database) -> None:
    account = mailbox.account(idle=False, poll_every=timedelta(seconds=0.2))
    poller = ImapPoller(account, Inbox(db), db, **FAST)
    with capture_logs() as logs, running(poller):
        wait_for(lambda: poller.state == "polling", what="the poller to poll")
        mailbox.append([make_message(1)])
        wait_for(lambda: len(inbox_keys(db)) == 1, timeout=5, what="the next poll")
    assert events(logs, "imap_polling_started")
    assert not events(logs, "imap_idle_started")


@pytest.mark.skipif(not dovecot_available(), reason=f"Dovecot is not installed ({DOVECOT} not found)")
def test_server_restart_reconnects_with_backoff_and_picks_up_new_mail(db: Database) -> None:
    with Dovecot() as server:
        server.add_user("support", "secret")
        box = Mailbox(server, "support", "secret")
        box.append([make_message(1)])
        with capture_logs() as logs:
            # A message that lands while IDLE is being set up can go unannounced (Dovecot on
            # maildir): the periodic resync is the safety net, kept short here.
            account = box.account(resync_every=timedelta(seconds=2))
            poller = ImapPoller(account, Inbox(db), db, **FAST)
            with running(poller):
                wait_for(lambda: poller.state == "idling", what="the poller to IDLE")
                server.stop()
                wait_for(
                    lambda: len(events(logs, "imap_backoff")) >= 2, what="backoff while the server is down"
                )
                server.start()
                wait_for(lambda: poller.state == "idling", what="the poller to reconnect and IDLE")
                box.append([make_message(2)])
                wait_for(
                    lambda: len(inbox_keys(db)) == 2, timeout=10, what="the message sent after the restart"
                )
    assert inbox_keys(db) == ids(1, 2)
    assert events(logs, "imap_connection_lost")
    reasons = [entry["reason"] for entry in events(logs, "imap_backoff")]
    assert reasons[0].startswith("connection lost")
    assert any(r == "connection refused" or r.startswith("network error") for r in reasons[1:])
    assert len(events(logs, "imap_connected")) >= 2


def test_bad_credentials_are_logged_and_retried_with_growing_backoff(
    mailbox: Mailbox, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "wrong-password-xyz")
    account = mailbox.account(password_file="", password_env="TEST_IMAP_PASSWORD")
    with capture_logs() as logs:
        poller = ImapPoller(account, Inbox(db), db, **FAST)
        with running(poller):
            wait_for(lambda: len(events(logs, "imap_backoff")) >= 4, what="four retries")
            assert poller.state == "backoff"
    backoffs = events(logs, "imap_backoff")
    assert all(
        "login failed" in entry["reason"] and "AUTHENTICATIONFAILED" in entry["reason"] for entry in backoffs
    )
    delays = [entry["retry_in"] for entry in backoffs[:4]]
    assert delays == sorted(delays) and delays[3] > delays[0] and max(delays) <= FAST["backoff_cap"]
    assert "wrong-password-xyz" not in repr(logs)
    assert all(entry["account"] == mailbox.user for entry in logs)


def test_password_from_the_environment(
    mailbox: Mailbox, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mailbox.password)
    mailbox.append([make_message(1)])
    poller = ImapPoller(mailbox.account(password_file="", password_env="TEST_IMAP_PASSWORD"), Inbox(db), db)
    try:
        assert poller.poll_once() == 1
    finally:
        poller.close()


def test_oauth2_token_from_the_command_logs_in_with_xoauth2(mailbox: Mailbox, db: Database) -> None:
    token = mailbox.server.issue_token(mailbox.user)
    mailbox.append([make_message(1)])
    account = mailbox.account(password_file="", oauth2_token_command=f"echo '  {token}  '")
    with capture_logs() as logs:
        poller = ImapPoller(account, Inbox(db), db)
        try:
            assert poller.poll_once() == 1
        finally:
            poller.close()
    assert inbox_keys(db) == ids(1)
    assert token not in repr(logs)


def test_refused_oauth2_token_is_a_logged_reason_and_never_logged_itself(
    mailbox: Mailbox, db: Database
) -> None:
    account = mailbox.account(password_file="", oauth2_token_command="echo tok-expired-abc123")
    with capture_logs() as logs:
        poller = ImapPoller(account, Inbox(db), db, **FAST)
        with running(poller):
            wait_for(lambda: len(events(logs, "imap_backoff")) >= 1, what="a refused XOAUTH2 login")
    assert events(logs, "imap_backoff")[0]["reason"].startswith("login failed")
    assert "tok-expired-abc123" not in repr(logs)


def test_one_broken_account_does_not_stop_the_others(mailbox: Mailbox, db: Database) -> None:
    broken = ImapPoller(mailbox.account(name="broken", port=free_port()), Inbox(db), db, **FAST)
    working = ImapPoller(mailbox.account(), Inbox(db), db, **FAST)
    with capture_logs() as logs, running(broken, working):
        wait_for(lambda: working.state == "idling", what="the working account to IDLE")
        mailbox.append([make_message(1)])
        wait_for(lambda: len(inbox_keys(db)) == 1, timeout=5, what="the working account's message")
        assert broken.state == "backoff"
    assert {e["account"] for e in events(logs, "imap_backoff")} == {"broken"}
    assert inbox_sources(db) == {f"imap:{mailbox.user}"}


def test_stop_ends_an_idling_poller_promptly(mailbox: Mailbox, db: Database) -> None:
    poller = ImapPoller(mailbox.account(), Inbox(db), db, **FAST)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: poller.state == "idling", what="the poller to IDLE")
    finally:
        stop.set()
        started = time.monotonic()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2
    assert poller.state == "stopped"


# -- large mailboxes --------------------------------------------------------------------


def test_backlog_larger_than_a_batch_drains_fully(
    mailbox: Mailbox, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox.append(make_message(n) for n in range(1, 251))
    fetch_sizes: list[int] = []
    real_fetch = IMAPClient.fetch

    def counting_fetch(self: IMAPClient, messages, data, modifiers=None):  # type: ignore[no-untyped-def]
        fetch_sizes.append(len(messages))
        return real_fetch(self, messages, data, modifiers)

    monkeypatch.setattr(IMAPClient, "fetch", counting_fetch)
    woken = []
    poller = ImapPoller(mailbox.account(batch_size=100), Inbox(db), db, on_stored=lambda: woken.append(1))
    try:
        assert poller.poll_once() == 250
    finally:
        poller.close()
    assert fetch_sizes == [100, 100, 50]
    assert len(woken) == 3
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 250
    assert mailbox.message_ids("INBOX") == []
    assert len(mailbox.message_ids("Processed")) == 250
