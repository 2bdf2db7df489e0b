"""Admin rules on a live daemon: requests over SMTP are qualified, forwarded, answered or dropped; guards win."""

from __future__ import annotations

import uuid

import pytest

from tests.support import Desk, cli_json, db_rows, make_message, wait_inbox_drained, wait_until

pytestmark = pytest.mark.slow

RULES = """
[[rule]]
name = "VPN incidents to the back desk"
if.subject = '(?i)\\bvpn\\b'
set.category = "technical"
set.kind = "incident"
set.urgency = "high"
set.application = "VPN"
set.level = 2
set.assignee = "carol@example.org"
set.tags = ["network", "remote-access"]

[[rule]]
name = "French-speaking requesters"
if.from_domain = "client.fr"
set.language = "fr"
set.tags = ["fr", "network"]

[[rule]]
name = "phishing to the CERT"
if.subject = '(?i)phishing'
forward = ["cert@example.org"]

[[rule]]
name = "password reset"
if.subject = '(?i)forgot(ten)? (my )?password'
set.tags = ["password"]
answer = "password-reset"

[[rule]]
name = "ERP questions"
if.subject = '(?i)\\berp\\b'
set.application = "ERP"

[[rule]]
name = "lottery spam"
if.subject = '(?i)lottery'
drop = true
stop = true
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory, shared_sink):
    """One daemon with the rules above; each test writes from its own requester."""
    desk = Desk(tmp_path_factory.mktemp("rules-e2e") / "desk", sink=shared_sink, rules=RULES)
    desk.start()
    yield desk
    code = desk.stop()
    assert code == 0, desk.log()


def requester(domain: str = "client.com") -> str:
    return f"user-{uuid.uuid4().hex[:8]}@{domain}"


def send(desk: Desk, sender: str, subject: str, body: str = "Hello,\nplease help.\n", **headers: str) -> str:
    message_id = f"<{uuid.uuid4().hex}@client.com>"
    desk.send(
        make_message(
            subject=subject, body=body, sender=sender, message_id=message_id, headers=headers or None
        ),
        mail_from=sender,
    )
    return message_id


def ticket_of(desk: Desk, sender: str) -> dict:
    """The one ticket ``sender`` opened, with its events."""
    rows = wait_until(
        lambda: cli_json(desk.config, "tickets", "list", "--status", "all", "--requester", sender),
        timeout=20,
        what=f"a ticket from {sender}",
    )
    assert len(rows) == 1, rows
    return cli_json(desk.config, "tickets", "show", str(rows[0]["number"]))


def rules_event(ticket: dict) -> dict:
    found = [event for event in ticket["events"] if event["type"] == "rules"]
    assert len(found) == 1, ticket["events"]
    return found[0]


def outbox_rows(desk: Desk, number: int) -> list[tuple[str, str]]:
    """(template, recipient) of every mail queued about ticket ``number``, in order."""
    return db_rows(
        desk.db_url, "SELECT template, to_addr FROM outbox WHERE ticket = :n ORDER BY id", n=number
    )


def wait_sent(desk: Desk, number: int) -> None:
    """Until no mail about the ticket is still waiting to go out."""
    wait_until(
        lambda: (
            not db_rows(desk.db_url, "SELECT 1 FROM outbox WHERE ticket = :n AND status = 'queued'", n=number)
        ),
        timeout=20,
        what=f"mail about ticket {number} sent",
    )


def test_rules_qualify_a_live_ticket_and_the_decision_is_recorded(running, shared_sink):
    sender = requester("client.fr")
    send(running, sender, "VPN down since this morning")
    ticket = ticket_of(running, sender)

    assert {
        key: ticket[key]
        for key in ("category", "kind", "urgency", "application", "level", "assignee", "tags", "status")
    } == {
        "category": "technical",
        "kind": "incident",
        "urgency": "high",
        "application": "VPN",
        "level": 2,
        "assignee": "carol@example.org",
        "tags": ["network", "remote-access", "fr"],
        "status": "new",
    }
    event = rules_event(ticket)
    assert event["data"]["matched"] == ["VPN incidents to the back desk", "French-speaking requesters"]
    assert event["data"]["set"] == {
        "category": "technical",
        "kind": "incident",
        "urgency": "high",
        "application": "VPN",
        "level": 2,
        "assignee": "carol@example.org",
        "language": "fr",
        "tags": ["network", "remote-access", "fr"],
    }
    assert (
        event["data"]["forward"] == [] and event["data"]["answer"] is None and event["data"]["drop"] is False
    )

    # set.language = "fr": the acknowledgement is French; set.level = 2: its member is told, level 1's are not
    (ack,) = shared_sink.wait_for(lambda m: sender in str(m["To"]).lower(), what=f"ack to {sender}")
    assert "Demande reçue" in str(ack["Subject"])
    assert "Nous avons bien reçu votre demande" in ack.get_body(("plain",)).get_content()
    tag = f"[Support #{ticket['number']}]"
    shared_sink.wait_for(
        lambda m: "carol@example.org" in str(m["To"]) and tag in str(m["Subject"]),
        what="notify_level to carol",
    )
    wait_sent(running, ticket["number"])
    assert sorted(outbox_rows(running, ticket["number"])) == [
        ("ack", sender),
        ("notify_level", "carol@example.org"),
    ]


def test_the_rules_event_traces_which_rule_set_what(running, shared_sink):
    sender = requester()
    send(running, sender, "VPN drops whenever I open the ERP")
    ticket = ticket_of(running, sender)

    assert ticket["application"] == "ERP"  # two rules set it: the later one wins, and the trace shows both
    data = rules_event(ticket)["data"]
    assert data["matched"] == ["VPN incidents to the back desk", "ERP questions"]
    assert data["set"]["application"] == "ERP" and data["set"]["language"] is None
    assert data["trace"] == [
        {
            "rule": "VPN incidents to the back desk",
            "set": {
                "category": "technical",
                "kind": "incident",
                "urgency": "high",
                "application": "VPN",
                "level": 2,
                "assignee": "carol@example.org",
                "tags": ["network", "remote-access"],
            },
            "forward": [],
            "answer": None,
            "drop": None,
            "stop": False,
        },
        {
            "rule": "ERP questions",
            "set": {"application": "ERP"},
            "forward": [],
            "answer": None,
            "drop": None,
            "stop": False,
        },
    ]


def test_no_matching_rule_gives_the_defaults_and_still_records_the_decision(running, shared_sink):
    sender = requester()
    send(running, sender, "Printer on floor 3 is jammed")
    ticket = ticket_of(running, sender)

    assert (ticket["kind"], ticket["category"], ticket["urgency"], ticket["level"], ticket["tags"]) == (
        "request",
        None,
        "normal",
        1,
        [],
    )
    event = rules_event(ticket)
    assert event["data"]["matched"] == []
    assert event["data"]["set"] == {
        "category": None,
        "kind": "request",
        "urgency": "normal",
        "application": None,
        "level": 1,
        "assignee": None,
        "language": None,
        "tags": [],
    }
    assert event["data"]["trace"] == []  # every value above is a default: no rule set it
    (ack,) = shared_sink.wait_for(lambda m: sender in str(m["To"]).lower(), what=f"ack to {sender}")
    assert "Request received" in str(ack["Subject"])


def test_forward_delivers_a_copy_and_the_requester_is_still_acknowledged(running, shared_sink):
    sender = requester()
    body = "Hello,\nI got a phishing mail asking for my bank details: token-7f3a9.\n"
    send(running, sender, "Phishing attempt", body=body)
    ticket = ticket_of(running, sender)
    tag = f"[Support #{ticket['number']}]"

    (copy,) = shared_sink.wait_for(
        lambda m: "cert@example.org" in str(m["To"]).lower() and tag in str(m["Subject"]),
        what="forwarded copy to the CERT",
    )
    text = copy.get_body(("plain",)).get_content()
    assert "token-7f3a9" in text and sender in text
    assert copy["X-Maildesk-Ticket"] == str(ticket["number"])
    assert copy["Reply-To"] == running.signed(ticket["number"], "cert@example.org")
    envelope = [rcpts for _from, rcpts, data in shared_sink.messages if b"token-7f3a9" in data]
    assert ["cert@example.org"] in envelope
    (ack,) = shared_sink.wait_for(lambda m: sender in str(m["To"]).lower(), what=f"ack to {sender}")
    assert "Request received" in str(ack["Subject"])
    assert rules_event(ticket)["data"]["forward"] == ["cert@example.org"]


def test_answer_closes_at_once_with_the_article_and_sends_no_ack(running, shared_sink):
    sender = requester()
    send(running, sender, "I forgot my password", body="Hello,\nI cannot log in any more.\nUna\n")
    ticket = ticket_of(running, sender)

    assert ticket["status"] == "closed" and ticket["closed_at"] is not None
    assert rules_event(ticket)["data"]["answer"] == "password-reset"
    (closed,) = shared_sink.wait_for(lambda m: sender in str(m["To"]).lower(), what=f"answer to {sender}")
    assert "Resolved" in str(closed["Subject"])
    text = closed.get_body(("plain",)).get_content()
    assert "How to reset your password" in text and "https://password.example.org" in text
    # the request is not quoted back as if it were the answer, nor the mail signed with the requester's name
    assert "I cannot log in" not in text and "Una User" not in text
    wait_sent(running, ticket["number"])
    assert outbox_rows(running, ticket["number"]) == [("closed", sender)]
    assert len(shared_sink.to(sender)) == 1


def test_drop_keeps_the_message_as_rejected_and_makes_no_ticket_and_sends_nothing(running, shared_sink):
    sender = requester()
    message_id = send(running, sender, "You are our lottery winner")
    (stored,) = db_rows(running.db_url, "SELECT COUNT(*) FROM inbox")
    wait_inbox_drained(running.db_url, stored[0])

    entries = [q for q in cli_json(running.config, "quarantine", "list") if q["message_id"] == message_id]
    assert len(entries) == 1
    assert entries[0]["status"] == "rejected" and entries[0]["mail_from"] == sender
    assert "lottery spam" in entries[0]["reason"]
    assert cli_json(running.config, "tickets", "list", "--status", "all", "--requester", sender) == []
    assert db_rows(running.db_url, "SELECT ticket FROM inbox WHERE message_key = :k", k=message_id) == [
        (None,)
    ]
    assert db_rows(running.db_url, "SELECT COUNT(*) FROM outbox WHERE to_addr = :a", a=sender) == [(0,)]
    assert shared_sink.to(sender) == []


def test_guards_beat_rules_an_auto_reply_gets_no_answer_and_stays_open(running, shared_sink):
    sender = requester()
    send(running, sender, "Automatic reply: I forgot my password", **{"Auto-Submitted": "auto-replied"})
    ticket = ticket_of(running, sender)
    wait_sent(running, ticket["number"])

    assert ticket["status"] == "new" and ticket["closed_at"] is None
    assert rules_event(ticket)["data"]["matched"] == ["password reset"]
    (message,) = [event for event in ticket["events"] if event["type"] == "message"]
    assert message["data"]["automatic"]
    assert [row for row in outbox_rows(running, ticket["number"]) if row[1] == sender] == []
    assert shared_sink.to(sender) == []


def test_level_0_answers_count_against_the_hourly_cap_like_acknowledgements(running, shared_sink):
    sender = requester()
    for _ in range(6):  # the default cap is 5 automatic mails per recipient and hour
        send(running, sender, "Forgot password again")
    rows = wait_until(
        lambda: (
            len(
                found := cli_json(running.config, "tickets", "list", "--status", "all", "--requester", sender)
            )
            == 6
            and found
        ),
        timeout=20,
        what="six tickets",
    )
    assert {row["status"] for row in rows} == {"closed"}
    for row in rows:
        wait_sent(running, row["number"])
    statuses = db_rows(
        running.db_url, "SELECT template, status FROM outbox WHERE to_addr = :a ORDER BY id", a=sender
    )
    assert statuses == [("closed", "sent")] * 5 + [("closed", "suppressed")]
    assert len(shared_sink.to(sender)) == 5
