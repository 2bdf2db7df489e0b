"""The self-service address through the real listener: articles back and no ticket; a reply opens one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.kb.test_search import seeded_desk
from tests.support import Desk, make_message, wait_until

pytestmark = pytest.mark.slow

HELP = "help@example.org"
ARTICLES = [
    ("printer-offline", "en", "published", "Printer offline", "Switch the printer off and on again."),
    (
        "printer-secret",
        "en",
        "draft",
        "Printer offline for Kim",
        "Kim's printer: call Kim on 06 12 34 56 78.",
    ),
]


def _self_care(desk: Desk) -> int:
    today = datetime.now(UTC).date()
    report = desk.json("report", "--since", str(today), "--until", str(today + timedelta(days=1)))
    return report["total"]["self_care"]


def _answer_to(desk: Desk, address: str):
    (mail,) = desk.sink.wait_for(
        lambda m: address in str(m["To"]).lower() and "articles that may help" in str(m["Subject"]),
        what=f"the self-service answer to {address}",
    )
    return mail


def test_self_service_answers_with_articles_and_a_reply_opens_a_ticket_with_the_context(tmp_path, sink):
    desk = seeded_desk(tmp_path / "desk", ARTICLES, sink=sink, kb=f'self_service = "{HELP}"')
    desk.start()
    try:
        kim = "kim@client.com"
        question = make_message(
            subject="Printing",
            body="My printers are offline again.\n",
            sender=kim,
            to=HELP,
            message_id="<q1@client.com>",
        )
        desk.send(question, mail_from=kim, to=[HELP])
        answer = _answer_to(desk, kim)
        text = answer.get_body(("plain",)).get_content()
        assert "Switch the printer off and on again." in text  # the article in full
        assert "06 12" not in text  # never a draft
        assert HELP in str(answer["Reply-To"]) and answer["In-Reply-To"] == "<q1@client.com>"
        desk.send(question, mail_from=kim, to=[HELP])  # delivered twice: answered once, still no ticket
        assert desk.tickets() == [] and _self_care(desk) == 1

        reply = make_message(
            subject="Re: Printing",
            body="Still offline after restarting it.\n",
            sender=kim,
            to=HELP,
            in_reply_to=answer["Message-ID"],
        )
        desk.send(reply, mail_from=kim, to=[HELP])
        (ticket,) = desk.wait_for_tickets(1)
        shown = desk.ticket(ticket["number"])
        opening = shown["events"][0]["text"]
        assert (shown["subject"], shown["level"], shown["requester"]) == ("Printing", 1, kim)
        assert "Still offline after restarting it." in opening and "My printers are offline again." in opening
        assert "Articles already sent: printer-offline" in opening
        assert _self_care(desk) == 0  # the answer did not settle it

        lee = "lee@client.com"
        desk.send(make_message(subject="Printer offline", sender=lee, to=HELP), mail_from=lee, to=[HELP])
        solved = make_message(
            subject="Re: Printer offline [solved]",
            sender=lee,
            to=HELP,
            in_reply_to=_answer_to(desk, lee)["Message-ID"],
        )
        desk.send(solved, mail_from=lee, to=[HELP])
        wait_until(lambda: "self_service_solved" in desk.log(), what="the [solved] reply processed")
    finally:
        assert desk.stop() == 0, desk.log()
    assert len(desk.tickets()) == 1 and _self_care(desk) == 1
