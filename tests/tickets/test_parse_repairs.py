"""Through the real SMTP listener: what the parser repaired is said on the ticket's first message event."""

from __future__ import annotations

import pytest

from tests.support import Desk, make_message

CHINESE = "您好，我的打印机坏了，从昨天开始就不能打印了。请尽快帮忙处理，谢谢！"


@pytest.fixture(scope="module")
def running(tmp_path_factory, shared_sink):
    desk = Desk(tmp_path_factory.mktemp("repairs") / "desk", sink=shared_sink)
    desk.start()
    yield desk
    assert desk.stop() == 0, desk.log()


def test_guessed_charset_and_requester_from_reply_to_are_said_on_the_ticket(running, shared_sink):
    message = (
        b'From: "Ann" <>\r\nReply-To: Ann Li <ann.li@client.cn>\r\nTo: support@example.org\r\n'
        b"Subject: " + "打印机坏了".encode("gbk") + b"\r\nMessage-ID: <gbk-1@client.cn>\r\n"
        b"Content-Type: text/plain\r\n\r\n" + CHINESE.encode("gbk") + b"\r\n"
    )
    running.send(message, mail_from="ann.li@client.cn")
    (listed,) = [t for t in running.wait_for_tickets(1) if t["requester"] == "ann.li@client.cn"]
    ticket = running.ticket(listed["number"])
    assert ticket["subject"] == "打印机坏了"
    first = ticket["events"][0]
    assert first["text"].strip() == CHINESE
    assert first["data"]["requester_header"] == "reply-to"
    assert first["data"]["repairs"] == [
        "charset guessed: text/plain part with no charset read as gb18030",
        "charset guessed: header text read as gb18030",
        "requester taken from Reply-To: From has no address",
    ]
    # The acknowledgement goes to the requester the Reply-To gave.
    shared_sink.wait_for(lambda m: "ann.li@client.cn" in str(m["To"]), what="the acknowledgement")


def test_a_well_formed_message_says_nothing_of_repairs(running):
    running.send(make_message(subject="Plain request", sender="ben@client.com"), mail_from="ben@client.com")
    (listed,) = [t for t in running.wait_for_tickets(2) if t["requester"] == "ben@client.com"]
    data = running.ticket(listed["number"])["events"][0].get("data") or {}
    assert "repairs" not in data and "requester_header" not in data
