"""The daemon end to end: requests and replies over real SMTP/LMTP, mail out to a real sink, signals."""

from __future__ import annotations

import signal
import smtplib
import time
import uuid

import pytest

from tests.support import Desk, SmtpSink, db_rows, make_message, postgres_url, wait_inbox_drained, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running(tmp_path_factory, shared_sink):
    """One daemon for the module; each test writes from its own requester so tests stay independent."""
    desk = Desk(tmp_path_factory.mktemp("e2e") / "desk", sink=shared_sink)
    desk.start()
    yield desk
    code = desk.stop()
    assert code == 0, desk.log()


def requester() -> str:
    return f"user-{uuid.uuid4().hex[:8]}@client.com"


def acks_to(sink: SmtpSink, address: str) -> list:
    return [m for m in sink.to(address) if "Request received" in str(m["Subject"])]


def open_ticket(
    desk: Desk, sink: SmtpSink, sender: str, subject: str = "VPN down"
) -> tuple[int, object, str]:
    """Send a request from ``sender``; returns (ticket number, the ack, the request's Message-ID)."""
    request_id = f"<{uuid.uuid4().hex}@client.com>"
    desk.send(make_message(subject=subject, sender=sender, message_id=request_id), mail_from=sender)
    (ack,) = sink.wait_for(
        lambda m: sender in str(m["To"]).lower() and "Request received" in str(m["Subject"]),
        what=f"ack to {sender}",
    )
    return int(ack["X-Maildesk-Ticket"]), ack, request_id


