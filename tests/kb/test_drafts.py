"""Drafts from closures through the real daemon: redacted, mailed to the technician, published by reply."""

from __future__ import annotations

import pytest

from tests.support import Desk, make_message, wait_until

pytestmark = pytest.mark.slow

REQUESTER, COLLEAGUE, ALICE = "ann.martin@client.com", "bob.durand@client.com", "alice@example.org"
REQUEST = (
    "Hello,\nthe printer on floor 3 prints blank pages since Monday.\n"
    "Ann Martin, 12 rue des Lilas, 75011 Paris. Call me at 06 12 34 56 78.\n"
)
ANSWER = (
    "Hello Ann, I called you at 06 12 34 56 78 and Bob Durand too.\n"
    "Clean the print head from the printer menu (Maintenance > Clean), then print a test page.\n"
    "The refund goes to IBAN FR76 3000 6000 0112 3456 7890 189, paid by card 4111 1111 1111 1111.\n"
)
SECRETS = (
    "Ann",
    "Martin",
    "Durand",
    "ann.martin",
    "bob.durand",
    "Lilas",
    "75011",
    "06 12 34 56 78",
    "FR76",
    "3456 7890",
    "4111",
)


def _mail(desk: Desk, predicate, what: str):
    (mail,) = desk.sink.wait_for(predicate, what=what)
    return mail


def _text(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def test_a_closure_files_a_redacted_draft_mailed_to_the_technician_who_publishes_it_by_reply(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink)
    desk.start()
    try:
        request = make_message(
            subject="Printer prints blank pages",
            sender=REQUESTER,
            name="Ann Martin",
            body=REQUEST,
            headers={"Cc": f"Bob Durand <{COLLEAGUE}>"},
        )
        desk.send(request, mail_from=REQUESTER, to=["support@example.org"])
        ack = _mail(desk, lambda m: REQUESTER in str(m["To"]) and "received" in str(m["Subject"]), "ack")
        number = int(ack["X-Maildesk-Ticket"])
        signed = desk.signed(number, ALICE)
        close = make_message(
            subject=f"Re: [Support #{number}] Printer prints blank pages [close]",
            sender=ALICE,
            name="Alice",
            to=signed,
            body=ANSWER,
        )
        desk.send(close, mail_from=ALICE, to=[signed])
        draft_mail = _mail(
            desk, lambda m: m["To"] == ALICE and "Draft article" in str(m["Subject"]), "kb_draft"
        )
        shown = desk.json("kb", "show", f"ticket-{number}")

        # [publish] by reply to the kb_draft mail, at its signed Reply-To; quoting only: keep the text.
        publish = make_message(
            subject=f"Re: {draft_mail['Subject']} [publish]",
            sender=ALICE,
            name="Alice",
            to=draft_mail["Reply-To"],
            body="> " + _text(draft_mail).replace("\n", "\n> ") + "\n",
        )
        desk.send(publish, mail_from=ALICE, to=[draft_mail["Reply-To"]])
        published = wait_until(
            lambda: [a for a in desk.json("kb", "list") if a["slug"] == f"ticket-{number}"], what="published"
        )
        later = "eve@other.com"
        desk.send(make_message(subject="Printer prints blank pages again", sender=later), mail_from=later)
        suggested = _mail(desk, lambda m: later in str(m["To"]), "ack with the published article")
        to_requester = [m for m in sink.to(REQUESTER)]
    finally:
        assert desk.stop() == 0, desk.log()
    assert shown["status"] == "draft" and shown["source_ticket"] == number
    assert (
        "Clean the print head" in shown["body"] and "blank pages" in shown["body"]
    )  # answer, with its question
    assert "[redacted]" in shown["body"]
    for secret in SECRETS:
        assert secret not in shown["body"], secret
        assert secret not in _text(draft_mail), secret
    assert "[publish]" in _text(draft_mail)
    assert published[0]["status"] == "published"
    assert desk.json("kb", "show", f"ticket-{number}")["body"] == shown["body"]
    assert f"[kb=ticket-{number}]" in _text(suggested)  # the published article is suggested
    assert "[redacted]" in _text(suggested) and not any(secret in _text(suggested) for secret in SECRETS)
    # The requester got the acknowledgement and the closing mail; nothing of the [publish] reply.
    assert sorted(str(m["Subject"]).split("] ", 1)[1].split(":")[0] for m in to_requester) == [
        "Request received",
        "Resolved",
    ]
