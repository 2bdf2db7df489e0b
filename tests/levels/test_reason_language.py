"""Refusals and escalation reasons are said in the language of the mail, not pasted in English."""

from __future__ import annotations

import pickle
from datetime import timedelta

import pytest

from maildesk.runtime.sweep import sweep
from tests.levels.helpers import ALICE, BOB, CAROL, LEVEL1, SUPERVISOR, Local, body_text, parse
from tests.support import Desk

ENGLISH = (
    "unknown command",
    "must be one of",
    "no such level",
    "only accepted when you reply",
    "no technician reply",
    "your text was not sent",
    "no knowledge-base article",
)


@pytest.fixture
def french(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink)
    text = desk.config.read_text()
    assert 'language = "en"\n' in text
    desk.config.write_text(text.replace('language = "en"\n', 'language = "fr"\n'))
    local = Local(desk)
    yield local
    local.close()


def _only_mail_text(desk: Local, template: str, to: str, *, since: int) -> str:
    """The text of the one ``template`` mail to ``to`` queued after outbox row ``since``."""
    (mail,) = desk.outbox(template, to, since=since)
    return body_text(parse(mail))


def _no_english(text: str) -> None:
    for sentence in ENGLISH:
        assert sentence not in text, sentence


def test_a_french_technician_error_mail_gives_its_reasons_in_french(french):
    number = french.new_ticket()
    mark = french.last_outbox_id()

    french.technician(
        number, ALICE, "[urgency=extreme] [level=9] [foo=bar] [known=nope] [comment]", body="Note interne.\n"
    )

    text = _only_mail_text(french, "command_error", ALICE, since=mark)
    assert "[foo=bar] : commande inconnue" in text
    assert "[urgency=extreme] : valeurs possibles : critical, high, normal, low" in text
    assert "[level=9] : ce niveau n'existe pas (niveaux : 1, 2)" in text
    assert "[known=nope] : aucun article" in text
    _no_english(text)
    # The ticket's history keeps the English sentence.
    refused = [e.data["refused"] for e in french.events(number, "command") if "refused" in (e.data or {})]
    assert "[foo=bar]: unknown command" in refused
    assert any(r.startswith("[urgency=extreme]: must be one of") for r in refused)


def test_a_held_back_text_is_said_in_french(french):
    number = french.new_ticket()
    mark = french.last_outbox_id()
    french.technician(number, ALICE, "[known=nope]", body="Voici la solution.\n")
    text = _only_mail_text(french, "command_error", ALICE, since=mark)
    assert "votre texte n'a pas été envoyé au demandeur" in text
    _no_english(text)


def test_a_french_authentication_refusal_is_in_french(french):
    number = french.new_ticket()
    mark = french.last_outbox_id()
    french.technician(number, ALICE, "[close]", to=[LEVEL1])
    text = _only_mail_text(french, "command_error", ALICE, since=mark)
    assert (
        f"pour le ticket #{number} ne sont acceptées que si vous répondez à l'adresse de réponse signée"
        in text
    )
    _no_english(text)


def test_a_french_escalation_gives_its_reason_in_french(french):
    number = french.new_ticket()
    due = french.ticket(number).escalate_due_at
    mark = french.last_outbox_id()

    assert sweep(french.app.db, french.app.pipeline, due + timedelta(seconds=1)) == 1

    text = _only_mail_text(french, "notify_level", CAROL, since=mark)
    assert "Motif : aucune réponse d'un technicien au niveau 1 en 4h" in text
    _no_english(text)
    (event,) = french.events(number, "escalation")
    assert event.data["reason"] == "no technician reply at level 1 within 4h"  # events stay in English

    # Past the last level: the supervisors' escalated mail, in French too.
    due = french.ticket(number).escalate_due_at
    mark = french.last_outbox_id()
    assert sweep(french.app.db, french.app.pipeline, due + timedelta(seconds=1)) == 1
    text = _only_mail_text(french, "escalated", SUPERVISOR, since=mark)
    assert "Motif : aucune réponse d'un technicien au niveau 2 en 24h" in text
    _no_english(text)


def test_a_french_first_response_breach_names_the_urgency_in_french(french):
    number = french.new_ticket()
    french.technician(number, ALICE, "[urgency=critical] [comment]", body="critique\n")
    ticket = french.ticket(number)
    mark = french.last_outbox_id()
    assert sweep(french.app.db, french.app.pipeline, ticket.created_at + timedelta(minutes=31)) == 1
    text = _only_mail_text(french, "notify_level", CAROL, since=mark)
    assert "délai de première réponse dépassé pour l'urgence critique" in text
    assert "first-response target" not in text


def test_the_requesters_reply_is_announced_in_french(french):
    from tests.levels.helpers import REQUESTER, requester_mail

    number = french.new_ticket()
    mark = french.last_outbox_id()
    french.deliver(requester_mail(number, body="Toujours en panne.\n"))
    notices = french.outbox("notify_level", since=mark)
    assert {n.to_addr for n in notices} == {ALICE, BOB}
    assert f"Motif : {REQUESTER} a répondu" in body_text(parse(notices[0]))


def test_technician_mail_stays_in_the_desk_language_whatever_the_tickets(tmp_path, sink):
    rules = '[[rule]]\nname = "French"\nif.from_domain = "client.fr"\nset.language = "fr"\n'
    local = Local(Desk(tmp_path / "desk", sink=sink, rules=rules))
    try:
        number = local.new_ticket(sender="marie@client.fr")
        assert local.ticket(number).language == "fr"
        mark = local.last_outbox_id()
        local.technician(number, ALICE, "[urgency=extreme] [comment]", body="note\n")
        (error,) = local.outbox("command_error", ALICE, since=mark)
        assert "[urgency=extreme]: must be one of" in body_text(parse(error))  # desk language: English
    finally:
        local.close()


def test_the_contexts_of_reasons_are_plain_picklable_values(french):
    from maildesk.notify.plan import plan
    from maildesk.tickets.store import TicketStore
    from maildesk.types import Reason, TicketChange

    view = TicketStore.view(french.ticket(french.new_ticket()))
    change = TicketChange(
        ticket=view,
        message_id="<x@client.com>",
        references=(),
        author=ALICE,
        author_name="",
        text="",
        level_reached=2,
        reasons=(Reason.of("no_reply_at_level", level=1, after="4h"),),
        command_errors=(Reason.of("last_level", level=2),),
    )
    mails = plan(change, french.app.pipeline.settings, b"secret")
    assert {m.template for m in mails} == {"notify_level", "command_error"}
    for notification in mails:
        assert pickle.loads(pickle.dumps(notification.context)) == notification.context
        assert all(
            type(r) is dict for r in notification.context["reasons"] + notification.context["refusals"]
        )
