"""The desk never answers a robot, notes bounces, caps automatic mail and lets nothing inject a header."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from maildesk.runtime.app import App
from maildesk.security.signing import signed_address
from maildesk.storage.models import Event, Outbox, Quarantine, Ticket
from maildesk.types import RawMessage
from tests.support import Desk, clear_tables, make_dsn, make_message


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One desk and App for the module (building an App compiles every template); tables emptied per test."""
    desk = Desk(tmp_path_factory.mktemp("loops") / "desk")
    application = App.from_config(desk.config)
    yield desk, application
    application.close()


@pytest.fixture
def desk(shared) -> Desk:
    return shared[0]


@pytest.fixture
def app(shared):
    application = shared[1]
    clear_tables(application.db)
    return application


def deliver(
    app: App,
    data: bytes,
    mail_from: str | None = "user@client.com",
    rcpt_tos: tuple[str, ...] = ("support@example.org",),
):
    """Store one message as the SMTP intake would and process it; returns the outcome."""
    app.inbox.accept(
        RawMessage(
            data=data,
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            source="smtp",
            received_at=datetime.now(UTC),
        )
    )
    outcomes = app.processor.process_pending()
    assert len(outcomes) == 1
    return outcomes[0]


def outbox(app: App, to: str | None = None, template: str | None = None) -> list[Outbox]:
    with app.db.session() as session:
        query = select(Outbox).order_by(Outbox.id)
        if to is not None:
            query = query.where(Outbox.to_addr == to)
        if template is not None:
            query = query.where(Outbox.template == template)
        return list(session.scalars(query))


def events(app: App, number: int) -> list[Event]:
    with app.db.session() as session:
        return list(session.scalars(select(Event).where(Event.ticket == number).order_by(Event.id)))


def ticket(app: App, number: int) -> Ticket:
    with app.db.session() as session:
        return session.get(Ticket, number)


AUTOMATIC = {
    "auto-submitted": ({"Auto-Submitted": "auto-replied"}, "user@client.com", "user@client.com"),
    "auto-generated": ({"Auto-Submitted": "auto-generated"}, "user@client.com", "user@client.com"),
    "precedence-bulk": ({"Precedence": "bulk"}, "user@client.com", "user@client.com"),
    "precedence-junk": ({"Precedence": "junk"}, "user@client.com", "user@client.com"),
    "list-id": ({"List-Id": "Users <users.lists.client.com>"}, "user@client.com", "user@client.com"),
    "our-x-loop": ({"X-Loop": "support@example.org"}, "user@client.com", "user@client.com"),
    "mailer-daemon-from": ({}, "MAILER-DAEMON@client.com", "user@client.com"),
    "postmaster-envelope": ({}, "user@client.com", "postmaster@client.com"),
    "empty-envelope": ({}, "user@client.com", ""),
}


@pytest.mark.parametrize("headers,sender,envelope", AUTOMATIC.values(), ids=AUTOMATIC.keys())
def test_automatic_request_opens_ticket_without_ack(app, headers, sender, envelope):
    outcome = deliver(
        app, make_message(subject="Out of office", sender=sender, headers=headers), mail_from=envelope
    )
    assert outcome.state == "done" and outcome.ticket is not None
    assert outbox(app, template="ack") == []
    assert outbox(app, to=sender) == []
    assert events(app, outcome.ticket)[0].data.get("automatic")


@pytest.mark.parametrize(
    "headers",
    [{"Auto-Submitted": "auto-replied"}, {"Precedence": "list"}, {"List-Id": "<l.client.com>"}],
    ids=["auto-submitted", "precedence", "list-id"],
)
def test_automatic_follow_up_joins_ticket_without_mail(app, headers):
    number = deliver(app, make_message(subject="VPN down")).ticket
    before = len(outbox(app))
    outcome = deliver(app, make_message(subject=f"Re: [Support #{number}] VPN down", headers=headers))
    assert outcome.ticket == number
    assert len(outbox(app)) == before
    assert ticket(app, number).status == "new"


