"""Who may act on a ticket by mail: signed reply addresses, trusted senders, DKIM, and requester limits.

"Never a forged address": a refused technician command earns one
``command_error`` mail, and it goes to the From address only because that
address is a configured technician. A forged ``From: alice@...`` therefore
warns the real Alice that someone wrote in her name; the forger (whose
real address the desk never learns) and the requester get nothing, and a
From that is not a technician never gets an error mail at all.

Under ``command_auth = "sender"`` the From alone is trusted, so a forged
From is accepted there by design; ``dkim_required`` is what closes that gap.
"""

from __future__ import annotations

import pytest

from tests.levels.helpers import (
    ALICE,
    BOB,
    CAROL,
    LEVEL1,
    LEVEL2,
    REQUESTER,
    Local,
    body_text,
    dkim_desk,
    mail_new_ticket,
    parse,
    requester_mail,
    technician_mail,
)
from tests.support import Desk, db_rows, wait_until

QUEUED = "SELECT id FROM outbox WHERE status = 'queued'"

# -- signed (the default) -------------------------------------------------------------


def test_signed_refuses_a_technician_writing_to_the_plain_address(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()

    local.technician(number, ALICE, "[close] [take]", to=[LEVEL1])

    ticket = local.ticket(number)
    assert (ticket.status, ticket.assignee, ticket.closed_at) == ("new", None, None)
    (error,) = local.outbox("command_error", since=mark)
    assert error.to_addr == ALICE
    assert "signed reply address" in body_text(parse(error))
    assert local.outbox(to=REQUESTER, since=mark) == []
    assert local.events(number, "command") == []


def test_signed_refuses_routing_by_the_plain_level_address(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.technician(number, ALICE, to=[LEVEL2])  # forwarded straight to level 2, not via the signed address
    assert local.ticket(number).level == 1
    assert [row.to_addr for row in local.outbox("command_error", since=mark)] == [ALICE]
    assert local.outbox("notify_level", since=mark) == []


@pytest.mark.parametrize("issued_to", [REQUESTER, BOB])
def test_forged_from_on_someone_elses_signed_address_mails_the_real_technician(local, issued_to):
    number = local.new_ticket()
    mark = local.last_outbox_id()

    # Someone who holds the requester's (or Bob's) reply address writes "From: alice" to it.
    local.technician(
        number,
        ALICE,
        "[close] [assign=alice@example.org]",
        to=[local.desk.signed(number, issued_to)],
        body="Closing this.\n",
    )

    ticket = local.ticket(number)
    assert (ticket.status, ticket.assignee) == ("new", None)
    mail = local.outbox(since=mark)
    assert [(row.template, row.to_addr) for row in mail] == [("command_error", ALICE)]
    assert "not issued to alice@example.org" in body_text(parse(mail[0]))
    (refused,) = local.events(number, "comment")
    assert "refused" in refused.data


def test_signed_address_of_another_ticket_does_not_authorise(local):
    first = local.new_ticket()
    second = local.new_ticket(subject="Printer jam")
    mark = local.last_outbox_id()
    # Alice's genuine address for the first ticket, but the mail names the second one in the subject:
    # the signed address wins for threading, so the mail acts on the first ticket only.
    local.technician(second, ALICE, "[take] [comment]", to=[local.desk.signed(first, ALICE)], body="x\n")
    assert local.ticket(second).assignee is None
    assert local.ticket(first).assignee == ALICE
    assert local.outbox("command_error", since=mark) == []


def test_non_technician_never_gets_an_error_mail(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.deliver(
        requester_mail(number, "VPN down [foo=bar] [level=2]", sender="mallory@evil.example"),
        mail_from="mallory@evil.example",
    )
    assert local.ticket(number).level == 1
    assert local.outbox("command_error", since=mark) == []
    assert local.outbox(to="mallory@evil.example", since=mark) == []
    # The front desk hears that someone wrote on the ticket, as RT tells a ticket's watchers.
    assert {row.template for row in local.outbox(since=mark)} <= {"notify_level"}


# -- sender ------------------------------------------------------------------------------


def test_sender_mode_trusts_a_technicians_from(tmp_path, sink):
    local = Local(Desk(tmp_path / "desk", sink=sink, command_auth="sender"))
    try:
        number = local.new_ticket()
        mark = local.last_outbox_id()
        local.technician(number, ALICE, "[take]", to=[LEVEL1])
        ticket = local.ticket(number)
        assert (ticket.assignee, ticket.status) == (ALICE, "open")
        assert len(local.outbox("reply", REQUESTER, since=mark)) == 1
        assert local.outbox("command_error", since=mark) == []
    finally:
        local.close()


# -- requesters ----------------------------------------------------------------------------


def requester_at_signed_address(local: Local, number: int, subject: str, body: str) -> None:
    """The requester replies to the Reply-To of their acknowledgement: their signed reply address."""
    signed = local.desk.signed(number, REQUESTER)
    local.deliver(requester_mail(number, subject, body=body, to=signed), to=(signed,))


@pytest.mark.parametrize("word", ["[close]", "[solved]"])
def test_requester_may_close_their_own_ticket(local, word):
    number = local.new_ticket()
    mark = local.last_outbox_id()

    requester_at_signed_address(local, number, f"VPN down {word}", "It works again, thanks.\n")

    ticket = local.ticket(number)
    assert ticket.status == "closed" and ticket.closed_at is not None
    assert [row.template for row in local.outbox(to=REQUESTER, since=mark)] == ["closed"]
    assert local.outbox("command_error", since=mark) == []


def test_requester_close_on_a_closed_ticket_keeps_it_closed(local):
    number = local.new_ticket()
    requester_at_signed_address(local, number, "VPN down [close]", "Fixed.\n")
    closed_at = local.ticket(number).closed_at
    requester_at_signed_address(local, number, "VPN down [close]", "Really, close it.\n")
    ticket = local.ticket(number)
    assert ticket.status == "closed" and ticket.closed_at == closed_at


@pytest.mark.parametrize("words", ["[escalate]", "[urgency=critical]", "[take] [level=2] [spam]"])
def test_requester_other_brackets_are_plain_text(local, words):
    number = local.new_ticket()
    before = local.ticket(number)
    mark = local.last_outbox_id()

    local.deliver(requester_mail(number, f"VPN down {words}", body="Still broken!\n"))

    after = local.ticket(number)
    assert (after.level, after.urgency, after.assignee, after.status) == (
        before.level,
        before.urgency,
        before.assignee,
        before.status,
    )
    assert local.events(number, "command") == []
    assert local.outbox("command_error", since=mark) == []
    assert local.outbox("notify_level", to="carol@example.org", since=mark) == []  # level 2 never told
    (message,) = local.events(number, "message")[1:]
    assert "Still broken!" in message.text


def test_requester_reply_to_a_subject_with_close_in_it_does_not_close(local):
    subject = "How do I [close] my account?"
    number = local.new_ticket(subject=subject)
    mark = local.last_outbox_id()

    local.deliver(requester_mail(number, subject, body="Any news?\n"))

    ticket = local.ticket(number)
    assert ticket.status == "new" and ticket.closed_at is None
    assert local.outbox("closed", since=mark) == []
    assert len(local.events(number, "message")) == 2

    requester_at_signed_address(local, number, f"{subject} [close]", "Found it myself, thanks.\n")
    assert local.ticket(number).status == "closed"
    assert len(local.outbox("closed", REQUESTER, since=mark)) == 1


def test_requester_close_at_the_plain_address_is_subject_text_under_signed(local):
    """SPEC section 6: anyone can write the requester's From and the tag; only the signed address counts."""
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.deliver(requester_mail(number, "VPN down [close]", body="Close it.\n"))
    ticket = local.ticket(number)
    assert ticket.status == "new" and ticket.closed_at is None
    assert local.outbox("closed", since=mark) == [] and local.outbox("command_error", since=mark) == []
    assert "Close it." in local.events(number, "message")[-1].text


def test_requester_close_at_the_plain_address_counts_under_sender(tmp_path, sink):
    local = Local(Desk(tmp_path / "desk", sink=sink, command_auth="sender"))
    try:
        number = local.new_ticket()
        local.deliver(requester_mail(number, "VPN down [solved]", body="Thanks.\n"))
        assert local.ticket(number).status == "closed"
    finally:
        local.close()


def test_someone_elses_close_does_nothing(local):
    number = local.new_ticket()
    local.deliver(
        requester_mail(number, "VPN down [close]", sender="other@client.com", body="close it\n"),
        mail_from="other@client.com",
    )
    assert local.ticket(number).status == "new"
    assert local.ticket(number).closed_at is None


# -- DKIM -----------------------------------------------------------------------------------


@pytest.fixture
def dkim(tmp_path, sink):
    local = Local(dkim_desk(tmp_path / "desk", sink=sink))
    yield local
    local.close()


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("mx.example.org; dkim=pass header.d=example.org", True),
        (
            "mx.example.org;\r\n\tspf=pass smtp.mailfrom=example.org;\r\n\tdkim=pass (2048-bit key) header.i=@example.org "
            "header.s=mail",
            True,
        ),
        ("mx.example.org; dkim=fail header.d=example.org", False),
        ("mx.example.org; dkim=pass header.d=evil.example", False),
        ("mx.example.org; dkim=pass header.d=sub.example.org", False),
        ("mx.evil.example; dkim=pass header.d=example.org", False),
        ("mx.example.org; spf=pass smtp.mailfrom=example.org", False),
        ("mx.example.org dkim=pass header.d=example.org ((garbage", False),
        (None, False),
    ],
)
def test_dkim_required(dkim, header, accepted):
    number = dkim.new_ticket()
    mark = dkim.last_outbox_id()

    dkim.technician(number, ALICE, "[take]", headers={"Authentication-Results": header} if header else None)

    assert (dkim.ticket(number).assignee == ALICE) is accepted
    errors = dkim.outbox("command_error", since=mark)
    if accepted:
        assert errors == []
    else:
        assert [row.to_addr for row in errors] == [ALICE]
        assert "DKIM" in body_text(parse(errors[0]))
        assert dkim.outbox(to=REQUESTER, since=mark) == []


def test_dkim_is_checked_on_top_of_the_signed_address(dkim):
    number = dkim.new_ticket()
    mark = dkim.last_outbox_id()
    data, _ = technician_mail(
        dkim.desk,
        number,
        ALICE,
        "[take]",
        to=[LEVEL1],
        headers={"Authentication-Results": "mx.example.org; dkim=pass header.d=example.org"},
    )
    dkim.deliver(data, [LEVEL1], ALICE)  # DKIM passes, but not sent to the signed address
    assert dkim.ticket(number).assignee is None
    assert [row.to_addr for row in dkim.outbox("command_error", since=mark)] == [ALICE]


# -- end to end ------------------------------------------------------------------------------


@pytest.mark.slow
def test_forged_from_is_refused_end_to_end_and_the_real_technician_is_told(desk, sink):
    desk.start()
    try:
        number = mail_new_ticket(desk)
        sink.wait_for(lambda m: m["To"] == REQUESTER, what="acknowledgement")

        forged, _ = technician_mail(
            desk, number, ALICE, "[close]", to=[desk.signed(number, REQUESTER)], body="Closing.\n"
        )
        desk.send(forged, mail_from=ALICE, to=[desk.signed(number, REQUESTER)])
        (error,) = sink.wait_for(
            lambda m: m["To"] == ALICE and "Commands not applied" in str(m["Subject"]),
            what="command_error to alice",
        )
        assert "not issued to alice@example.org" in body_text(error)

        genuine, recipients = technician_mail(desk, number, BOB, "[close]", body="Fixed on our side.\n")
        desk.send(genuine, mail_from=BOB, to=recipients)
        (closed,) = sink.wait_for(
            lambda m: m["To"] == REQUESTER and "Resolved" in str(m["Subject"]), what="closure mail"
        )
        assert "Fixed on our side." in body_text(closed)
        shown = desk.ticket(number)
        assert shown["status"] == "closed"
        assert [e["from"] for e in shown["events"] if e["type"] == "command"] == [BOB]
        assert not [m for m in sink.parsed() if m["To"] == REQUESTER and "Commands" in str(m["Subject"])]
        assert len([m for m in sink.parsed() if m["To"] == ALICE and "Commands" in str(m["Subject"])]) == 1
    finally:
        desk.stop()


@pytest.mark.slow
def test_requester_limits_end_to_end(desk, sink):

    other = "other@client.com"

    def events_from(number, sender):
        return [e for e in desk.ticket(number)["events"] if e["from"] == sender and e["type"] == "message"]

    def command_errors():
        return [m for m in sink.parsed() if "Commands not applied" in str(m["Subject"])]

    desk.start()
    try:
        number = mail_new_ticket(desk)
        (ack,) = sink.wait_for(lambda m: m["To"] == REQUESTER, what="acknowledgement")
        reply_to = str(ack["Reply-To"])

        # Someone else's [close], tagged with this ticket, closes nothing.
        desk.send(
            requester_mail(number, "VPN down [close]", sender=other, body="Close it, please.\n"),
            mail_from=other,
            to=[LEVEL1],
        )
        wait_until(lambda: events_from(number, other), what="the other sender's message on the ticket")
        shown = desk.ticket(number)
        assert shown["status"] == "new" and shown["closed_at"] is None

        # The requester's other bracketed words are subject text: nothing moves, nobody is told off.
        desk.send(
            requester_mail(
                number,
                "VPN down [escalate] [level=2] [urgency=critical]",
                body="Still broken, this is urgent!\n",
            ),
            mail_from=REQUESTER,
            to=[reply_to],
        )
        wait_until(lambda: len(events_from(number, REQUESTER)) == 2, what="the requester's follow-up")
        shown = desk.ticket(number)
        assert (shown["status"], shown["level"], shown["urgency"]) == ("new", 1, "normal")
        assert [e for e in shown["events"] if e["type"] in ("command", "escalation")] == []
        assert "Still broken, this is urgent!" in events_from(number, REQUESTER)[-1]["text"]

        # The requester's own [close] closes the ticket, with the closure mail and no error mail.
        desk.send(
            requester_mail(number, "VPN down [close]", body="It works again, thanks.\n"),
            mail_from=REQUESTER,
            to=[reply_to],
        )
        sink.wait_for(lambda m: m["To"] == REQUESTER and "Resolved" in str(m["Subject"]), what="closure mail")
        shown = desk.ticket(number)
        assert shown["status"] == "closed" and shown["closed_at"] is not None
        # An error mail would have been queued in the closing transaction: wait until the outbox sent all.
        wait_until(lambda: not db_rows(desk.db_url, QUEUED), what="the outbox sent")
        assert command_errors() == []
        assert sink.to(CAROL) == []  # level 2 never heard of the ticket
        assert sink.to(other) == []
    finally:
        desk.stop()
