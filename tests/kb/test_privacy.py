"""No private text reaches a stranger (issue 8 item 2): a closure's answer is a draft until published."""

from __future__ import annotations

import pytest

from tests.support import Desk, make_message, wait_until

pytestmark = pytest.mark.slow

SECRET_PASSWORD = "Tr0ub4dor-and-3"
SECRET_IBAN = "FR76 3000 6000 0112 3456 7890 189"
ANSWER = (
    f"I reset your Outlook password to {SECRET_PASSWORD} and the mailbox is unlocked.\n"
    f"Your refund goes to your IBAN {SECRET_IBAN}.\n"
)


def _ack_to(desk: Desk, address: str):
    (ack,) = desk.sink.wait_for(
        lambda m: address in str(m["To"]).lower() and "Request received" in str(m["Subject"]),
        what=f"ack to {address}",
    )
    return ack


def test_a_closing_answer_never_reaches_a_stranger_with_a_similar_request(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink)
    desk.start()
    try:
        owner, stranger = "ann@client.com", "mallory@elsewhere.com"
        subject = "Outlook password locked after update"
        desk.send(make_message(subject=subject, sender=owner), mail_from=owner)
        number = int(_ack_to(desk, owner)["X-Maildesk-Ticket"])
        signed = desk.signed(number, "alice@example.org")
        close = make_message(
            subject=f"Re: [Support #{number}] {subject} [close]",
            sender="alice@example.org",
            name="Alice",
            to=signed,
            body=ANSWER,
        )
        desk.send(close, mail_from="alice@example.org", to=[signed])
        wait_until(lambda: desk.ticket(number)["status"] == "closed", what="ticket closed")
        drafts = wait_until(lambda: desk.json("kb", "list", "--status", "draft"), what="the filed draft")

        desk.send(make_message(subject="Outlook password locked", sender=stranger), mail_from=stranger)
        ack = _ack_to(desk, stranger).get_body(("plain",)).get_content()
    finally:
        assert desk.stop() == 0, desk.log()
    assert [d["source_ticket"] for d in drafts] == [number]
    for secret in (SECRET_PASSWORD, "FR76", "3456 7890", "refund"):
        assert secret not in ack
    assert all(d["source_ticket"] != number for d in desk.json("kb", "search", "outlook password"))
    assert all(a["source_ticket"] != number for a in desk.json("kb", "list"))
