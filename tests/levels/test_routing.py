"""Levels by address: where a request starts, who is told, and hand-offs by writing to another level's address."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maildesk.types import RawMessage
from tests.levels.helpers import (
    ALICE,
    BOB,
    CAROL,
    LEVEL1,
    LEVEL2,
    REQUESTER,
    Local,
    body_text,
    mail_new_ticket,
    parse,
    requester_mail,
    technician_mail,
)
from tests.support import Desk

DESK_ADDRESS = ("support@example.org", "support-l2@example.org")


def _is_desk_address(address: str) -> bool:
    local, _, domain = address.strip("<> ").lower().rpartition("@")
    return domain == "example.org" and local.partition("+")[0] in ("support", "support-l2")


def test_new_request_at_the_first_level_notifies_each_member_with_their_signed_reply_to(local):
    number = local.new_ticket()
    assert local.ticket(number).level == 1
    notices = local.outbox("notify_level")
    assert sorted(row.to_addr for row in notices) == [ALICE, BOB]
    for row in notices:
        message = parse(row)
        assert message["Reply-To"] == local.desk.signed(number, row.to_addr, LEVEL1)
        assert f"[Support #{number}]" in message["Subject"]
        assert "the VPN fails since this morning" in body_text(message)


def test_new_request_to_a_level_address_starts_at_that_level(local):
    number = local.new_ticket(subject="Database replication lag", to=LEVEL2)
    assert local.ticket(number).level == 2
    (notice,) = local.outbox("notify_level")
    assert notice.to_addr == CAROL
    assert parse(notice)["Reply-To"] == local.desk.signed(number, CAROL, LEVEL2)
    (ack,) = local.outbox("ack")
    assert parse(ack)["Reply-To"] == local.desk.signed(number, REQUESTER, LEVEL2)


def test_reply_to_the_signed_address_with_the_next_level_in_cc_hands_off(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()

    local.technician(number, ALICE, cc=[LEVEL2], body="Carol, this one is for you.\n")

    ticket = local.ticket(number)
    assert ticket.level == 2
    (notice,) = local.outbox("notify_level", since=mark)
    assert notice.to_addr == CAROL
    assert parse(notice)["Reply-To"] == local.desk.signed(number, CAROL, LEVEL2)
    (event,) = local.events(number, "escalation")
    assert event.data["level"] == 2 and event.from_addr == ALICE
    assert not [row for row in local.outbox() if _is_desk_address(row.to_addr)]


def test_one_hand_off_delivered_once_per_desk_recipient_moves_the_ticket_once(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    data, recipients = technician_mail(
        local.desk, number, ALICE, "[comment]", cc=[LEVEL2], body="For level 2.\n"
    )
    for recipient in recipients:  # the MTA delivers one copy per mailbox
        local.app.inbox.accept(
            RawMessage(
                data=data,
                mail_from=ALICE,
                rcpt_tos=(recipient,),
                source="smtp",
                received_at=datetime.now(UTC),
            )
        )
        local.app.process_pending()
    assert local.ticket(number).level == 2
    assert len(local.events(number, "escalation")) == 1
    assert len(local.outbox("notify_level", since=mark)) == 1


def test_hand_off_back_to_the_first_level(local):
    number = local.new_ticket(to=LEVEL2)
    mark = local.last_outbox_id()
    local.technician(number, CAROL, "[comment]", level_address=LEVEL2, cc=[LEVEL1], body="Not ours.\n")
    assert local.ticket(number).level == 1
    assert sorted(row.to_addr for row in local.outbox("notify_level", since=mark)) == [ALICE, BOB]


def test_copying_the_current_level_changes_nothing(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.technician(number, ALICE, "[comment]", cc=[LEVEL1], body="note\n")
    assert local.ticket(number).level == 1
    assert local.events(number, "escalation") == []
    assert local.outbox("notify_level", since=mark) == []


def test_a_requester_copying_another_level_moves_nothing(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.deliver(
        requester_mail(number, body="Maybe level 2 knows?\n", headers={"Cc": LEVEL2}),
        [LEVEL1, LEVEL2],
        REQUESTER,
    )
    assert local.ticket(number).level == 1
    assert local.outbox("notify_level", to="carol@example.org", since=mark) == []  # level 2 is not told


def test_sender_mode_forward_to_another_level_hands_off(tmp_path, sink):
    local = Local(Desk(tmp_path / "desk", sink=sink, command_auth="sender"))
    try:
        number = local.new_ticket()
        mark = local.last_outbox_id()
        data, _ = technician_mail(
            local.desk,
            number,
            BOB,
            "[comment]",
            to=[LEVEL2],
            subject="VPN down",
            body="Forwarding to level 2.\n",
        )
        local.deliver(data.replace(b"Subject: Re: ", b"Subject: Fwd: "), [LEVEL2], BOB)
        assert local.ticket(number).level == 2
        assert [row.to_addr for row in local.outbox("notify_level", since=mark)] == [CAROL]
    finally:
        local.close()


@pytest.mark.slow
def test_routing_end_to_end_notifies_the_new_level_and_never_mails_the_desk(desk, sink):
    desk.start()
    try:
        number = mail_new_ticket(desk)
        sink.wait_for(lambda m: m["To"] == BOB and "New ticket" in str(m["Subject"]), what="level 1 notice")

        data, recipients = technician_mail(
            desk, number, ALICE, cc=[LEVEL2], body="Carol, can you check the VPN concentrator?\n"
        )
        desk.send(data, mail_from=ALICE, to=recipients)

        (notice,) = sink.wait_for(lambda m: m["To"] == CAROL, what="notify_level to carol")
        assert notice["Reply-To"] == desk.signed(number, CAROL, LEVEL2)
        assert "level 2" in body_text(notice)
        shown = desk.ticket(number)
        assert shown["level"] == 2
        assert [e["data"]["level"] for e in shown["events"] if e["type"] == "escalation"] == [2]
        desk.stop()  # lets the sender drain; then look at everything the desk ever sent
        for _mail_from, rcpt_tos, _data in sink.messages:
            assert not [r for r in rcpt_tos if _is_desk_address(r)], rcpt_tos
        assert not [m for m in sink.parsed() if _is_desk_address(str(m["To"]))]
        assert len([m for m in sink.parsed() if m["To"] == CAROL]) == 1
        assert "Auto-Submitted" in notice and notice["X-Loop"] == LEVEL1
    finally:
        desk.stop()
