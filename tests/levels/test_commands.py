"""Technician commands of SPEC section 6: each one, their values, errors, and what reaches the requester."""

from __future__ import annotations

import pytest

from maildesk.tickets.commands import COMMANDS, parse_commands
from maildesk.types import Command
from tests.levels.helpers import (
    ALICE,
    BOB,
    CAROL,
    LEVEL2,
    RELAYED,
    REPLY_BODY,
    REQUESTER,
    body_text,
    parse,
)
from tests.support import Desk

# -- parsing -------------------------------------------------------------------------


def test_every_spec_command_is_registered():
    assert set(COMMANDS) == {
        "close",
        "pending",
        "open",
        "reopen",
        "comment",
        "take",
        "assign",
        "escalate",
        "level",
        "team",
        "urgency",
        "category",
        "kind",
        "application",
        "time",
        "problem",
        "known",
        "kb",
        "spam",
        "publish",
    }


def test_several_commands_parse_from_one_subject_after_the_tag():
    commands, unknown = parse_commands(
        "Re: [Support #42] VPN down [close] [time=20m] [ Urgency = high ] [EXTERNAL]", "Support"
    )
    assert commands == [Command("close"), Command("time", "20m"), Command("urgency", "high")]
    assert unknown == []


def test_unknown_word_with_a_value_is_reported_but_a_bare_one_is_text():
    commands, unknown = parse_commands("Re: [Support #42] [URGENT] [foo=bar] [take]", "Support")
    assert commands == [Command("take")]
    assert unknown == ["[foo=bar]"]


def test_bracketed_words_of_the_tickets_own_subject_are_subject_text():
    original = "How do I [close] my account? Error [code=42]"
    reply = f"Re: [Support #5] {original}"
    assert parse_commands(reply, "Support", original) == ([], [])
    # A technician adding the same word again means it: one [close] is the subject's, the other counts.
    assert parse_commands(f"{reply} [close] [time=5m]", "Support", original) == (
        [Command("close"), Command("time", "5m")],
        [],
    )
    assert parse_commands(f"{reply} [ CLOSE ]", "Support", original)[0] == [Command("close")]


# -- first reply, relay, stripping ------------------------------------------------------


def test_first_technician_reply_opens_the_ticket_and_goes_to_the_requester_stripped(local):
    number = local.new_ticket()
    assert local.ticket(number).status == "new"
    mark = local.last_outbox_id()

    local.technician(number, ALICE)

    ticket = local.ticket(number)
    assert ticket.status == "open"
    assert ticket.first_response_at is not None
    (reply,) = local.outbox("reply", REQUESTER, since=mark)
    text = body_text(parse(reply))
    assert RELAYED in text
    assert "the VPN fails since this morning" not in text  # quoted history stripped
    assert "Alice Martin" not in text  # signature stripped
    assert parse(reply)["Reply-To"] == local.desk.signed(number, REQUESTER)
    (event,) = local.events(number, "reply")
    assert event.from_addr == ALICE and event.text.strip() == RELAYED
    assert local.outbox("command_error", since=mark) == []


def test_a_later_reply_keeps_the_first_response_time(local):
    number = local.new_ticket()
    local.technician(number, ALICE)
    first = local.ticket(number).first_response_at
    local.technician(number, BOB, body="Any news?\n")
    assert local.ticket(number).first_response_at == first


# -- status commands ------------------------------------------------------------------------


