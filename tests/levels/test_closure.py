"""Closing a ticket, and what a requester's reply does to it afterwards (reopen_within)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from maildesk.storage.models import Ticket
from tests.levels.helpers import (
    ALICE,
    BOB,
    REQUESTER,
    body_text,
    mail_new_ticket,
    parse,
    requester_mail,
    technician_mail,
)


def _close_long_ago(local, number: int, days: int) -> None:
    with local.app.db.session() as session:
        session.execute(
            update(Ticket)
            .where(Ticket.number == number)
            .values(closed_at=datetime.now(UTC) - timedelta(days=days))
        )


def test_closure_mail_is_threaded_and_signed_for_the_requester(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[close]")
    (closed,) = local.outbox("closed", REQUESTER)
    message = parse(closed)
    assert message["Subject"] == f"[Support #{number}] Resolved: VPN down"
    assert message["Reply-To"] == local.desk.signed(number, REQUESTER)
    assert message["In-Reply-To"] is not None
    assert message["X-Maildesk-Ticket"] == str(number)


def test_requester_reply_within_reopen_within_reopens(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[close]")
    mark = local.last_outbox_id()

    local.deliver(requester_mail(number, body="It is broken again.\n"))

    ticket = local.ticket(number)
    assert ticket.status == "open" and ticket.closed_at is None
    assert ticket.escalate_due_at is not None  # the level's clock runs again
    assert len(local.tickets()) == 1
    (status,) = [e for e in local.events(number, "status") if e.data.get("status") == "open"]
    assert status.data["from"] == "closed"
    assert local.outbox("ack", since=mark) == []


def test_requester_reply_after_reopen_within_opens_a_linked_ticket(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[close]")
    _close_long_ago(local, number, days=15)

    local.deliver(requester_mail(number, body="Same problem, a month later.\n"))

    assert local.ticket(number).status == "closed"
    newer = [t for t in local.tickets() if t.number != number]
    assert len(newer) == 1 and newer[0].linked_to == number and newer[0].status == "new"
    assert [row.to_addr for row in local.outbox("ack") if row.ticket == newer[0].number] == [REQUESTER]


def test_technician_writing_on_a_closed_ticket_reopens_it(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[close]")
    local.technician(number, BOB, body="One more thing: please update the client too.\n")
    ticket = local.ticket(number)
    assert ticket.status == "open" and ticket.closed_at is None
    reopened = [e for e in local.events(number, "status") if e.data.get("status") == "open"]
    assert [(e.from_addr, e.data["from"]) for e in reopened] == [(BOB, "closed")]


def test_out_of_office_does_not_reopen(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[close]")
    local.deliver(
        requester_mail(number, body="I am away until Monday.\n", headers={"Auto-Submitted": "auto-replied"})
    )
    assert local.ticket(number).status == "closed"


@pytest.mark.slow
def test_close_and_reopen_end_to_end(desk, sink):
    desk.start()
    try:
        number = mail_new_ticket(desk)

        data, recipients = technician_mail(
            desk, number, ALICE, "[close] [time=20m]", body="The VPN gateway was restarted; it works again.\n"
        )
        desk.send(data, mail_from=ALICE, to=recipients)
        (closed,) = sink.wait_for(
            lambda m: m["To"] == REQUESTER and "Resolved" in str(m["Subject"]), what="closure mail"
        )
        assert "VPN gateway was restarted" in body_text(closed)
        shown = desk.ticket(number)
        assert shown["status"] == "closed" and shown["closed_at"] is not None and shown["time_spent"] == "20m"
        filed = [a for a in desk.json("kb", "list", "--status", "draft") if a["source_ticket"] == number]
        assert len(filed) == 1

        desk.send(
            requester_mail(number, body="Sorry, it fails again.\n"),
            mail_from=REQUESTER,
            to=[closed["Reply-To"]],
        )
        shown = desk.ticket(number)
        deadline = datetime.now(UTC) + timedelta(seconds=15)
        while shown["status"] == "closed" and datetime.now(UTC) < deadline:
            shown = desk.ticket(number)
        assert shown["status"] == "open" and shown["closed_at"] is None
        assert shown["events"][-1]["type"] == "status"
    finally:
        desk.stop()


def test_a_note_or_time_after_closing_keeps_the_ticket_closed(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[close]")
    closed_at = local.ticket(number).closed_at
    mark = local.last_outbox_id()

    local.technician(number, ALICE, "[comment] [time=15m]", body="Spent a while on the write-up.\n")
    local.technician(number, BOB, "[kb] [comment]", body="Restart the VPN gateway service.\n")

    ticket = local.ticket(number)
    assert (ticket.status, ticket.closed_at, ticket.time_spent_s) == ("closed", closed_at, 900)
    (draft,) = [a for a in local.articles() if a.source_ticket == number]
    assert draft.body.endswith("Answer:\n\nRestart the VPN gateway service.") and draft.status == "draft"
    # Nothing to the requester: only the filed draft, to the technician who filed it, to publish.
    assert [(row.template, row.to_addr) for row in local.outbox(since=mark)] == [("kb_draft", BOB)]


def test_a_command_without_text_after_closing_keeps_the_ticket_closed(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[close]")
    closed_at = local.ticket(number).closed_at
    mark = local.last_outbox_id()

    local.technician(number, ALICE, "[time=15m]", body="")
    local.technician(number, BOB, "[category=functional] [problem=vpn-outage]", body="\n")

    ticket = local.ticket(number)
    assert (ticket.status, ticket.closed_at, ticket.time_spent_s) == ("closed", closed_at, 900)
    assert (ticket.category, ticket.problem) == ("functional", "vpn-outage")
    assert [e for e in local.events(number, "status") if e.data.get("status") == "open"] == []
    assert local.outbox(since=mark) == []
