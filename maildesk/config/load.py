"""``load_settings``: config.toml read once, section by section, each problem reported as FILE:LINE: key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from maildesk.calendars import Calendars
from maildesk.config.reader import Reader
from maildesk.config.sections import (
    CATEGORIES,
    KINDS,
    URGENCIES,
    BillingSettings,
    DatabaseSection,
    DeskSettings,
    ImapIntake,
    KbSettings,
    Level,
    OutgoingSettings,
    ProcessingSection,
    ReportsSettings,
    RulesSection,
    SecuritySettings,
    SmtpIntake,
    TemplatesSection,
    TimersSection,
    UrgencyTarget,
)
from maildesk.config.settings import Settings
from maildesk.errors import ConfigError
from maildesk.teams.read import (
    Choices,
    check_application_teams,
    check_calendar_name,
    read_applications,
    read_calendars,
    read_levels,
    read_organisations,
)
from maildesk.tomlpos import KeyPath, TomlSyntaxError, read_toml

# Tables read by a section dataclass of their own; the others ([intake], [levels], [urgency],
# [calendars], [[applications]], [[organisations]]) are read below or by maildesk.teams.read.
_SECTIONS: dict[str, type] = {
    "desk": DeskSettings,
    "database": DatabaseSection,
    "outgoing": OutgoingSettings,
    "security": SecuritySettings,
    "kb": KbSettings,
    "reports": ReportsSettings,
    "billing": BillingSettings,
    "rules": RulesSection,
    "templates": TemplatesSection,
    "timers": TimersSection,
    "processing": ProcessingSection,
}
_TABLES = {*_SECTIONS, "intake", "levels", "urgency", "calendars", "applications", "organisations"}


def key_line(path: Path, key: KeyPath) -> int:
    """The line of ``key`` in the config file (else of its table, else 1), for errors found after loading."""
    try:
        return read_toml(path)[1].line_of(key)
    except TomlSyntaxError:
        return 1


def load_settings(path: Path | str) -> Settings:
    """Read and validate config.toml; raises ConfigError listing every problem."""
    path = Path(path)
    try:
        data, lines = read_toml(path)
    except TomlSyntaxError as exc:
        raise ConfigError([str(exc)]) from None
    problems: list[str] = []
    r = Reader(path, lines, problems)
    r.table(data, (), _TABLES)
    tables = {name: r.section(data.get(name, {}), (name,), section) for name, section in _SECTIONS.items()}
    read: dict[str, Any] = {
        name: r.fields(tables[name], (name,), section)
        for name, section in _SECTIONS.items()
        if name != "desk"
    }
    desk = r.fields(tables["desk"], ("desk",), DeskSettings)
    smtp, imap = _intake(r, data)

    calendars = Calendars(named=read_calendars(r, data, desk.timezone))
    default_calendar = check_calendar_name(r, tables["desk"], ("desk", "calendar"), calendars) or "always"
    calendars = Calendars(named=calendars.named, default=default_calendar)
    desk = replace(desk, calendar=default_calendar)
    applications = read_applications(r, data)
    levels = _levels(r, data, desk, applications, calendars)
    check_application_teams(r, applications, tuple(team for lvl in levels for team in lvl.teams))
    organisations = read_organisations(r, data)
    urgency = _urgency(r, data, calendars)
    reports: ReportsSettings = read["reports"]
    if reports.schedule and not reports.recipients:
        r.fail(("reports", "schedule"), "a scheduled report needs recipients (reports.recipients)")

    if problems:
        raise ConfigError(problems)
    return Settings(
        path=path,
        desk=desk,
        database_url=read["database"].url,
        smtp=smtp,
        imap=imap,
        outgoing=read["outgoing"],
        security=read["security"],
        levels=levels,
        urgency=urgency,
        kb=read["kb"],
        reports=reports,
        billing=read["billing"],
        rule_files=read["rules"].files,
        templates_dir=read["templates"].dir,
        timers_check_every=read["timers"].check_every or TimersSection().check_every,
        workers=read["processing"].workers,
        calendars=calendars,
        applications=applications,
        organisations=organisations,
    )


def _intake(r: Reader, data: dict) -> tuple[tuple[SmtpIntake, ...], tuple[ImapIntake, ...]]:
    """``[intake.smtp]`` (one table or several; one by default) and ``[[intake.imap]]``."""
    intake = r.table(data.get("intake", {}), ("intake",), {"smtp", "imap"})
    smtp_tables = intake.get("smtp", [{}] if "intake" not in data else [])
    single = isinstance(smtp_tables, dict)
    smtp = []
    for index, table in enumerate([smtp_tables] if single else smtp_tables):
        key: KeyPath = ("intake", "smtp") if single else ("intake", "smtp", index)
        t = r.section(table, key, SmtpIntake, extra=frozenset({"listen"}))
        host, port = _listen(r, key + ("listen",), r.get(t, key + ("listen",), str, "127.0.0.1:2525"))
        smtp.append(r.fields(t, key, SmtpIntake, host=host, port=port))

    imap_tables = intake.get("imap", [])
    imap = []
    for index, table in enumerate([imap_tables] if isinstance(imap_tables, dict) else imap_tables):
        key = ("intake", "imap", index)
        t = r.section(table, key, ImapIntake)
        if "host" not in t:
            r.fail(key, "host is required")
        name = r.get(t, key + ("name",), str, f"imap{index + 1}")
        imap.append(r.fields(t, key, ImapIntake, name=name, host=r.get(t, key + ("host",), str, "")))
    names = [i.name for i in imap]
    for index, name in enumerate(names):
        if names.index(name) != index:
            r.fail(("intake", "imap", index, "name"), f"{name!r} is used by another account")
    return tuple(smtp), tuple(imap)


def _listen(reader: Reader, key: KeyPath, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        reader.fail(key, f"{value!r} is not HOST:PORT")
        return SmtpIntake.host, SmtpIntake.port
    return host.strip("[]") or SmtpIntake.host, int(port)


def _levels(
    r: Reader, data: dict, desk: DeskSettings, applications: tuple, calendars: Calendars
) -> tuple[Level, ...]:
    """``[[levels]]`` with their teams; one front-desk level at the desk address when there are none."""
    specs = read_levels(r, data, desk.address, applications, calendars, Choices(CATEGORIES, KINDS))
    levels = [Level(**vars(spec)) for spec in specs]
    if not levels:
        levels.append(Level(id=1, name="Front desk", address=desk.address))
    ids = [lvl.id for lvl in levels]
    for index, level_id in enumerate(ids):
        if ids.index(level_id) != index:
            r.fail(("levels", index, "id"), f"level id {level_id} is used twice")
    return tuple(levels)


def _urgency(r: Reader, data: dict, calendars: Calendars) -> dict[str, UrgencyTarget]:
    """``[urgency.NAME]`` for each urgency: targets and the calendar they are counted in."""
    u = r.table(data.get("urgency", {}), ("urgency",), set(URGENCIES))
    urgency = {}
    for name in URGENCIES:
        key: KeyPath = ("urgency", name)
        t = r.section(u.get(name, {}), key, UrgencyTarget)
        calendar = check_calendar_name(r, t, key + ("calendar",), calendars)
        urgency[name] = r.fields(t, key, UrgencyTarget, calendar=calendar)
    return urgency
