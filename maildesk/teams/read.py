"""Read ``[[levels]]`` with their teams, ``[calendars.NAME]``, ``[[applications]]`` and ``[[organisations]]``.

Called by ``maildesk.config.load_settings`` with its reader, so every
problem comes out as ``FILE:LINE: key: what is wrong`` like the rest of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from maildesk.calendars import Calendar, Calendars, read_calendar
from maildesk.teams.model import HANDLES_KEYS, Application, Organisation, Team
from maildesk.tomlpos import KeyPath, format_path

_LEVEL_KEYS = {"id", "name", "address", "members", "escalate_after", "calendar", "teams"}
_TEAM_KEYS = {"name", "address", "members", "handles"}


class Reader(Protocol):
    """The part of ``maildesk.config.reader.Reader`` used here."""

    def fail(self, key: KeyPath, message: str) -> None: ...
    def table(self, data: dict, key: KeyPath, allowed: set[str]) -> dict: ...
    def get(self, data: dict, key: KeyPath, kind: type | tuple[type, ...], default: Any) -> Any: ...
    def string_list(self, data: dict, key: KeyPath, default: tuple = ()) -> tuple[str, ...]: ...
    def address(self, data: dict, key: KeyPath, default: str) -> str: ...
    def addresses(self, data: dict, key: KeyPath) -> tuple[str, ...]: ...
    def duration(self, data: dict, key: KeyPath, default: timedelta | None) -> timedelta | None: ...


@dataclass(frozen=True)
class Choices:
    """The values ``handles`` may list for category and kind (the config's own lists)."""

    categories: tuple[str, ...]
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class LevelSpec:
    """What ``[[levels]]`` says about one level; ``maildesk.config.Level`` is built from it."""

    id: int
    name: str
    address: str
    members: tuple[str, ...]
    escalate_after: timedelta | None
    calendar: str | None
    teams: tuple[Team, ...]


def read_calendars(r: Reader, data: dict, default_timezone: str) -> tuple[tuple[str, Calendar], ...]:
    tables = data.get("calendars", {})
    if not isinstance(tables, dict):
        r.fail(("calendars",), "must be a table of [calendars.NAME] tables")
        return ()
    found: list[tuple[str, Calendar]] = []
    for name, table in tables.items():
        calendar, problems = read_calendar(name, table, default_timezone)
        for problem in problems:
            r.fail(("calendars", name, *problem.key), problem.message)
        if calendar is not None:
            found.append((name, calendar))
    return tuple(found)


def check_calendar_name(r: Reader, data: dict, key: KeyPath, calendars: Calendars) -> str | None:
    """The ``calendar`` key at ``key`` (None when absent), reported when it names no calendar."""
    name = r.get(data, key, str, None)
    if name is not None and name not in calendars:
        r.fail(key, f"{name!r} is not a calendar (known: {', '.join(calendars.names)})")
        return None
    return name


def read_applications(r: Reader, data: dict) -> tuple[Application, ...]:
    tables = data.get("applications", [])
    if not isinstance(tables, list):
        r.fail(("applications",), "must be an array of tables ([[applications]])")
        return ()
    found: list[Application] = []
    for index, table in enumerate(tables):
        key: KeyPath = ("applications", index)
        t = r.table(table, key, {"name", "aliases", "team", "supported_since"})
        name = r.get(t, key + ("name",), str, "").strip()
        if not name:
            r.fail(key + ("name",), "every application needs a name")
            continue
        if any(app.name.casefold() == name.casefold() for app in found):
            r.fail(key + ("name",), f"{name!r} is already in the catalogue")
        found.append(
            Application(
                name=name,
                aliases=tuple(a for a in r.string_list(t, key + ("aliases",)) if a.strip()),
                team=r.get(t, key + ("team",), str, None),
                supported_since=_date(r, t, key + ("supported_since",)),
            )
        )
    return tuple(found)


def _date(r: Reader, table: dict, key: KeyPath) -> date | None:
    value = r.get(table, key, (str, date), None)
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        r.fail(key, f'{value!r} is not a date like "2026-03-01"')
        return None


def check_application_teams(
    r: Reader, applications: tuple[Application, ...], teams: tuple[Team, ...]
) -> None:
    names = {team.name for team in teams}
    for index, app in enumerate(applications):
        if app.team is not None and app.team not in names:
            r.fail(
                ("applications", index, "team"),
                f"{app.team!r} is not a team (teams: {', '.join(sorted(names)) or 'none'})",
            )


def read_organisations(r: Reader, data: dict) -> tuple[Organisation, ...]:
    tables = data.get("organisations", [])
    if not isinstance(tables, list):
        r.fail(("organisations",), "must be an array of tables ([[organisations]])")
        return ()
    found: list[Organisation] = []
    owner: dict[str, str] = {}  # domain -> organisation
    for index, table in enumerate(tables):
        key: KeyPath = ("organisations", index)
        t = r.table(table, key, {"name", "domains", "rate"})
        name = r.get(t, key + ("name",), str, "").strip()
        if not name:
            r.fail(key + ("name",), "every organisation needs a name")
            continue
        if any(org.name == name for org in found):
            r.fail(key + ("name",), f"{name!r} is already an organisation")
        domains = tuple(d.strip().lower().lstrip("@") for d in r.string_list(t, key + ("domains",)))
        for domain in domains:
            if domain in owner:
                r.fail(key + ("domains",), f"{domain} is already in organisation {owner[domain]!r}")
            owner.setdefault(domain, name)
        rate = r.get(t, key + ("rate",), (int, float), None)
        if rate is not None and (isinstance(rate, bool) or rate < 0):
            r.fail(key + ("rate",), f"must be a positive number, not {rate!r}")
            rate = None
        found.append(Organisation(name=name, domains=domains, rate=float(rate) if rate is not None else None))
    return tuple(found)


def read_levels(
    r: Reader,
    data: dict,
    desk_address: str,
    applications: tuple[Application, ...],
    calendars: Calendars,
    choices: Choices,
) -> tuple[LevelSpec, ...]:
    tables = data.get("levels", [])
    if not isinstance(tables, list):
        r.fail(("levels",), "must be an array of tables ([[levels]])")
        tables = []
    levels: list[LevelSpec] = []
    seen_teams: dict[str, KeyPath] = {}
    for index, table in enumerate(tables):
        key: KeyPath = ("levels", index)
        t = r.table(table, key, _LEVEL_KEYS)
        level_id = r.get(t, key + ("id",), int, index + 1)
        name = r.get(t, key + ("name",), str, f"Level {index + 1}")
        has_teams = "teams" in t
        if "id" not in t or ("address" not in t and not has_teams):
            r.fail(key, "each [[levels]] needs an id and an address (or [[levels.teams]] with theirs)")
        address = r.address(t, key + ("address",), desk_address if index == 0 and not has_teams else "")
        members = r.addresses(t, key + ("members",))
        if has_teams:
            if members:
                r.fail(key + ("members",), "with [[levels.teams]], members belong to each team")
            teams = _read_teams(r, t, key, level_id, address, applications, seen_teams, choices)
        else:
            teams = (Team(name=name, level=level_id, address=address, members=members, implicit=True),)
        levels.append(
            LevelSpec(
                id=level_id,
                name=name,
                address=address or (teams[0].address if teams else ""),
                members=tuple(dict.fromkeys(m for team in teams for m in team.members)),
                escalate_after=r.duration(t, key + ("escalate_after",), None),
                calendar=check_calendar_name(r, t, key + ("calendar",), calendars),
                teams=teams,
            )
        )
    return tuple(levels)


def _read_teams(
    r: Reader,
    level: dict,
    key: KeyPath,
    level_id: int,
    level_address: str,
    applications: tuple[Application, ...],
    seen: dict[str, KeyPath],
    choices: Choices,
) -> tuple[Team, ...]:
    tables = level["teams"]
    if not isinstance(tables, list) or not tables:
        r.fail(key + ("teams",), "must be one or more [[levels.teams]] tables")
        return ()
    teams: list[Team] = []
    for index, table in enumerate(tables):
        tkey = key + ("teams", index)
        t = r.table(table, tkey, _TEAM_KEYS)
        name = r.get(t, tkey + ("name",), str, "").strip()
        if not name:
            r.fail(tkey + ("name",), "every team needs a name")
            continue
        if name.casefold() in seen:
            r.fail(
                tkey + ("name",), f"team {name!r} is already defined at {format_path(seen[name.casefold()])}"
            )
        seen.setdefault(name.casefold(), tkey)
        if "address" not in t and not level_address:
            r.fail(tkey, "each team needs an address (or the level one)")
        teams.append(
            Team(
                name=name,
                level=level_id,
                address=r.address(t, tkey + ("address",), level_address),
                members=r.addresses(t, tkey + ("members",)),
                handles=_read_handles(r, t, tkey + ("handles",), applications, choices),
            )
        )
    return tuple(teams)


def _read_handles(
    r: Reader, team: dict, key: KeyPath, applications: tuple[Application, ...], choices: Choices
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if "handles" not in team:
        return ()
    table = r.table(team["handles"], key, set(HANDLES_KEYS))
    known = {
        "category": choices.categories,
        "kind": choices.kinds,
        "application": tuple(app.name for app in applications),  # empty catalogue: any name
    }
    handles = []
    for name in HANDLES_KEYS:
        if name not in table:
            continue
        values = r.string_list(table, key + (name,))
        allowed = known[name]
        for value in values:
            if allowed and value.casefold() not in {a.casefold() for a in allowed}:
                r.fail(key + (name,), f"{value!r} is not one of: {', '.join(allowed)}")
        if not values:
            r.fail(key + (name,), "must list at least one value")
        handles.append((name, tuple(v.casefold() for v in values)))
    return tuple(handles)
