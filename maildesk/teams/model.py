"""Who handles what: teams at each level, the application catalogue and client organisations.

Plain frozen values read from config.toml; ``choose_team`` is the one
routing decision (SPEC section 3): the catalogue's team for the ticket's
application, else the first team whose ``handles`` match, else the first
team without ``handles``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

#: What a team's ``handles`` may name, and the ticket field each one is matched against.
HANDLES_KEYS = ("category", "application", "kind")


@dataclass(frozen=True)
class Team:
    """A cell of a level: its own address (signed reply addresses are made from it) and members."""

    name: str
    level: int
    address: str
    members: tuple[str, ...] = ()
    # (key, lower-case values): the team takes tickets whose every named field is one of the values.
    handles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    implicit: bool = False  # made from a level written with address/members and no [[levels.teams]]

    def matches(self, category: str | None, application: str | None, kind: str | None) -> bool:
        """Whether ``handles`` names this ticket (a team without ``handles`` matches nothing here)."""
        if not self.handles:
            return False
        facts = {"category": category, "application": application, "kind": kind}
        return all((facts[key] or "").casefold() in values for key, values in self.handles)


@dataclass(frozen=True)
class Application:
    """A catalogued application: the words that name it, the team it goes to, when support started."""

    name: str
    aliases: tuple[str, ...] = ()
    team: str | None = None
    supported_since: date | None = None  # acceptance (recette / VA): reports count from here


@dataclass(frozen=True)
class Organisation:
    """A client organisation: requesters of these mail domains belong to it."""

    name: str
    domains: tuple[str, ...]
    rate: float | None = None  # per hour of [time=...], for billing


def choose_team(teams: Sequence[Team], category: str | None, application: str | None, kind: str | None,
                application_team: str | None = None) -> Team:  # fmt: skip
    """The team of ``teams`` (one level's, never empty) that a ticket with these fields goes to."""
    if application_team is not None:
        for team in teams:
            if team.name == application_team:
                return team
    for team in teams:
        if team.matches(category, application, kind):
            return team
    return next((team for team in teams if not team.handles), teams[0])
