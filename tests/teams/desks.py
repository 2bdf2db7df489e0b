"""Desk configs with teams, an office calendar, a catalogue and an organisation, for the team tests."""

from __future__ import annotations

from pathlib import Path

from tests.support import Desk

ALICE, BOB, CAROL, DAVE, ERIN = (f"{name}@example.org" for name in ("alice", "bob", "carol", "dave", "erin"))
LEVEL1 = "support@example.org"
FUNCTIONAL = "support-functional@example.org"
TECHNICAL = "support-l2@example.org"
EXPERTS = "support-l3@example.org"

TEAM_LEVELS = f"""
[[levels]]
id = 1
name = "Front desk"
address = "{LEVEL1}"
members = ["{ALICE}", "{BOB}"]
escalate_after = "4h"
calendar = "office"

[[levels]]
id = 2
name = "Back desk"
escalate_after = "1d"

  [[levels.teams]]
  name = "functional"
  address = "{FUNCTIONAL}"
  members = ["{CAROL}"]
  handles = {{ category = ["functional", "regulatory"] }}

  [[levels.teams]]
  name = "technical"
  address = "{TECHNICAL}"
  members = ["{ERIN}"]

[[levels]]
id = 3
name = "Experts"
escalate_after = "2d"

  [[levels.teams]]
  name = "erp-experts"
  address = "erp-experts@example.org"
  members = ["{DAVE}"]
  handles = {{ application = ["ERP"] }}

  [[levels.teams]]
  name = "experts"
  address = "{EXPERTS}"
  members = ["frank@example.org"]
"""

CATALOGUE = """
[calendars.office]
timezone = "Europe/Paris"
mon = ["08:30-12:30", "13:30-18:00"]
tue = ["08:30-12:30", "13:30-18:00"]
wed = ["08:30-12:30", "13:30-18:00"]
thu = ["08:30-12:30", "13:30-18:00"]
fri = ["08:30-12:30", "13:30-18:00"]
country = "FR"

[[applications]]
name = "ERP"
aliases = ["SAP", "progiciel de gestion"]
team = "functional"
supported_since = "2026-03-01"

[[applications]]
name = "Messagerie"
aliases = ["Outlook", "courriel", "e-mail", "boîte mail"]

[[organisations]]
name = "Client SA"
domains = ["client.com", "client.fr"]
rate = 90.0
"""

RULES = """
[[rule]]
name = "regulatory requests"
if.subject = "(?i)RGPD|GDPR"
set.category = "regulatory"
set.level = 2

[[rule]]
name = "network to the technical team"
if.subject = "(?i)network outage"
set.team = "technical"
"""


def team_desk(directory: Path, **kwargs) -> Desk:
    """A desk with the levels, calendar, catalogue and organisation above."""
    kwargs.setdefault("rules", RULES)
    return Desk(directory, levels=TEAM_LEVELS, extra=CATALOGUE, **kwargs)