def test_close_sends_the_closure_mail_records_closed_at_and_files_the_answer(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()

    local.technician(number, ALICE, "[close]")

    ticket = local.ticket(number)
    assert ticket.status == "closed" and ticket.closed_at is not None
    assert ticket.first_response_at is not None
    (closed,) = local.outbox("closed", REQUESTER, since=mark)
    assert RELAYED in body_text(parse(closed))
    assert local.outbox("reply", REQUESTER, since=mark) == []  # one mail, the closure, not two
    filed = [a for a in local.articles() if a.source_ticket == number]
    assert len(filed) == 1 and RELAYED in filed[0].body
    assert [e.text for e in local.events(number, "command")] == ["[close]"]


def test_close_without_kb_auto_update_files_nothing(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink, extra="")
    config = desk.config.read_text().replace('[kb]\ndir = "kb"', '[kb]\ndir = "kb"\nauto_update = false')
    desk.config.write_text(config)
    from tests.levels.helpers import Local

    local = Local(desk)
    try:
        number = local.new_ticket()
        local.technician(number, ALICE, "[close]")
        assert local.ticket(number).status == "closed"
        assert [a for a in local.articles() if a.source_ticket == number] == []
    finally:
        local.close()


def test_pending_then_open_and_reopen(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.technician(number, ALICE, "[pending]", body="Which version of the client do you run?\n")
    assert local.ticket(number).status == "pending"
    (reply,) = local.outbox("reply", REQUESTER, since=mark)
    assert "Which version" in body_text(parse(reply))

    local.technician(number, ALICE, "[open] [comment]", body="Back on it.\n")
    assert local.ticket(number).status == "open"
    local.technician(number, ALICE, "[pending] [comment]", body="Waiting again.\n")
    assert local.ticket(number).status == "pending"
    local.technician(number, BOB, "[reopen] [comment]", body="Reopening.\n")
    assert local.ticket(number).status == "open"
    assert [e.text for e in local.events(number, "command")] == [
        "[pending]",
        "[open]",
        "[comment]",
        "[pending]",
        "[comment]",
        "[reopen]",
        "[comment]",
    ]


def test_reopen_of_a_closed_ticket(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[close]")
    local.technician(number, BOB, "[reopen] [comment]", body="Not fixed after all.\n")
    ticket = local.ticket(number)
    assert ticket.status == "open" and ticket.closed_at is None


def test_comment_is_an_internal_note(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()

    local.technician(number, ALICE, "[comment]", body="Probably the certificate renewal.\n")

    assert local.outbox(to=REQUESTER, since=mark) == []
    (note,) = local.events(number, "comment")
    assert "certificate renewal" in note.text
    assert local.events(number, "reply") == []
    assert local.ticket(number).first_response_at is None  # a note is not an answer


def test_spam_closes_silently(local):
    number = local.new_ticket(subject="Cheap watches")
    mark = local.last_outbox_id()

    local.technician(number, ALICE, "[spam]", body="junk\n")

    ticket = local.ticket(number)
    assert ticket.status == "closed" and ticket.closed_at is not None
    assert local.outbox(to=REQUESTER, since=mark) == []
    assert local.outbox(since=mark) == []
    assert [a for a in local.articles() if a.source_ticket == number] == []


BRACKETED_SUBJECT = "How do I [close] my account? Is this [spam]?"


def test_a_technician_reply_to_a_subject_with_bracketed_commands_runs_none_of_them(local):
    number = local.new_ticket(subject=BRACKETED_SUBJECT)
    mark = local.last_outbox_id()

    local.technician(number, ALICE, subject=BRACKETED_SUBJECT)

    ticket = local.ticket(number)
    assert ticket.status == "open" and ticket.closed_at is None
    (reply,) = local.outbox("reply", REQUESTER, since=mark)
    assert RELAYED in body_text(parse(reply))
    assert local.outbox("closed", since=mark) == []
    assert local.events(number, "command") == []
    assert local.outbox("command_error", since=mark) == []

    local.technician(number, BOB, "[close]", subject=BRACKETED_SUBJECT, body="Done: the account is closed.\n")

    ticket = local.ticket(number)
    assert ticket.status == "closed"
    assert len(local.outbox("closed", REQUESTER, since=mark)) == 1
    assert [e.text for e in local.events(number, "command")] == ["[close]"]


# -- assignee -----------------------------------------------------------------------------


def test_take_and_assign(local):
    number = local.new_ticket()
    local.technician(number, BOB, "[take] [comment]", body="mine\n")
    assert local.ticket(number).assignee == BOB
    local.technician(number, BOB, "[assign=carol@example.org] [comment]", body="over to Carol\n")
    assert local.ticket(number).assignee == CAROL


def test_assign_to_a_stranger_is_refused_and_the_technician_is_told(local):
    number = local.new_ticket()
    local.technician(number, BOB, "[take] [comment]", body="mine\n")
    mark = local.last_outbox_id()

    local.technician(number, BOB, "[assign=mallory@evil.example] [comment]", body="x\n")
    local.technician(number, BOB, "[assign=not-an-address] [comment]", body="x\n")

    assert local.ticket(number).assignee == BOB
    errors = local.outbox("command_error", since=mark)
    assert [row.to_addr for row in errors] == [BOB, BOB]
    assert "mallory@evil.example" in body_text(parse(errors[0]))
    assert "not an email address" in body_text(parse(errors[1]))
    assert local.outbox(to="mallory@evil.example") == []


# -- levels ---------------------------------------------------------------------------------


def test_escalate_moves_to_the_next_level_and_notifies_its_members(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()

    local.technician(number, ALICE, "[escalate] [comment]", body="Needs the VPN team.\n")

    ticket = local.ticket(number)
    assert ticket.level == 2
    (notice,) = local.outbox("notify_level", since=mark)
    assert notice.to_addr == CAROL
    assert parse(notice)["Reply-To"] == local.desk.signed(number, CAROL, LEVEL2)
    (event,) = local.events(number, "escalation")
    assert event.data["level"] == 2 and event.from_addr == ALICE
    assert local.outbox(to=REQUESTER, since=mark) == []


def test_level_moves_to_any_level_and_notifies_every_member_with_their_own_reply_to(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[level=2] [comment]", body="to level 2\n")
    mark = local.last_outbox_id()

    local.technician(number, CAROL, "[level=1] [comment]", body="back to you\n", level_address=LEVEL2)

    assert local.ticket(number).level == 1
    notices = local.outbox("notify_level", since=mark)
    assert sorted(row.to_addr for row in notices) == [ALICE, BOB]
    for row in notices:
        assert parse(row)["Reply-To"] == local.desk.signed(number, row.to_addr)


def test_escalate_at_the_last_level_is_refused(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[escalate] [comment]", body="up\n")
    mark = local.last_outbox_id()

    local.technician(number, CAROL, "[escalate] [comment]", body="up again\n", level_address=LEVEL2)

    assert local.ticket(number).level == 2
    (error,) = local.outbox("command_error", since=mark)
    assert error.to_addr == CAROL and "last level" in body_text(parse(error))
    assert local.outbox("notify_level", since=mark) == []
    assert local.outbox("escalated", since=mark) == []


def test_level_that_does_not_exist_is_refused(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.technician(number, ALICE, "[level=7] [comment]", body="x\n")
    assert local.ticket(number).level == 1
    (error,) = local.outbox("command_error", since=mark)
    assert "no such level" in body_text(parse(error))


# -- requalification --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "field", "value"),
    [
        ("[urgency=critical]", "urgency", "critical"),
        ("[category=functional]", "category", "functional"),
        ("[kind=incident]", "kind", "incident"),
        ("[application=Payroll]", "application", "Payroll"),
        ("[problem=vpn-outage-nov]", "problem", "vpn-outage-nov"),
    ],
)
def test_requalify(local, command, field, value):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.technician(number, ALICE, f"{command} [comment]", body="requalified\n")
    assert getattr(local.ticket(number), field) == value
    assert local.outbox("command_error", since=mark) == []
    assert command in [e.text for e in local.events(number, "command")]


@pytest.mark.parametrize(
    ("command", "field", "said"),
    [
        ("[urgency=extreme]", "urgency", "must be one of critical, high, normal, low"),
        ("[category=cosmic]", "category", "must be one of technical, functional, regulatory"),
        ("[kind=rant]", "kind", "must be one of incident, question, complaint, request"),
        ("[application=]", "application", "needs a value"),
        ("[time=forever]", "time_spent_s", "not a duration"),
    ],
)
def test_out_of_range_values_change_nothing_and_mail_the_technician(local, command, field, said):
    number = local.new_ticket()
    before = getattr(local.ticket(number), field)
    mark = local.last_outbox_id()

    local.technician(number, BOB, f"{command} [take]", body="x\n")

    ticket = local.ticket(number)
    assert getattr(ticket, field) == before
    assert ticket.assignee == BOB  # the good command in the same subject still counts
    (error,) = local.outbox("command_error", since=mark)
    assert error.to_addr == BOB
    assert said in body_text(parse(error))
    assert local.outbox("command_error", to=REQUESTER) == []


def test_a_refused_command_is_recorded_on_the_ticket_with_the_reason(local):
    number = local.new_ticket()
    local.technician(number, BOB, "[urgency=extreme] [foo=bar] [take] [comment]", body="x\n")

    shown = local.desk.ticket(number)
    commands = [(e["text"], e["data"]) for e in shown["events"] if e["type"] == "command"]
    refused = {text: data["refused"] for text, data in commands if "refused" in data}
    assert refused == {
        "[foo=bar]": "[foo=bar]: unknown command",
        "[urgency=extreme]": "[urgency=extreme]: must be one of critical, high, normal, low",
    }
    assert [text for text, data in commands if "refused" not in data] == ["[take]", "[comment]"]
    assert all(e["from"] == BOB for e in shown["events"] if e["type"] == "command")
    assert local.ticket(number).urgency == "normal"
    shown_text = local.desk.cli("tickets", "show", str(number)).stdout.decode()
    assert "refused=[urgency=extreme]: must be one of" in shown_text


def test_urgency_change_moves_the_targets(local):
    number = local.new_ticket()
    assert local.ticket(number).first_response_due_at is None  # normal urgency has no target in this config
    local.technician(number, ALICE, "[urgency=critical] [comment]", body="x\n")
    ticket = local.ticket(number)
    assert ticket.first_response_due_at is not None and ticket.resolve_due_at is not None


def test_time_adds_up(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[time=20m] [comment]", body="first look\n")
    local.technician(number, ALICE, "[time=20m] [comment]", body="second look\n")
    assert local.desk.ticket(number)["time_spent"] == "40m"
    local.technician(number, BOB, "[time=1h] [comment]", body="third look\n")
    assert local.desk.ticket(number)["time_spent"] == "1h40m"


# -- knowledge base ------------------------------------------------------------------------------


def test_known_answers_with_the_article_and_closes(local):
    number = local.new_ticket(subject="Cannot log in to the intranet")
    mark = local.last_outbox_id()

    local.technician(number, ALICE, "[known=password-reset]", body="See below.\n")

    ticket = local.ticket(number)
    assert ticket.status == "closed" and ticket.closed_at is not None
    (closed,) = local.outbox("closed", REQUESTER, since=mark)
    text = body_text(parse(closed))
    assert "How to reset your password" in text and "password.example.org" in text
    assert local.outbox("reply", since=mark) == []
    assert next(a for a in local.articles() if a.slug == "password-reset").uses >= 1


def test_known_with_an_unknown_slug_is_refused(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.technician(number, ALICE, "[known=no-such-article]", body="See below.\n")
    ticket = local.ticket(number)
    assert ticket.status != "closed"
    assert ticket.first_response_at is None  # nothing reached the requester
    (error,) = local.outbox("command_error", ALICE, since=mark)
    assert "no-such-article" in body_text(parse(error))
    assert "not sent to the requester" in body_text(parse(error))
    # "See below." with no article below would puzzle the requester: the text is held back, kept as a note.
    assert local.outbox(to=REQUESTER, since=mark) == []
    assert local.events(number, "reply") == []
    (note,) = local.events(number, "comment")
    assert note.text.strip() == "See below."


def test_a_refused_comment_does_not_relay_the_note(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.technician(number, ALICE, "[comment=yes]", body="Between us: the client is outdated.\n")
    assert local.outbox(to=REQUESTER, since=mark) == []
    (error,) = local.outbox("command_error", ALICE, since=mark)
    assert "takes no value" in body_text(parse(error))


def test_kb_files_the_answer_now_without_closing(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[kb]", body="Delete the VPN profile and import it again.\n")
    assert local.ticket(number).status == "open"
    (article,) = [a for a in local.articles() if a.source_ticket == number]
    assert "import it again" in article.body
    listed = local.desk.json("kb", "list", "--status", "draft")  # filed as a draft, for review
    assert any(item["source_ticket"] == number for item in listed)


# -- several commands, unknown ones ----------------------------------------------------------------


def test_several_commands_in_one_subject(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()

    local.technician(number, ALICE, "[take] [urgency=high] [category=technical] [time=15m] [pending]")

    ticket = local.ticket(number)
    assert (ticket.assignee, ticket.urgency, ticket.category, ticket.time_spent_s, ticket.status) == (
        ALICE,
        "high",
        "technical",
        900,
        "pending",
    )
    assert [e.text for e in local.events(number, "command")] == [
        "[take]",
        "[urgency=high]",
        "[category=technical]",
        "[time=15m]",
        "[pending]",
    ]
    assert len(local.outbox("reply", REQUESTER, since=mark)) == 1
    assert local.outbox("command_error", since=mark) == []


def test_unknown_command_with_a_value_earns_one_error_mail(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()

    local.technician(number, ALICE, "[foo=bar] [colour=blue] [EXTERNAL]")

    (error,) = local.outbox("command_error", since=mark)
    assert error.to_addr == ALICE
    text = body_text(parse(error))
    assert "[foo=bar]" in text and "[colour=blue]" in text and "EXTERNAL" not in text.split("Subject")[0]
    assert len(local.outbox("reply", REQUESTER, since=mark)) == 1  # the answer itself still goes out


def test_bare_unknown_word_is_plain_text(local):
    number = local.new_ticket()
    mark = local.last_outbox_id()
    local.technician(number, ALICE, "[EXTERNAL]")
    assert local.outbox("command_error", since=mark) == []
    assert len(local.outbox("reply", REQUESTER, since=mark)) == 1


# -- French ------------------------------------------------------------------------------------------

FRENCH_RULES = """
[[rule]]
name = "French speakers"
if.from_domain = "client.fr"
set.language = "fr"
"""


def test_french_ticket_gets_french_reply_and_closure(tmp_path, sink):
    from tests.levels.helpers import Local

    local = Local(Desk(tmp_path / "desk", sink=sink, rules=FRENCH_RULES))
    try:
        number = local.new_ticket(subject="VPN en panne", sender="marie@client.fr")
        assert local.ticket(number).language == "fr"
        mark = local.last_outbox_id()
        local.technician(number, ALICE, subject="VPN en panne", body="Redémarrez le client VPN.\n")
        (reply,) = local.outbox("reply", "marie@client.fr", since=mark)
        assert "Statut" in body_text(parse(reply)) and "Redémarrez" in body_text(parse(reply))

        local.technician(number, ALICE, "[close]", subject="VPN en panne", body="C'est réparé.\n")
        (closed,) = local.outbox("closed", "marie@client.fr", since=mark)
        assert closed.subject.startswith(f"[Support #{number}] Résolu")
        assert "C'est réparé." in body_text(parse(closed))
    finally:
        local.close()


# -- every command once, end to end through SMTP and the daemon ------------------------------------------


@pytest.mark.slow
def test_every_command_end_to_end(desk, sink):
    from tests.levels.helpers import LEVEL1, requester_mail, technician_mail

    desk.start()
    try:
        for subject, sender in (
            ("VPN down", REQUESTER),
            ("Printer jam", REQUESTER),
            ("Cannot log in to the intranet", REQUESTER),
            ("Cheap watches", "spammer@client.com"),
        ):
            desk.send(requester_mail(None, subject, sender=sender), mail_from=sender)
        tickets = sorted(desk.wait_for_tickets(4), key=lambda t: t["number"])
        vpn, printer, password, spam = (t["number"] for t in tickets)

        def tech(number, who, commands, body="Noted.\n", level_address=LEVEL1, subject="x"):
            data, recipients = technician_mail(
                desk, number, who, commands, body=body, subject=subject, level_address=level_address
            )
            desk.send(data, mail_from=who, to=recipients)

        tech(
            vpn,
            ALICE,
            "[take] [urgency=high] [category=functional] [kind=incident] [application=Remote access] "
            "[problem=vpn-outage] [time=20m]",
            body=REPLY_BODY,
        )
        tech(vpn, ALICE, "[comment] [time=20m] [assign=bob@example.org]", body="Bob knows the gateway.\n")
        tech(vpn, BOB, "[pending]", body="Does it fail on the office Wi-Fi too?\n")
        tech(vpn, BOB, "[open] [comment]")
        tech(vpn, BOB, "[pending] [comment]")
        tech(vpn, BOB, "[reopen] [comment]")
        tech(vpn, BOB, "[kb] [comment]", body="Gateway certificate expired; renewed it.\n")
        tech(vpn, BOB, "[urgency=extreme] [foo=bar] [EXTERNAL] [comment]")
        tech(vpn, BOB, "[close]", body="Fixed: the gateway certificate was renewed.\n")
        tech(printer, ALICE, "[escalate] [comment]", body="For the back desk.\n")
        tech(printer, CAROL, "[level=1] [comment]", level_address=LEVEL2, body="Front desk can do it.\n")
        tech(password, ALICE, "[known=password-reset]", body="Here is how.\n")
        tech(spam, ALICE, "[spam]")

        def received(to, word):
            return [m for m in sink.parsed() if m["To"] == to and word in str(m["Subject"])]

        sink.wait_for(
            lambda m: m["To"] == REQUESTER and f"#{vpn}] Resolved" in str(m["Subject"]), what="vpn closed"
        )
        sink.wait_for(
            lambda m: m["To"] == REQUESTER and f"#{password}] Resolved" in str(m["Subject"]),
            what="password closed",
        )
        sink.wait_for(
            lambda m: m["To"] == ALICE and f"#{printer}] Ticket for Front desk" in str(m["Subject"]),
            what="printer back at level 1",
        )
        sink.wait_for(
            lambda m: m["To"] == BOB and "Commands not applied" in str(m["Subject"]), what="bob's error"
        )

        shown = desk.ticket(vpn)
        assert {
            k: shown[k]
            for k in (
                "status",
                "urgency",
                "category",
                "kind",
                "application",
                "problem",
                "assignee",
                "time_spent",
            )
        } == {
            "status": "closed",
            "urgency": "high",
            "category": "functional",
            "kind": "incident",
            "application": "Remote access",
            "problem": "vpn-outage",
            "assignee": BOB,
            "time_spent": "40m",
        }
        assert shown["first_response_at"] is not None and shown["closed_at"] is not None
        commands = [e["text"] for e in shown["events"] if e["type"] == "command"]
        for expected in (
            "[take]",
            "[urgency=high]",
            "[category=functional]",
            "[kind=incident]",
            "[application=Remote access]",
            "[problem=vpn-outage]",
            "[time=20m]",
            "[comment]",
            "[assign=bob@example.org]",
            "[pending]",
            "[open]",
            "[reopen]",
            "[kb]",
            "[close]",
        ):
            assert expected in commands, expected
        replies = received(REQUESTER, f"#{vpn}] VPN down")
        assert len(replies) == 2  # the first answer and the [pending] question; the rest were comments
        first = body_text(replies[0])
        assert RELAYED in first and "Alice Martin" not in first and "> Hello" not in first
        (error,) = received(BOB, "Commands not applied")
        assert "extreme" in body_text(error) and "[foo=bar]" in body_text(error)
        assert any(a["source_ticket"] == vpn for a in desk.json("kb", "list", "--status", "draft"))

        shown = desk.ticket(printer)
        assert shown["level"] == 1
        assert [e["data"]["level"] for e in shown["events"] if e["type"] == "escalation"] == [2, 1]
        assert len(received(CAROL, f"#{printer}]")) == 1

        (answer,) = received(REQUESTER, f"#{password}] Resolved")
        assert "password.example.org" in body_text(answer)
        assert desk.ticket(password)["status"] == "closed"

        assert desk.ticket(spam)["status"] == "closed"
        assert [str(m["Subject"]) for m in sink.parsed() if m["To"] == "spammer@client.com"] == [
            f"[Support #{spam}] Request received: Cheap watches"
        ]
    finally:
        desk.stop()