def test_empty_return_path_counts_as_empty_envelope_when_the_intake_knows_no_envelope(app):
    # IMAP and pipe delivery: the MTA recorded the envelope sender as Return-Path.
    data = b"Return-Path: <>\r\n" + make_message(
        subject="Automatic reply: VPN down", headers={"X-Auto-Response-Suppress": "All"}
    )
    outcome = deliver(app, data, mail_from=None)
    assert outcome.ticket is not None
    assert outbox(app, template="ack") == []


@pytest.mark.parametrize("report_type", ["disposition-notification", "feedback-report"])
def test_read_receipts_and_abuse_reports_get_no_ack(app, report_type):
    boundary = "report-boundary"
    data = make_message(
        subject="Read: VPN down",
        headers={"Content-Type": f'multipart/report; report-type={report_type}; boundary="{boundary}"'},
        body=f"--{boundary}\nContent-Type: text/plain\n\nYour message was displayed.\n"
        f"--{boundary}\nContent-Type: message/{report_type}\n\nReporting-UA: mua.client.com\n"
        f"--{boundary}--\n",
    )
    data = data.replace(b"Content-Type: text/plain; charset=utf-8\r\n", b"", 1)
    outcome = deliver(app, data)
    assert outcome.state == "done" and outcome.ticket is not None
    assert outbox(app, template="ack") == []


def test_x_auto_response_suppress_alone_still_gets_an_ack(app):
    outcome = deliver(app, make_message(headers={"X-Auto-Response-Suppress": "All"}))
    acks = outbox(app, template="ack")
    assert [(a.ticket, a.to_addr, a.status) for a in acks] == [(outcome.ticket, "user@client.com", "queued")]


def test_auto_submitted_no_is_a_person(app):
    deliver(app, make_message(headers={"Auto-Submitted": "no"}))
    assert len(outbox(app, template="ack")) == 1


