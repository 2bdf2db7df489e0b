"""The settings of one desk, as loaded from config.toml, and the questions the rest of the desk asks them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from maildesk.calendars import Calendar, Calendars
from maildesk.config.sections import (
    BillingSettings,
    DeskSettings,
    ImapIntake,
    KbSettings,
    Level,
    OutgoingSettings,
    ReportsSettings,
    SecuritySettings,
    SmtpIntake,
    UrgencyTarget,
)
from maildesk.teams.catalogue import Catalogue
from maildesk.teams.model import Application, Organisation, Team, choose_team


@dataclass(frozen=True)
class Settings:
    path: Path
    desk: DeskSettings
    database_url: str
    smtp: tuple[SmtpIntake, ...]
    imap: tuple[ImapIntake, ...]
    outgoing: OutgoingSettings
    security: SecuritySettings
    levels: tuple[Level, ...]
    urgency: dict[str, UrgencyTarget] = field(hash=False)
    kb: KbSettings
    reports: ReportsSettings
    billing: BillingSettings
    rule_files: tuple[Path, ...]
    templates_dir: Path
    timers_check_every: timedelta
    workers: int  # processes that parse and render off the write lock; 0: all in the calling process
    calendars: Calendars = field(default_factory=Calendars, hash=False)
    applications: tuple[Application, ...] = ()
    organisations: tuple[Organisation, ...] = ()

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def level(self, level_id: int) -> Level | None:
        return next((lvl for lvl in self.levels if lvl.id == level_id), None)

    def level_for_address(self, address: str) -> Level | None:
        team = self.team_for_address(address)
        return self.level(team.level) if team is not None else None

    # -- teams, calendars, applications, organisations (SPEC section 3) --------------------------

    @property
    def teams(self) -> tuple[Team, ...]:
        return tuple(team for lvl in self.levels for team in lvl.teams)

    def team(self, name: str | None) -> Team | None:
        """The team called ``name`` (case-insensitive), or None."""
        if not name:
            return None
        wanted = name.casefold()
        return next((team for team in self.teams if team.name.casefold() == wanted), None)

    @property
    def team_index(self) -> dict[str, tuple[str, int]]:
        """Each team's case-folded name -> (its name, its level): what ``set.team`` may name."""
        return {team.name.casefold(): (team.name, team.level) for team in self.teams}

    def team_for_address(self, address: str) -> Team | None:
        """The first team (in level order) whose address this is."""
        address = address.lower()
        return next((team for team in self.teams if team.address == address), None)

    def ticket_team(self, name: str | None, level_id: int) -> Team | None:
        """A ticket's team: the one it names when it is at that level, else the level's first team."""
        team = self.team(name)
        if team is not None and team.level == level_id:
            return team
        level = self.level(level_id)
        return level.teams[0] if level is not None and level.teams else None

    def route(
        self, level_id: int, category: str | None, application: str | None, kind: str | None
    ) -> Team | None:
        """The team of level ``level_id`` a ticket with these fields goes to (None: no such level)."""
        level = self.level(level_id)
        if level is None or not level.teams:
            return None
        catalogued = self.catalogue.find(application)
        return choose_team(level.teams, category, application, kind, catalogued.team if catalogued else None)

    @property
    def catalogue(self) -> Catalogue:
        # Built once per Settings (frozen: cached in the instance dict, not a field).
        cached = self.__dict__.get("_catalogue")
        if cached is None:
            cached = Catalogue(self.applications)
            object.__setattr__(self, "_catalogue", cached)
        return cached

    def organisation_for(self, address: str) -> str | None:
        """The ``[[organisations]]`` name of a requester's domain, else the domain itself."""
        domain = address.rpartition("@")[2].lower()
        if not domain:
            return None
        return next((org.name for org in self.organisations if domain in org.domains), domain)

    def carry_over(self) -> dict:
        """What migrations need from the config: each level's first team, the organisations' domains."""
        return {
            "level_teams": {lvl.id: lvl.teams[0].name for lvl in self.levels if lvl.teams},
            "organisations": {domain: org.name for org in self.organisations for domain in org.domains},
        }

    def level_calendar(self, level_id: int) -> Calendar:
        level = self.level(level_id)
        return self.calendars.get(level.calendar if level is not None else None)

    def urgency_calendar(self, urgency: str) -> Calendar:
        target = self.urgency.get(urgency)
        return self.calendars.get(target.calendar if target is not None else None)

    def next_level(self, level_id: int) -> Level | None:
        ids = [lvl.id for lvl in self.levels]
        if level_id not in ids:
            return None
        position = ids.index(level_id)
        return self.levels[position + 1] if position + 1 < len(ids) else None

    @property
    def desk_addresses(self) -> frozenset[str]:
        """Every address the desk receives on: the intake address, each level's and each team's."""
        return frozenset(
            {self.desk.address, *(lvl.address for lvl in self.levels), *(team.address for team in self.teams)}
        )

    @property
    def technicians(self) -> frozenset[str]:
        return frozenset(member for lvl in self.levels for member in lvl.members)

    @property
    def desk_domains(self) -> frozenset[str]:
        domains = {addr.rpartition("@")[2] for addr in self.desk_addresses}
        for intake in self.smtp:
            domains.update(intake.domains)
        return frozenset(domains)
