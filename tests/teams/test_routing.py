"""Tickets reach the right team: at creation, by escalation, by [team=] and by mail to a team's address;
its members are told, and no one else."""

from __future__ import annotations

from datetime import timedelta

from maildesk.runtime.sweep import sweep
from tests.levels.helpers import REQUESTER, Local, parse
from tests.teams.desks import ALICE, BOB, CAROL, DAVE, ERIN, FUNCTIONAL, LEVEL1, TECHNICAL

TECHNICIANS = (ALICE, BOB, CAROL, DAVE, ERIN, "frank@example.org")


def told(local: Local, since: int = 0) -> set[str]:
    """Who got a notify_level mail since outbox id ``since``."""
    return {row.to_addr for row in local.outbox("notify_level", since=since)}


def test_a_request_goes_to_the_first_team_whose_handles_match(local):
    number = local.new_ticket("RGPD: right of access")  # the rule sets category regulatory and level 2
    ticket = local.ticket(number)
    assert (ticket.level, ticket.team, ticket.category) == (2, "functional", "regulatory")
    assert told(local) == {CAROL}


def test_set_team_puts_the_ticket_in_that_team_and_its_level(local):
    number = local.new_ticket("Network outage in building B")
    assert (local.ticket(number).level, local.ticket(number).team) == (2, "technical")
    assert told(local) == {ERIN}


def test_a_level_without_a_matching_team_uses_its_first_team_without_handles(local):
    number = local.new_ticket("Printer jammed")
    local.technician(number, ALICE, "[escalate]", body="For level 2.\n")
    assert (local.ticket(number).level, local.ticket(number).team) == (2, "technical")


def test_the_catalogue_names_the_application_and_its_team(local):
    number = local.new_ticket("Erreur SAP à la facturation")
    ticket = local.ticket(number)
    assert (ticket.application, ticket.level, ticket.team) == ("ERP", 1, "Front desk")
    since = local.last_outbox_id()
    local.technician(number, ALICE, "[escalate]", body="For level 2.\n")
    assert local.ticket(number).team == "functional"  # the application's team wins at its level
    assert told(local, since) == {CAROL}
    since = local.last_outbox_id()
    local.technician(number, CAROL, "[escalate]", body="For the experts.\n", level_address=FUNCTIONAL)
    assert (local.ticket(number).level, local.ticket(number).team) == (
        3,
        "erp-experts",
    )  # handles application
    assert told(local, since) == {DAVE}


def test_escalation_by_timer_keeps_the_matching_team_of_the_next_level(local):
    number = local.new_ticket("Question about the invoice")
    local.technician(number, ALICE, "[category=functional] [comment]", body="functional.\n")
    due = local.ticket(number).escalate_due_at
    since = local.last_outbox_id()
    assert sweep(local.app.db, local.app.pipeline, due + timedelta(seconds=1)) == 1
    ticket = local.ticket(number)
    assert (ticket.level, ticket.team) == (2, "functional")
    assert told(local, since) == {CAROL}
    (escalation,) = local.events(number, "escalation")
    assert escalation.data["team"] == "functional"


def test_team_command_moves_to_a_team_of_any_level_and_tells_only_its_members(local):
    number = local.new_ticket("Printer jammed")
    since = local.last_outbox_id()
    local.technician(number, ALICE, "[team=Experts]", body="Straight to the experts.\n")
    assert (local.ticket(number).level, local.ticket(number).team) == (3, "experts")
    assert told(local, since) == {"frank@example.org"}
    since = local.last_outbox_id()
    local.technician(
        number,
        "frank@example.org",
        "[team=technical]",
        body="No, technical.\n",
        level_address="support-l3@example.org",
    )
    assert (local.ticket(number).level, local.ticket(number).team) == (2, "technical")
    assert told(local, since) == {ERIN}


def test_an_unknown_team_is_refused_with_the_list_of_teams(local):
    number = local.new_ticket("Printer jammed")
    local.technician(number, ALICE, "[team=network]", body="hm\n")
    assert local.ticket(number).team == "Front desk"
    (error,) = local.outbox("command_error", to=ALICE)
    assert (
        "[team=network]: no such team (teams are Front desk, functional, technical"
        in parse(error).get_content()
    )


def test_mail_to_a_team_address_opens_the_ticket_in_that_team(local):
    number = local.new_ticket("Need a new account", to=FUNCTIONAL)
    assert (local.ticket(number).level, local.ticket(number).team) == (2, "functional")
    assert told(local) == {CAROL}
    ack = local.outbox("ack", to=REQUESTER)[0]
    assert parse(ack)["Reply-To"].startswith("support-functional+")  # signed with the team's address


def test_a_technician_hands_over_by_writing_to_a_team_address(local):
    number = local.new_ticket("Printer jammed")
    since = local.last_outbox_id()
    local.technician(number, ALICE, body="Erin, can you look?\n", cc=[TECHNICAL])
    assert (local.ticket(number).level, local.ticket(number).team) == (2, "technical")
    assert told(local, since) == {ERIN}
    notify = local.outbox("notify_level", to=ERIN, since=since)[0]
    assert parse(notify)["Reply-To"].startswith("support-l2+")


def test_a_hand_over_that_fails_command_auth_moves_nothing(local):
    number = local.new_ticket("Printer jammed")
    # Written to the bare level address and the team address, not the signed one: refused under "signed".
    local.technician(number, ALICE, body="Erin?\n", to=[LEVEL1], cc=[TECHNICAL])
    assert (local.ticket(number).level, local.ticket(number).team) == (1, "Front desk")


def test_team_members_act_through_their_team_signed_address(local):
    number = local.new_ticket("RGPD: deletion")
    local.technician(number, CAROL, "[close]", body="Done.\n", level_address=FUNCTIONAL)
    assert local.ticket(number).status == "closed"
    assert not local.outbox("command_error")


def test_organisation_and_team_in_json_and_csv(teams_desk, local):
    number = local.new_ticket("RGPD: access", sender="jo@client.fr")
    other = local.new_ticket("Printer jammed", sender="max@elsewhere.org")
    shown = teams_desk.json("tickets", "show", str(number))
    assert (shown["team"], shown["organisation"]) == ("functional", "Client SA")
    listed = teams_desk.tickets("--team", "functional")
    assert [t["number"] for t in listed] == [number]
    assert teams_desk.tickets("--team", "Front desk")[0]["organisation"] == "elsewhere.org"
    csv = teams_desk.cli("tickets", "list", "--format", "csv").stdout.decode().splitlines()
    assert (
        csv[0]
        == "number,status,level,team,urgency,category,application,requester,organisation,assignee,subject"
    )
    assert any(line.startswith(f"{other},new,1,Front desk,") and ",elsewhere.org," in line for line in csv)
    bad = teams_desk.cli("tickets", "list", "--team", "nobody", check=False)
    assert bad.returncode == 64 and b"no such team" in bad.stderr


def test_aliases_are_whole_words_case_and_accent_insensitive(local):
    def application(subject: str) -> str | None:
        return local.ticket(local.new_ticket(subject)).application

    assert application("Mon COURRIEL ne part plus") == "Messagerie"
    assert application("Le progiciel de gestion plante") == "ERP"
    assert application("Sapin de Noël pour le hall") is None  # SAP is a whole word only
    assert application("Problème e-mail") == "Messagerie"
    assert application("Ma BOITE MAIL est pleine") == "Messagerie"  # "boîte mail" without its accent