def test_out_of_office_reply_does_not_reopen_or_command_a_closed_ticket(app):
    number = deliver(app, make_message(subject="VPN down")).ticket
    signed = signed_address(app.pipeline.secret, "support@example.org", number, "user@client.com")
    closing = make_message(
        subject=f"Re: [Support #{number}] VPN down [close]", body="Solved, thanks.\n", to=signed
    )
    deliver(app, closing, rcpt_tos=(signed,))  # to the Reply-To of the acknowledgement
    assert ticket(app, number).status == "closed"

    outcome = deliver(
        app,
        make_message(
            subject=f"Automatic reply: [Support #{number}] VPN down [reopen]",
            body="I am out of the office until Monday.\n",
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    assert outcome.ticket == number
    assert ticket(app, number).status == "closed"
    last = events(app, number)[-1]
    assert (last.type, last.data.get("automatic")) == ("message", "auto-submitted")


def test_out_of_office_reply_from_requester_does_not_close_an_open_ticket(app):
    number = deliver(app, make_message(subject="VPN down")).ticket
    deliver(app, make_message(subject=f"Auto: [Support #{number}] [close]", headers={"Precedence": "bulk"}))
    assert ticket(app, number).status == "new"


def test_a_technicians_auto_reply_carries_no_command(app):
    from maildesk.security.signing import signed_address

    number = deliver(app, make_message(subject="VPN down")).ticket
    signed = signed_address(app.pipeline.secret, "support@example.org", number, "alice@example.org")
    outcome = deliver(
        app,
        make_message(
            subject=f"Automatic reply: [Support #{number}] VPN down [close] [level=2]",
            sender="alice@example.org",
            to=signed,
            headers={"Auto-Submitted": "auto-replied"},
        ),
        mail_from="alice@example.org",
        rcpt_tos=(signed,),
    )
    assert outcome.ticket == number
    assert (ticket(app, number).status, ticket(app, number).level) == ("new", 1)
    assert [e.type for e in events(app, number)].count("command") == 0
    assert outbox(app, to="user@client.com", template="closed") == []
    assert outbox(app, template="command_error") == []


@pytest.mark.parametrize("headers_only", [False, True], ids=["message-rfc822", "text-rfc822-headers"])
def test_dsn_for_an_ack_is_noted_as_bounce_and_suppresses_automatic_mail(app, headers_only):
    number = deliver(
        app, make_message(subject="VPN down", sender="gone@client.com"), mail_from="gone@client.com"
    ).ticket
    (ack,) = outbox(app, to="gone@client.com", template="ack")

    outcome = deliver(
        app, make_dsn(ack.message_id, "gone@client.com", headers_only=headers_only), mail_from=""
    )
    assert (outcome.state, outcome.ticket) == ("done", number)
    bounce = [e for e in events(app, number) if e.type == "bounce"]
    assert len(bounce) == 1
    assert bounce[0].data["failed"] == ["gone@client.com"] and bounce[0].data["permanent"] is True
    assert len(outbox(app)) == 3  # the ack and two notify_level mails: nothing answers the bounce

    second = deliver(
        app, make_message(subject="Still there?", sender="gone@client.com"), mail_from="gone@client.com"
    )
    assert second.state == "done" and second.ticket != number
    (ack2,) = outbox(app, to="gone@client.com", template="ack")[1:]
    assert ack2.status == "suppressed"
    assert "bounced" in ack2.last_error


def test_dsn_for_nothing_we_sent_is_quarantined_with_reason(app):
    outcome = deliver(app, make_dsn("<never-sent@example.org>", "stranger@client.com"), mail_from="")
    assert outcome.state == "rejected"
    with app.db.session() as session:
        (entry,) = session.scalars(select(Quarantine))
        assert "delivery report that matches no mail the desk sent" in entry.reason
        assert "silences nobody" in entry.reason
    with app.db.session() as session:
        assert session.scalar(select(Ticket)) is None


def test_hourly_cap_limits_acks_to_one_address(desk, app):
    for index in range(7):
        deliver(
            app,
            make_message(subject=f"Request number {index}", sender="chatty@client.com"),
            mail_from="chatty@client.com",
        )
    with app.db.session() as session:
        assert session.query(Ticket).count() == 7
    listed = [row for row in desk.json("outbox", "list") if row["to"] == "chatty@client.com"]
    assert sorted(row["status"] for row in listed) == ["queued"] * 5 + ["suppressed"] * 2
    assert all(row["template"] == "ack" for row in listed)
    assert all("hourly cap" in row["last_error"] for row in listed if row["status"] == "suppressed")


def test_hourly_cap_counts_only_the_last_hour(app):
    for index in range(5):
        deliver(
            app,
            make_message(subject=f"Old request {index}", sender="slow@client.com"),
            mail_from="slow@client.com",
        )
    with app.db.session() as session:
        session.execute(update(Outbox).values(created_at=datetime(2020, 1, 1, tzinfo=UTC)))
    deliver(app, make_message(subject="New request", sender="slow@client.com"), mail_from="slow@client.com")
    assert outbox(app, to="slow@client.com")[-1].status == "queued"


def test_crlf_in_subject_or_name_injects_no_header(app):
    data = make_message(
        subject="=?utf-8?q?Hi=0D=0ABcc:_evil@x.com?=",
        sender="eve@client.com",
        name="=?utf-8?q?Eve=0D=0ABcc=3A_evil2=40x=2Ecom=0D=0A?=",
    )
    number = deliver(app, data, mail_from="eve@client.com").ticket
    sent = outbox(app)
    assert {row.template for row in sent} == {"ack", "notify_level"}
    for row in sent:
        message = email.message_from_bytes(row.raw, policy=email.policy.default)
        assert message["Bcc"] is None
        assert b"\nBcc:" not in row.raw and b"\rBcc:" not in row.raw
        assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
        assert f"[Support #{number}]" in str(message["Subject"])
        assert "evil@x.com" not in {a.addr_spec for a in message["To"].addresses}
    (ack,) = outbox(app, template="ack")
    assert ack.to_addr == "eve@client.com"
    assert "Hi Bcc: evil@x.com" in email.message_from_bytes(ack.raw, policy=email.policy.default)["Subject"]


def test_a_permanent_dsn_for_nothing_we_sent_silences_nobody(app):
    # Anybody can send MAIL FROM:<> and a report naming any address: it must not silence that address.
    outcome = deliver(app, make_dsn("<never-sent@example.org>", "stranger@client.com"), mail_from="")
    assert outcome.state == "rejected"
    later = deliver(
        app, make_message(subject="Hello?", sender="stranger@client.com"), mail_from="stranger@client.com"
    )
    assert later.state == "done"
    (ack,) = outbox(app, to="stranger@client.com", template="ack")
    assert ack.status == "queued"
