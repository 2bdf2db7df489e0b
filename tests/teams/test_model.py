"""The routing decision and the catalogue on their own, without a desk."""

from __future__ import annotations

from maildesk.teams.catalogue import Catalogue
from maildesk.teams.model import Application, Team, choose_team

FUNCTIONAL = Team("functional", 2, "f@example.org", handles=(("category", ("functional", "regulatory")),))
ERP = Team("erp", 2, "e@example.org", handles=(("application", ("erp",)), ("kind", ("incident",))))
TECHNICAL = Team("technical", 2, "t@example.org")
LEVEL2 = (FUNCTIONAL, ERP, TECHNICAL)


def test_first_matching_handles_else_first_team_without_handles() -> None:
    assert choose_team(LEVEL2, "Regulatory", None, "request") is FUNCTIONAL
    assert choose_team(LEVEL2, "technical", "ERP", "incident") is ERP  # every key of handles must match
    assert choose_team(LEVEL2, "technical", "ERP", "question") is TECHNICAL
    assert choose_team(LEVEL2, None, None, None) is TECHNICAL
    assert choose_team((FUNCTIONAL, ERP), None, None, None) is FUNCTIONAL  # none without handles: the first


def test_the_catalogue_team_wins_when_it_is_at_this_level() -> None:
    assert choose_team(LEVEL2, "functional", "ERP", None, application_team="technical") is TECHNICAL
    assert choose_team(LEVEL2, "functional", "ERP", None, application_team="level3-team") is FUNCTIONAL


def test_catalogue_recognises_names_and_aliases_in_catalogue_order() -> None:
    catalogue = Catalogue(
        (
            Application("ERP", aliases=("SAP GUI", "progiciel")),
            Application("Mail", aliases=("Outlook", "C++")),
        )
    )
    assert catalogue.recognise("Outlook plante", "") == "Mail"
    assert catalogue.recognise("x", "le PROGICIEL et Outlook") == "ERP"  # ERP comes first in the catalogue
    assert catalogue.recognise("compilateur c++ cassé", "") == "Mail"
    assert catalogue.recognise("SAPGUI", "") is None
    assert catalogue.find("erp") is not None and catalogue.find("SAP") is None
    assert not Catalogue() and Catalogue().recognise("ERP", "") is None
