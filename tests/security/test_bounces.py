"""A forged delivery report silences nobody: only reports that prove which mail of ours bounced count."""

from __future__ import annotations

import email
import email.policy
import smtplib

import pytest
from sqlalchemy import select

from maildesk.runtime.app import App
from maildesk.security.signing import bounce_address, parse_bounce, parse_signed, verify_bounce
from maildesk.storage.models import BounceSuppression
from tests.loop_helpers import deliver, events, outbox, quarantine, ticket
from tests.support import Desk, SmtpSink, clear_tables, db_rows, make_dsn, make_message, wait_until

DESK = "support@example.org"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    desk = Desk(tmp_path_factory.mktemp("bounces") / "desk")
    application = App.from_config(desk.config)
    yield desk, application
    application.close()


@pytest.fixture
def app(shared) -> App:
    application = shared[1]
    clear_tables(application.db)
    return application


def suppressed(app: App) -> set[str]:
    with app.db.session() as session:
        return set(session.scalars(select(BounceSuppression.address)))


def test_bounce_address_is_signed_and_never_a_reply_address():
    secret = b"s3cret"
    address = bounce_address(secret, DESK, 42)
    local, _at, domain = address.partition("@")
    assert domain == "example.org" and local.startswith("support+bounce-42-")
    assert parse_bounce(address) == (DESK, 42, local.rsplit("-", 1)[1])
    assert verify_bounce(secret, 42, local.rsplit("-", 1)[1])
    assert not verify_bounce(secret, 43, local.rsplit("-", 1)[1])
    assert not verify_bounce(b"other", 42, local.rsplit("-", 1)[1])
    # A bounce address is not a ticket's reply address, and a reply address is not a bounce address.
    assert parse_signed(address) is None
    assert parse_bounce("support+42-abcdefghij@example.org") is None


def test_a_desk_address_with_a_plus_keeps_its_bounce_addresses_readable():
    secret = b"s3cret"
    address = bounce_address(secret, "help+desk@example.org", 7)
    desk, outbox_id, signature = parse_bounce(address)
    assert (desk, outbox_id) == ("help+desk@example.org", 7)
    assert verify_bounce(secret, 7, signature)
    assert parse_signed(address) is None


def _three_tickets(app: App) -> tuple[int, object]:
    """Tickets 1 to 3, so that outbox ids and ticket numbers differ; returns ticket 3 and its ack."""
    for index in range(3):
        sender = f"user{index}@client.com"
        number = deliver(
            app, make_message(subject=f"Request {index}", sender=sender), mail_from=sender
        ).ticket
    (ack,) = outbox(app, to="user2@client.com", template="ack")
    assert ack.id != number
    return number, ack


def test_genuine_bounce_to_the_bounce_address_suppresses_the_recipient_of_that_mail(app):
    number, ack = _three_tickets(app)
    verp = bounce_address(app.pipeline.secret, DESK, ack.id)
    # The report quotes no Message-ID of ours, and names the forwarding target that failed:
    # the bounce address alone says which mail (and so which recipient) bounced.
    report = make_dsn("<unknown@mx.client.com>", "user2@forward.client.net")
    outcome = deliver(app, report, mail_from="", rcpt_tos=(verp,))
    assert (outcome.state, outcome.ticket) == ("done", number)
    (bounce,) = [e for e in events(app, number) if e.type == "bounce"]
    assert bounce.data == {"failed": ["user2@client.com"], "permanent": True, "via": "bounce-address"}
    assert suppressed(app) == {"user2@client.com"}
    later = deliver(
        app, make_message(subject="Again", sender="user2@client.com"), mail_from="user2@client.com"
    )
    assert outbox(app, to="user2@client.com", template="ack")[-1].status == "suppressed"
    assert later.ticket != number


def test_bounce_address_read_from_delivered_to_when_the_intake_knows_no_envelope(app):
    number, ack = _three_tickets(app)
    verp = bounce_address(app.pipeline.secret, DESK, ack.id)
    report = f"Delivered-To: {verp}\r\n".encode() + make_dsn("<unknown@mx.client.com>", "user2@client.com")
    outcome = deliver(app, report, mail_from=None, rcpt_tos=())
    assert (outcome.state, outcome.ticket) == ("done", number)
    assert suppressed(app) == {"user2@client.com"}


def test_bounce_quoting_our_message_id_suppresses(app):
    number, ack = _three_tickets(app)
    outcome = deliver(app, make_dsn(ack.message_id, "user2@client.com"), mail_from="")
    assert (outcome.state, outcome.ticket) == ("done", number)
    (bounce,) = [e for e in events(app, number) if e.type == "bounce"]
    assert bounce.data["via"] == "message-id"
    assert suppressed(app) == {"user2@client.com"}


def test_report_quoting_our_message_id_for_another_address_silences_nobody(app):
    _number, ack = _three_tickets(app)
    outcome = deliver(app, make_dsn(ack.message_id, "alice@example.org"), mail_from="")
    assert outcome.state == "rejected"
    assert suppressed(app) == set()
    (entry,) = quarantine(app)
    assert "not to alice@example.org" in entry.reason and "silences nobody" in entry.reason


