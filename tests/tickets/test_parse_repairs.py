"""Through the real SMTP listener: what the parser repaired is said on the ticket's first message event."""

from __future__ import annotations

import pytest

from tests.support import Desk, make_message, wait_until

CHINESE = "您好，我的打印机坏了，从昨天开始就不能打印了。请尽快帮忙处理，谢谢！"


@pytest.fixture(scope="module")
def running(tmp_path_factory, shared_sink):
    desk = Desk(tmp_path_factory.mktemp("repairs") / "desk", sink=shared_sink)
    desk.start()
    yield desk
    assert desk.stop() == 0, desk.log()


def ticket_of(desk: Desk, requester: str) -> dict:
    (listed,) = wait_until(
        lambda: [t for t in desk.tickets() if t["requester"] == requester], what=f"{requester}'s ticket"
    )
    return desk.ticket(listed["number"])


def test_guessed_charset_and_requester_from_reply_to_are_said_on_the_ticket(running):
    message = (
        b'From: "Ann" <>\r\nReply-To: Ann Li <ann.li@client.cn>\r\nTo: support@example.org\r\n'
        b"Subject: " + "打印机坏了".encode("gbk") + b"\r\nMessage-ID: <gbk-1@client.cn>\r\n"
        b"Content-Type: text/plain\r\n\r\n" + CHINESE.encode("gbk") + b"\r\n"
    )
    running.send(message, mail_from="ann.li@client.cn")
    ticket = ticket_of(running, "ann.li@client.cn")
    assert ticket["subject"] == "打印机坏了"
    first = ticket["events"][0]
    assert first["text"].strip() == CHINESE
    assert first["data"]["requester_header"] == "reply-to"
    assert first["data"]["repairs"] == [
        "charset guessed: text/plain part with no charset read as gb18030",
        "charset guessed: header text read as gb18030",
        "requester taken from Reply-To: From has no address",
    ]
    # An empty From is a robot's sign (SPEC section 5): the ticket is made, but nothing answers it.
    assert first["data"]["automatic"] == "empty-sender"


def test_a_well_formed_message_says_nothing_of_repairs(running, shared_sink):
    running.send(make_message(subject="Plain request", sender="ben@client.com"), mail_from="ben@client.com")
    data = ticket_of(running, "ben@client.com")["events"][0].get("data") or {}
    assert "repairs" not in data and "requester_header" not in data
    shared_sink.wait_for(lambda m: "ben@client.com" in str(m["To"]), what="the acknowledgement")


def test_a_technician_address_in_sender_is_no_technician_without_a_from(running):
    """Only a From names a technician: a From-less mail whose Sender is one is a plain correspondent's."""
    running.send(make_message(subject="VPN down", sender="cid@client.com"), mail_from="cid@client.com")
    number = ticket_of(running, "cid@client.com")["number"]
    reply = (
        f"Sender: Alice <alice@example.org>\r\nTo: support@example.org\r\n"
        f"Subject: [Support #{number}] VPN down [close]\r\nMessage-ID: <no-from@example.org>\r\n"
        "\r\nClosing.\r\n"
    ).encode()
    running.send(reply, mail_from="alice@example.org")
    (event,) = wait_until(
        lambda: [e for e in running.ticket(number)["events"] if e.get("from") == "alice@example.org"],
        what="the From-less message",
    )
    assert event["type"] == "message"
    assert event["data"]["requester_header"] == "sender" and event["data"]["outsider"] is True
    assert event["data"]["automatic"] == "empty-sender"
    assert running.ticket(number)["status"] != "closed"
