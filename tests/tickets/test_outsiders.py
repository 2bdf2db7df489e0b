"""Outsiders change nothing (SPEC section 5).

Only the requester, the To/Cc of the opening request and technicians speak
on a ticket. Anyone else's mail is recorded with ``"outsider": true``, its
owner is told, and nothing moves.
"""

from __future__ import annotations

import pytest

from tests.levels.helpers import ALICE, BOB, LEVEL1, REQUESTER, body_text, requester_mail, technician_mail
from tests.support import Desk, db_rows, make_message, wait_until

COLLEAGUE = "colleague@client.com"
STRANGER = "stranger@elsewhere.example"
CLOCKS = "status, level, urgency, assignee, escalate_due_at, first_response_due_at, resolve_due_at, closed_at"


@pytest.fixture
def running(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink)
    desk.start()
    yield desk
    assert desk.stop() == 0, desk.log()


def open_ticket_with_cc(desk: Desk) -> int:
    request = make_message(subject="VPN down", sender=REQUESTER, headers={"Cc": f"Col League <{COLLEAGUE}>"})
    desk.send(request, mail_from=REQUESTER, to=[LEVEL1, COLLEAGUE])
    (ticket,) = desk.wait_for_tickets(1)
    desk.sink.wait_for(lambda m: m["To"] == REQUESTER, what="acknowledgement")
    return ticket["number"]


def messages_from(desk: Desk, number: int, sender: str) -> list[dict]:
    return [e for e in desk.ticket(number)["events"] if e["type"] == "message" and e["from"] == sender]


def clocks(desk: Desk, number: int) -> tuple:
    return db_rows(desk.db_url, f"SELECT {CLOCKS} FROM tickets WHERE number = :n", n=number)[0]


def test_a_stranger_reopens_nothing_and_the_level_is_told(running):
    number = open_ticket_with_cc(running)
    data, recipients = technician_mail(running, number, ALICE, "[close]", body="Fixed on our side.\n")
    running.send(data, mail_from=ALICE, to=recipients)
    wait_until(lambda: running.ticket(number)["status"] == "closed", what="closed by alice")
    before = clocks(running, number)
    statuses = [e for e in running.ticket(number)["events"] if e["type"] == "status"]

    # The reported attack: a stranger replies with the tag (and, for good measure, commands).
    running.send(
        requester_mail(number, "VPN down [open] [urgency=critical]", sender=STRANGER, body="Reopen it!\n"),
        mail_from=STRANGER,
    )
    (event,) = wait_until(lambda: messages_from(running, number, STRANGER), what="the stranger's message")
    assert event["data"] == {"outsider": True} and "Reopen it!" in event["text"]
    assert clocks(running, number) == before  # still closed, no clock moved
    assert [e for e in running.ticket(number)["events"] if e["type"] == "status"] == statuses

    # Nobody owns it, so the front desk is told, with the stranger's text; the stranger hears nothing.
    for member in (ALICE, BOB):
        (told,) = running.sink.wait_for(
            lambda m, member=member: m["To"] == member and "not a party to this ticket" in body_text(m),
            what=f"notice to {member}",
        )
        assert STRANGER in body_text(told) and "Reopen it!" in body_text(told)
    assert running.sink.to(STRANGER) == []

    # The colleague in Cc of the request speaks on it: their reply reopens it, as the requester's would.
    running.send(requester_mail(number, sender=COLLEAGUE, body="Still broken here.\n"), mail_from=COLLEAGUE)
    wait_until(lambda: running.ticket(number)["status"] == "open", what="reopened by the colleague")
    (reopened,) = [e for e in running.ticket(number)["events"] if e["type"] == "status"][len(statuses) :]
    assert reopened["data"]["reason"] == "requester replied"
    assert "outsider" not in messages_from(running, number, COLLEAGUE)[0].get("data", {})


def test_a_stranger_on_an_open_ticket_runs_no_command_and_moves_no_clock(running):
    number = open_ticket_with_cc(running)
    data, recipients = technician_mail(running, number, BOB, "[take] [comment]", body="Looking.\n")
    running.send(data, mail_from=BOB, to=recipients)
    wait_until(lambda: running.ticket(number)["assignee"] == BOB, what="bob takes it")
    before = clocks(running, number)
    mark = len(running.sink.messages)

    # Threaded by In-Reply-To this time, with the requester's [close]: still an outsider's mail.
    running.send(
        make_message(
            subject="Re: VPN down [close]",
            sender=STRANGER,
            body="Close this.\n",
            in_reply_to=running.ticket(number)["events"][0]["message_id"],
        ),
        mail_from=STRANGER,
    )
    wait_until(lambda: messages_from(running, number, STRANGER), what="the stranger's message")
    assert clocks(running, number) == before
    (told,) = running.sink.wait_for(
        lambda m: m["To"] == BOB and "not a party to this ticket" in body_text(m), what="notice to bob"
    )
    assert "Close this." in body_text(told)
    later = running.sink.parsed()[mark:]
    assert [m["To"] for m in later if "not a party" in body_text(m)] == [BOB]  # the owner only
    assert not [m for m in later if m["To"] in (REQUESTER, STRANGER)]


def test_only_the_signed_reply_address_lets_the_requester_close(running):
    number = open_ticket_with_cc(running)
    # From the requester's address, but to the plain desk address: anyone can write that, so it is text.
    running.send(requester_mail(number, "VPN down [close]", body="Close please.\n"), mail_from=REQUESTER)
    wait_until(lambda: len(messages_from(running, number, REQUESTER)) == 2, what="the plain [close]")
    assert running.ticket(number)["status"] == "new"
    # To the Reply-To the acknowledgement gave: the requester's own [solved] closes it.
    reply_to = running.signed(number, REQUESTER)
    running.send(
        requester_mail(number, "VPN down [solved]", body="All good now.\n", to=reply_to),
        mail_from=REQUESTER,
        to=[reply_to],
    )
    wait_until(lambda: running.ticket(number)["status"] == "closed", what="closed by the requester")
