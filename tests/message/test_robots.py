"""Robots without markers (SPEC section 5): recognised by subject, headers or sender, and never answered."""

from __future__ import annotations

import pytest

from maildesk.message.robots import Sign, auto_reply_subject, find_robot_sign
from maildesk.runtime.app import App
from tests.loop_helpers import deliver, events, outbox, ticket
from tests.support import Desk, clear_tables, make_message

REQUESTER = "user@client.com"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One desk and App for the module (building an App compiles every template); tables emptied per test."""
    desk = Desk(tmp_path_factory.mktemp("robots") / "desk")
    application = App.from_config(desk.config)
    yield desk, application
    application.close()


@pytest.fixture
def desk(shared) -> Desk:
    return shared[0]


@pytest.fixture
def app(shared) -> App:
    application = shared[1]
    clear_tables(application.db)
    return application


AUTO_REPLY_SUBJECTS = [
    "Automatic reply: VPN down",
    "Auto reply: VPN down",
    "Autoreply: VPN down",
    "Auto-Reply: VPN down",
    "Automated reply: VPN down",
    "Out of Office: VPN down",
    "Out of Office AutoReply: VPN down",
    "OOO: back on Monday",
    "Out of office",
    "Vacation",
    "Réponse automatique : VPN down",
    "Réponse automatique d'absence : VPN down",
    "Absence du bureau : retour lundi",
    "Message d'absence",
    "Absente",
    "Abwesenheitsnotiz: VPN down",
    "Automatische Antwort: VPN down",
    "Außer Haus: VPN down",
    "Nicht im Büro: VPN down",
    "Risposta automatica: VPN down",
    "Respuesta automática: VPN down",
    "Automatyczna odpowiedź: VPN down",
    "Autosvar: VPN down",
]
PERSON_SUBJECTS = [
    "VPN down",
    "Out of office replies do not work in Outlook",
    "Automatic replies: how do I set one up?",
    "Vacation: how do I book days off in the HR tool?",
    "Absence of the VPN icon",
    "Réponse automatique ne fonctionne plus",
    "Abwesenheitsnotiz einrichten geht nicht",
    "Auto: the car park barrier is stuck",
    "Re: Autoreply settings",
]


@pytest.mark.parametrize("subject", AUTO_REPLY_SUBJECTS)
def test_auto_reply_subjects_are_recognised(subject):
    assert auto_reply_subject(subject, is_reply=False) is not None


@pytest.mark.parametrize("subject", PERSON_SUBJECTS)
def test_a_person_asking_about_auto_replies_is_not_a_robot(subject):
    assert auto_reply_subject(subject, is_reply=False) is None


def test_auto_prefix_counts_only_on_a_reply():
    # Sieve's vacation default: "Auto: <subject>", sent in reply to a message.
    assert auto_reply_subject("Auto: VPN down", is_reply=True) == "auto"
    assert auto_reply_subject("Auto: VPN down", is_reply=False) is None


ROBOT_HEADERS = {
    "x-autoreply": ({"X-Autoreply": "yes"}, Sign.AUTO_REPLY),
    "x-autorespond": ({"X-Autorespond": "Out of office"}, Sign.AUTO_REPLY),
    "x-autoresponder": ({"X-Autoresponder": "true"}, Sign.AUTO_REPLY),
    "apple-vacation": ({"X-Apple-Action": "VACATION"}, Sign.AUTO_REPLY),
    "precedence-auto-reply": ({"Precedence": "auto_reply"}, Sign.AUTO_REPLY),
    "x-mailer-vacation": ({"X-Mailer": "Vacation 4.2 (Postfixadmin)"}, Sign.AUTO_REPLY),
    "x-mailer-autoresponder": ({"X-Mailer": "cPanel AutoResponder"}, Sign.AUTO_REPLY),
    "exchange-rule": (
        {"X-MS-Exchange-Inbox-Rules-Loop": "user@client.com", "X-Auto-Response-Suppress": "All"},
        Sign.AUTO_REPLY,
    ),
    "ezmlm": ({"Mailing-List": "contact users-help@lists.client.com; run by ezmlm"}, Sign.LIST),
    "newsletter": ({"List-Unsubscribe": "<mailto:leave@news.client.com>"}, Sign.LIST),
}


@pytest.mark.parametrize("headers,sign", ROBOT_HEADERS.values(), ids=ROBOT_HEADERS.keys())
def test_robot_headers_are_recognised(headers, sign):
    found = find_robot_sign("VPN down", tuple(headers.items()), (REQUESTER,), is_reply=False)
    assert found is not None and found.sign is sign


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Autoreply": "no"},
        {"X-Mailer": "Microsoft Outlook 16.0"},
        {"User-Agent": "Mozilla Thunderbird"},
        {"X-Auto-Response-Suppress": "All"},
        {"X-MS-Exchange-Inbox-Rules-Loop": "user@client.com"},
    ],
)
def test_ordinary_client_headers_are_no_robot_sign(headers):
    assert find_robot_sign("VPN down", tuple(headers.items()), (REQUESTER,), is_reply=False) is None


@pytest.mark.parametrize(
    "sender",
    ["no-reply@shop.client.com", "noreply@client.com", "do-not-reply@client.com", "donotreply@x.com"],
)
def test_no_reply_senders_are_robots(sender):
    found = find_robot_sign("Your order", (), (sender, None), is_reply=False)
    assert found is not None and found.sign is Sign.NO_REPLY


@pytest.mark.parametrize("subject", ["Automatic reply: VPN down", "Abwesenheitsnotiz: VPN down", "Vacation"])
def test_unmarked_auto_reply_opens_a_ticket_without_ack(app, subject):
    outcome = deliver(app, make_message(subject=subject))
    assert outcome.state == "done" and outcome.ticket is not None
    assert outbox(app, template="ack") == []
    assert events(app, outcome.ticket)[0].data["automatic"] == "auto-reply"


@pytest.mark.parametrize(
    "headers,sender,envelope",
    [
        ({"X-Autorespond": "yes"}, REQUESTER, REQUESTER),
        ({"X-Apple-Action": "VACATION"}, REQUESTER, REQUESTER),
        ({"X-Mailer": "Vacation 4.2"}, REQUESTER, REQUESTER),
        ({"Return-Path": "<>"}, REQUESTER, REQUESTER),  # an earlier hop recorded an empty envelope sender
        ({}, "no-reply@shop.client.com", "no-reply@shop.client.com"),
        ({"Mailing-List": "contact users-help@lists.client.com; run by ezmlm"}, REQUESTER, REQUESTER),
    ],
    ids=["x-autorespond", "apple", "x-mailer", "return-path", "no-reply", "ezmlm"],
)
def test_unmarked_robots_get_no_ack(app, headers, sender, envelope):
    outcome = deliver(
        app, make_message(subject="VPN down", sender=sender, headers=headers), mail_from=envelope
    )
    assert outcome.ticket is not None
    assert outbox(app, template="ack") == []
    assert outbox(app, to=sender) == []


@pytest.mark.parametrize("subject", PERSON_SUBJECTS)
def test_a_person_still_gets_an_ack(app, subject):
    deliver(app, make_message(subject=subject))
    assert [row.status for row in outbox(app, template="ack")] == ["queued"]


def _open(app: App) -> int:
    number = deliver(app, make_message(subject="VPN down")).ticket
    assert number is not None
    return number


@pytest.mark.parametrize(
    "subject,headers",
    [
        ("Automatic reply: [Support #{n}] New ticket for Front desk: VPN down [close] [level=2]", {}),
        ("Réponse automatique : [Support #{n}] VPN down [close]", {}),
        ("Re: [Support #{n}] VPN down [close] [level=2]", {"X-Autoreply": "yes"}),
    ],
    ids=["english", "french", "x-autoreply"],
)
def test_a_technicians_vacation_reply_is_not_an_answer(desk, app, subject, headers):
    number = _open(app)
    before = ticket(app, number)
    sent_before = len(outbox(app))
    signed = desk.signed(number, "alice@example.org")
    data = make_message(
        subject=subject.format(n=number),
        body="I am on holiday until 3 January; for urgent matters call the front desk.\n",
        sender="alice@example.org",
        to=signed,
        headers=headers,
    )
    outcome = deliver(app, data, mail_from="alice@example.org", rcpt_tos=(signed,))

    assert outcome.ticket == number
    after = ticket(app, number)
    # Never relayed, never a response: no mail at all, no status change, no clock reset, no command.
    assert len(outbox(app)) == sent_before
    assert outbox(app, to=REQUESTER, template="reply") == []
    assert (after.status, after.level, after.assignee) == ("new", 1, None)
    assert after.first_response_at is None
    assert (after.escalate_due_at, after.first_response_due_at) == (
        before.escalate_due_at,
        before.first_response_due_at,
    )
    types = [event.type for event in events(app, number)]
    assert "command" not in types and "reply" not in types and "status" not in types
    last = events(app, number)[-1]
    assert (last.type, last.data.get("automatic")) == ("message", "auto-reply")


def test_a_requesters_unmarked_auto_reply_neither_reopens_nor_tells_the_level(desk, app):
    number = _open(app)
    signed = desk.signed(number, "alice@example.org")
    closing = make_message(
        subject=f"Re: [Support #{number}] VPN down [close]",
        body="Restart the client.\n",
        sender="alice@example.org",
        to=signed,
    )
    deliver(app, closing, mail_from="alice@example.org", rcpt_tos=(signed,))
    assert ticket(app, number).status == "closed"
    sent_before = len(outbox(app))
    deliver(app, make_message(subject=f"Out of Office: [Support #{number}] Ticket closed: VPN down"))
    assert ticket(app, number).status == "closed"
    assert len(outbox(app)) == sent_before