def test_bad_signature_is_refused(app):
    number, ack = _three_tickets(app)
    verp = bounce_address(app.pipeline.secret, DESK, ack.id)
    forged = verp.rsplit("-", 1)[0] + "-aaaaaaaaaa@example.org"
    outcome = deliver(
        app, make_dsn("<x@mx.client.com>", "user2@client.com"), mail_from="", rcpt_tos=(forged,)
    )
    assert outcome.state == "rejected"
    assert suppressed(app) == set()
    (entry,) = quarantine(app)
    assert "bad signature" in entry.reason
    assert [e for e in events(app, number) if e.type == "bounce"] == []


def test_signed_bounce_address_of_no_mail_is_refused(app):
    _three_tickets(app)
    verp = bounce_address(app.pipeline.secret, DESK, 999_999)
    outcome = deliver(app, make_dsn("<x@mx.client.com>", "user2@client.com"), mail_from="", rcpt_tos=(verp,))
    assert outcome.state == "rejected"
    assert suppressed(app) == set()
    assert "does not exist" in quarantine(app)[0].reason


def test_an_auto_reply_to_the_bounce_address_joins_its_ticket_without_mail(app):
    # RFC 3834 responders answer the envelope sender; no person writes to it.
    number, ack = _three_tickets(app)
    verp = bounce_address(app.pipeline.secret, DESK, ack.id)
    before = len(outbox(app))
    outcome = deliver(
        app,
        make_message(subject="I am away", sender="user2@client.com", to=verp),
        mail_from="user2@client.com",
        rcpt_tos=(verp,),
    )
    assert outcome.ticket == number
    assert len(outbox(app)) == before
    assert events(app, number)[-1].data["automatic"] == "bounce-address"
    assert ticket(app, number).status == "new"


# -- through the real listener and the real transports ----------------------------------------------


def test_forged_report_through_the_listener_silences_nobody_and_a_genuine_one_does(tmp_path):
    sink = SmtpSink()
    sink.start()
    desk = Desk(tmp_path / "desk", sink=sink)
    desk.start()
    try:
        desk.send(make_message(subject="VPN down"))
        sink.wait_for(lambda m: "alice@example.org" in str(m["To"]), what="the level told")
        # Every mail goes out from its own signed bounce address.
        secret = desk.secret()
        rows = {to: outbox_id for outbox_id, to in db_rows(desk.db_url, "SELECT id, to_addr FROM outbox")}
        wait_until(lambda: len(sink.messages) >= 3, what="three mails")
        for mail_from, (rcpt,), _data in sink.messages:
            assert mail_from == bounce_address(secret, DESK, rows[rcpt])

        # A forged report: MAIL FROM:<>, a multipart/report naming alice, sent to the plain desk address.
        with smtplib.SMTP("127.0.0.1", desk.port) as client:
            client.sendmail("", [DESK], make_dsn("<forged@evil.example>", "alice@example.org"))
        wait_until(lambda: desk.json("quarantine", "list"), what="the forged report in quarantine")
        (entry,) = desk.json("quarantine", "list")
        assert "silences nobody" in entry["reason"] and entry["status"] == "rejected"
        desk.send(
            make_message(subject="Printer jammed", sender="other@client.com"), mail_from="other@client.com"
        )
        told = sink.wait_for(lambda m: "Printer jammed" in str(m["Subject"]) and "alice" in str(m["To"]))
        assert told

        # A genuine report to the bounce address of the acknowledgement: the listener takes it, and it counts.
        ((ack_id,),) = db_rows(
            desk.db_url, "SELECT id FROM outbox WHERE template = 'ack' AND to_addr = 'user@client.com'"
        )
        with smtplib.SMTP("127.0.0.1", desk.port) as client:
            client.sendmail(
                "", [bounce_address(secret, DESK, ack_id)], make_dsn("<x@mx.client.com>", "user@client.com")
            )
        wait_until(
            lambda: db_rows(desk.db_url, "SELECT address FROM bounce_suppressions") == [("user@client.com",)],
            what="the requester's address suppressed",
        )
        assert db_rows(
            desk.db_url, "SELECT COUNT(*) FROM bounce_suppressions WHERE address = 'alice@example.org'"
        ) == [(0,)]
    finally:
        desk.stop()
        sink.stop()


def test_maildir_transport_writes_the_bounce_address_as_return_path(tmp_path):
    desk = Desk(tmp_path / "desk")
    desk.cli("ingest", stdin=make_message(subject="VPN down"))
    files = sorted((desk.dir / "var" / "sent").glob("*.eml"))
    assert files
    secret = desk.secret()
    for path in files:
        data = path.read_bytes()
        assert data.startswith(b"Return-Path: <support+bounce-")
        message = email.message_from_bytes(data, policy=email.policy.default)
        ((outbox_id,),) = db_rows(
            desk.db_url, "SELECT id FROM outbox WHERE message_id = :mid", mid=str(message["Message-ID"])
        )
        assert message["Return-Path"] == f"<{bounce_address(secret, DESK, outbox_id)}>"
