"""Self-care through the real listener: suggestions in the acknowledgement, ``[kb=SLUG]``, ``[solved]``.

The acknowledgement suggests published articles in the ticket's language
(from its subject and its text), never a draft; ``[kb=SLUG]`` from the
requester sends that article; ``[solved]`` closes the ticket, counted as
self-care in reports.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.kb.test_search import seeded_desk
from tests.support import Desk, make_message, wait_until

pytestmark = pytest.mark.slow

ARTICLES = [
    ("printer-offline", "en", "published", "Printer offline", "Switch the printer off and on again."),
    (
        "paper-tray",
        "en",
        "published",
        "Paper tray",
        "When printers jam, open the paper tray and pull the sheet.",
    ),
    (
        "printer-secret",
        "en",
        "draft",
        "Printer offline for Kim",
        "Kim's printer: call Kim on 06 12 34 56 78.",
    ),
    ("imprimante", "fr", "published", "Imprimante hors ligne", "Éteignez l'imprimante puis rallumez-la."),
]


def _mail_to(desk: Desk, address: str, subject_part: str):
    (mail,) = desk.sink.wait_for(
        lambda m: address in str(m["To"]).lower() and subject_part in str(m["Subject"]),
        what=f"{subject_part!r} to {address}",
    )
    return mail


def _text(mail) -> str:  # an EmailMessage
    return mail.get_body(("plain",)).get_content()


@pytest.fixture
def desk(tmp_path, sink):
    desk = seeded_desk(tmp_path / "desk", ARTICLES, sink=sink)
    desk.start()
    yield desk
    assert desk.stop() == 0, desk.log()


def test_suggestions_then_kb_slug_then_solved_counts_as_self_care(desk):
    kim = "kim@client.com"
    body = "Hello,\nmy printers say they are offline since this morning, with a red light on the tray.\n"
    desk.send(make_message(subject="Cannot print", body=body, sender=kim), mail_from=kim)
    ack = _mail_to(desk, kim, "Request received")
    number = int(ack["X-Maildesk-Ticket"])
    text = _text(ack)
    assert "Printer offline" in text and "Paper tray" in text  # from the text: the subject has no such word
    assert "[kb=printer-offline]" in text
    assert "Kim" not in text and "06 12" not in text  # the draft is never suggested
    assert "Imprimante" not in text  # a French article for an English ticket

    signed = str(ack["Reply-To"]).strip("<>")
    ask = make_message(subject=f"Re: [Support #{number}] Cannot print [kb=paper-tray]", sender=kim, to=signed)
    desk.send(ask, mail_from=kim, to=[signed])
    (article,) = desk.sink.wait_for(lambda m: "pull the sheet" in _text(m), what="the article by mail")
    assert kim in str(article["To"]) and article["Auto-Submitted"] == "auto-replied"
    assert desk.ticket(number)["status"] == "new"  # asking for an article changes nothing

    solved = make_message(subject=f"Re: [Support #{number}] Cannot print [solved]", sender=kim, to=signed)
    desk.send(solved, mail_from=kim, to=[signed])
    wait_until(lambda: desk.ticket(number)["status"] == "closed", what="closed by the requester")
    today = datetime.now(UTC).date()
    report = desk.json("report", "--since", str(today), "--until", str(today + timedelta(days=1)))
    assert report["total"]["self_care"] == 1


def test_a_french_ticket_gets_french_suggestions(desk):
    jean = "jean@example.fr"  # the shipped rules make example.fr French
    body = "Bonjour,\nmes imprimantes sont hors ligne.\n"
    desk.send(make_message(subject="Impression impossible", body=body, sender=jean), mail_from=jean)
    text = _text(_mail_to(desk, jean, "#"))
    assert "Imprimante hors ligne" in text and "[kb=imprimante]" in text
    assert "Printer offline" not in text