def lmtp_deliver(port: int, message: bytes, recipients: list[str]) -> list[tuple[int, bytes]]:
    """One LMTP transaction; the replies after DATA, one per recipient.

    smtplib.LMTP reads only the first of them (a stdlib limitation), so DATA is driven by hand.
    """
    with smtplib.LMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo_or_helo_if_needed()
        assert client.mail("user@client.com")[0] == 250
        for recipient in recipients:
            assert client.rcpt(recipient)[0] == 250
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(message.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
        return [client.getreply() for _recipient in recipients]


def message_events(desk: Desk, number: int, count: int) -> list[dict]:
    """The ticket's ``message`` events once there are ``count`` of them."""

    def enough():
        events = [e for e in desk.ticket(number)["events"] if e["type"] == "message"]
        return events if len(events) >= count else None

    return wait_until(enough, timeout=20, interval=0.3, what=f"{count} messages on ticket {number}")


def test_request_opens_ticket_and_sends_threaded_ack(running, shared_sink):
    sender = requester()
    number, ack, request_id = open_ticket(running, shared_sink, sender)

    ticket = running.ticket(number)
    assert ticket["status"] == "new"
    assert ticket["requester"] == sender
    assert ticket["events"][0]["message_id"] == request_id
    assert str(ack["Subject"]).startswith(f"[Support #{number}]")
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Loop"] == "support@example.org"
    assert ack["X-Maildesk-Ticket"] == str(number)
    assert ack["In-Reply-To"] == request_id
    assert request_id in str(ack["References"])
    assert ack["Message-ID"] and ack["Message-ID"] != request_id
    assert str(ack["Reply-To"]) == running.signed(number, sender)
    # The level's members are told too, each with their own signed reply address.
    notified = shared_sink.wait_for(
        lambda m: m["X-Maildesk-Ticket"] == str(number) and "alice@example.org" in str(m["To"]),
        what="notify_level mail",
    )
    assert str(notified[0]["Reply-To"]) == running.signed(number, "alice@example.org")


def test_reply_with_subject_tag_joins_ticket_without_second_ack(running, shared_sink):
    sender = requester()
    number, _ack, _request_id = open_ticket(running, shared_sink, sender)

    running.send(
        make_message(subject=f"Re: [Support #{number}] VPN down", body="It still fails.\n", sender=sender),
        mail_from=sender,
    )

    message_events(running, number, 2)
    assert [t["number"] for t in running.tickets("--requester", sender)] == [number]
    time.sleep(0.5)  # an ack, were one wrongly queued, would be out by now
    assert len(acks_to(shared_sink, sender)) == 1


def test_reply_with_only_in_reply_to_the_ack_joins_ticket(running, shared_sink):
    sender = requester()
    number, ack, _request_id = open_ticket(running, shared_sink, sender)

    running.send(
        make_message(
            subject="Re: your mail", body="More details.\n", sender=sender, in_reply_to=ack["Message-ID"]
        ),
        mail_from=sender,
    )

    events = message_events(running, number, 2)
    assert "More details." in events[1]["text"]
    assert [t["number"] for t in running.tickets("--requester", sender)] == [number]
    assert len(acks_to(shared_sink, sender)) == 1


def test_reply_to_signed_address_with_changed_subject_joins_ticket(running, shared_sink):
    sender = requester()
    number, ack, _request_id = open_ticket(running, shared_sink, sender)
    signed = str(ack["Reply-To"])

    running.send(
        make_message(subject="Something else entirely", body="Another detail.\n", sender=sender, to=signed),
        mail_from=sender,
        to=[signed],
    )

    message_events(running, number, 2)
    assert [t["number"] for t in running.tickets("--requester", sender)] == [number]
    assert len(acks_to(shared_sink, sender)) == 1


def test_recipient_outside_domains_is_refused_at_rcpt_with_550(running):
    with smtplib.SMTP("127.0.0.1", running.port, timeout=30) as client:
        client.ehlo()
        client.mail("user@client.com")
        code, _text = client.rcpt("someone@elsewhere.net")
        assert code == 550
        # The session stays usable for a recipient of ours.
        assert client.rcpt("support@example.org")[0] == 250
        client.rset()


def test_message_over_max_message_size_is_refused_with_552(running):
    big = make_message(body=("y" * 76 + "\n") * 15_000, sender="big@client.com")  # ~1.2 MB against 1MB
    # A client that declares SIZE is refused at MAIL FROM ...
    with pytest.raises(smtplib.SMTPSenderRefused) as raised:
        running.send(big, mail_from="big@client.com")
    assert raised.value.smtp_code == 552
    # ... one that does not, once the data is in.
    with smtplib.SMTP("127.0.0.1", running.port, timeout=30) as client:
        client.ehlo()
        assert client.mail("big@client.com")[0] == 250
        assert client.rcpt("support@example.org")[0] == 250
        assert client.data(big)[0] == 552
    assert db_rows(running.db_url, "SELECT COUNT(*) FROM inbox WHERE mail_from = 'big@client.com'") == [(0,)]


def test_sighup_with_good_config_keeps_serving(running, shared_sink):
    running.config.write_text(
        running.config.read_text().replace('name = "Example Support"', 'name = "Reloaded Support"')
    )
    running.process.send_signal(signal.SIGHUP)
    wait_until(lambda: "config_reloaded" in running.log(), timeout=15, what="config_reloaded in the log")
    assert running.process.poll() is None

    sender = requester()
    _number, ack, _request_id = open_ticket(running, shared_sink, sender)
    assert "Reloaded Support" in str(ack["From"])


def test_sighup_with_bad_config_keeps_the_old_one(running, shared_sink):
    good = running.config.read_text()
    running.config.write_text(good + "\n[nonsense]\nkey = 1\n")
    try:
        running.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload_refused" in running.log(), timeout=15, what="reload_refused in the log")
        assert running.process.poll() is None
        sender = requester()
        open_ticket(running, shared_sink, sender)
    finally:
        running.config.write_text(good)


def test_lmtp_answers_each_recipient_and_sigterm_exits_zero(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink, protocol="lmtp")
    desk.start()
    try:
        message = make_message(subject="Printer jammed", to="support@example.org, support-l2@example.org")
        replies = lmtp_deliver(desk.port, message, ["support@example.org", "support-l2@example.org"])
        assert [code for code, _text in replies] == [250, 250]
        desk.wait_for_tickets(1)
        wait_inbox_drained(desk.db_url, 1)
        assert len(desk.tickets()) == 1
    finally:
        assert desk.stop(signal.SIGTERM) == 0, desk.log()


def test_lmtp_reports_a_storage_failure_for_every_recipient(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink, protocol="lmtp")
    desk.start()
    try:
        db_rows(
            desk.db_url,
            "CREATE TRIGGER refuse_inbox BEFORE INSERT ON inbox "
            "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
        )
        replies = lmtp_deliver(desk.port, make_message(), ["support@example.org", "support-l2@example.org"])
        assert [code for code, _text in replies] == [451, 451]
    finally:
        assert desk.stop() == 0, desk.log()


@pytest.mark.postgres
def test_request_opens_ticket_on_postgres(tmp_path, sink):
    with postgres_url() as url:
        desk = Desk(tmp_path / "desk", sink=sink, db_url=url)
        desk.start()
        try:
            sender = requester()
            number, ack, request_id = open_ticket(desk, sink, sender)
            assert ack["In-Reply-To"] == request_id
            assert str(ack["Reply-To"]) == desk.signed(number, sender)
            ticket = desk.ticket(number)
            assert (ticket["status"], ticket["requester"]) == ("new", sender)
            desk.send(
                make_message(subject=f"Re: [Support #{number}] VPN down", sender=sender), mail_from=sender
            )
            message_events(desk, number, 2)
            assert len(desk.tickets()) == 1
        finally:
            assert desk.stop() == 0, desk.log()


def test_burst_from_one_address_is_capped_and_threaded(running, shared_sink):
    """Sent back to back, so the daemon takes them together: the cap and threading still hold."""
    sender = requester()
    first_id = f"<{uuid.uuid4().hex}@client.com>"
    messages = [
        make_message(subject="Printer on fire", sender=sender, message_id=first_id),
        make_message(subject="Re: Printer on fire", sender=sender, in_reply_to=first_id),
    ]
    messages += [make_message(subject=f"Other problem {i}", sender=sender) for i in range(7)]
    with smtplib.SMTP("127.0.0.1", running.port, timeout=30) as client:
        for message in messages:
            assert client.sendmail(sender, ["support@example.org"], message) == {}
    ((count,),) = db_rows(running.db_url, "SELECT COUNT(*) FROM inbox")
    wait_inbox_drained(running.db_url, count)
    assert len(running.tickets("--requester", sender)) == 8
    statuses = [
        status
        for (status,) in db_rows(
            running.db_url, "SELECT status FROM outbox WHERE to_addr = :to AND template = 'ack'", to=sender
        )
    ]
    assert len(statuses) == 8  # one ack planned per new ticket; the reply joined the first
    assert statuses.count("suppressed") == 3
    assert len(acks_to(shared_sink, sender)) <= 5


def test_sigterm_lets_a_transaction_in_data_finish_then_exits_zero(desk, sink):
    desk.start()
    try:
        message = make_message(subject="Sent while stopping", sender="late@client.com")
        idle = smtplib.SMTP("127.0.0.1", desk.port, timeout=30)
        idle.ehlo()
        busy = smtplib.SMTP("127.0.0.1", desk.port, timeout=30)
        busy.ehlo()
        assert busy.mail("late@client.com")[0] == 250
        assert busy.rcpt("support@example.org")[0] == 250
        busy.putcmd("data")
        assert busy.getreply()[0] == 354
        busy.send(message[:100])
        desk.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert desk.process.poll() is None, "the daemon left before the transaction ended"
        busy.send(message[100:] + b"\r\n.\r\n")
        assert busy.getreply()[0] == 250
        busy.close()
        assert desk.process.wait(timeout=30) == 0, desk.log()
        with pytest.raises((smtplib.SMTPException, OSError)):
            idle.noop()  # the idle session was closed, not left hanging
        idle.close()
    finally:
        desk.kill()
    # Stored before the 250; processed now or, if the stop came first, at the next start.
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM inbox") == [(1,)]
