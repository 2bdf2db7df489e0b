"""Load config.toml once into frozen, typed settings; every error names FILE:LINE: key."""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from maildesk.calendars import Calendar, Calendars
from maildesk.durations import parse_duration
from maildesk.errors import ConfigError
from maildesk.teams.catalogue import Catalogue
from maildesk.teams.model import Application, Organisation, Team, choose_team
from maildesk.teams.read import (
    Choices,
    check_application_teams,
    check_calendar_name,
    read_applications,
    read_calendars,
    read_levels,
    read_organisations,
)
from maildesk.tomlpos import KeyLines, KeyPath, TomlSyntaxError, format_path, read_toml

URGENCIES = ("critical", "high", "normal", "low")
KINDS = ("incident", "question", "complaint", "request")
CATEGORIES = ("technical", "functional", "regulatory")
LANGUAGES = ("en", "fr")

_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SECRET_KEYS = frozenset({"password", "secret", "token", "api_key"})
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def safe_database_url(url: str) -> str:
    """The database URL with its password masked, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def key_line(path: Path, key: KeyPath) -> int:
    """The line of ``key`` in the config file (else of its table, else 1), for errors found after loading."""
    try:
        return read_toml(path)[1].line_of(key)
    except TomlSyntaxError:
        return 1


def parse_size(text: str | int) -> int:
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f'{text!r} is not a size like "25MB"')
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]


@dataclass(frozen=True)
class DeskSettings:
    name: str = "Support"
    address: str = "support@example.org"
    tag: str = "Support"
    language: str = "en"
    timezone: str = "UTC"
    calendar: str = "always"  # business calendar of clocks and reports (a [calendars.NAME] or "always")
    supervisors: tuple[str, ...] = ()
    reopen_within: timedelta = timedelta(days=14)


@dataclass(frozen=True)
class SmtpIntake:
    host: str = "127.0.0.1"
    port: int = 2525
    protocol: str = "smtp"
    max_message_size: int = 25_000_000
    max_sessions: int = 64  # concurrent SMTP/LMTP sessions; beyond, a new connection gets 421
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImapIntake:
    name: str
    host: str
    port: int = 993
    security: str = "tls"
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    oauth2_token_command: str = ""
    ca_file: str = ""  # PEM CA certificates to trust instead of the system's; "" for the system's
    folder: str = "INBOX"
    done: str = "move:Processed"
    poll_every: timedelta = timedelta(seconds=60)
    idle: bool = True
    resync_every: timedelta = timedelta(minutes=5)
    batch_size: int = 200


@dataclass(frozen=True)
class OutgoingSettings:
    transport: str = "maildir"
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    maildir: Path = Path("var/sent")
    retry: tuple[timedelta, ...] = tuple(parse_duration(d) for d in ("1m", "5m", "30m", "2h", "6h"))


@dataclass(frozen=True)
class SecuritySettings:
    secret_file: Path = Path("var/secret")
    command_auth: str = "signed"
    auto_mail_per_recipient_per_hour: int = 5
    auto_mail_per_ticket_per_hour: int = 20  # every mail about one ticket, any template and recipient
    bounce_suppress: timedelta = timedelta(days=7)
    dkim_required: bool = False
    trusted_authserv_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Level:
    id: int
    name: str
    address: str  # the level's own address, else its first team's
    members: tuple[str, ...] = ()  # every member of its teams
    escalate_after: timedelta | None = None
    calendar: str | None = None  # None: [desk] calendar
    teams: tuple[Team, ...] = ()  # never empty once loaded: a level without [[levels.teams]] is one team

    def __post_init__(self) -> None:
        if not self.teams:  # a Level built by hand (tests, tools): one team named after it
            team = Team(
                name=self.name, level=self.id, address=self.address, members=self.members, implicit=True
            )
            object.__setattr__(self, "teams", (team,))


@dataclass(frozen=True)
class UrgencyTarget:
    first_response: timedelta | None = None
    resolve: timedelta | None = None
    calendar: str | None = None  # None: [desk] calendar


@dataclass(frozen=True)
class KbSettings:
    auto_update: bool = True
    review: bool = True  # drafts leave the desk only once a technician publishes them
    redact: bool = True  # names, addresses, phone, IBAN, card and ID numbers masked in drafts
    suggest: int = 3
    self_service: str = ""  # an address that answers with articles and opens no ticket ("": none)
    dir: Path | None = None  # Markdown articles ("# Title" then the body) loaded at start and reload


@dataclass(frozen=True)
class ReportsSettings:
    schedule: str = ""
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class BillingSettings:
    """``[billing]``: the currency of report amounts (hours x an organisation's ``rate``)."""

    currency: str = "EUR"


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
    kb: KbSettings = KbSettings()
    reports: ReportsSettings = ReportsSettings()
    billing: BillingSettings = BillingSettings()
    rule_files: tuple[Path, ...] = ()
    templates_dir: Path = Path("templates")
    timers_check_every: timedelta = timedelta(seconds=30)
    workers: int = 0  # processes that parse and render off the write lock; 0: all in the calling process
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


class _Reader:
    """Reads one TOML table, checking types and remembering problems with their line."""

    def __init__(self, path: Path, lines: KeyLines, problems: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.problems = problems

    def fail(self, key: KeyPath, message: str) -> None:
        self.problems.append(f"{self.path}:{self.lines.line_of(key)}: {format_path(key)}: {message}")

    def table(self, data: dict, key: KeyPath, allowed: set[str]) -> dict:
        if not isinstance(data, dict):
            self.fail(key, "must be a table")
            return {}
        for name in data:
            if name in allowed:
                continue
            if name in _SECRET_KEYS or f"{name}_env" in allowed:
                # Say why, not just "unknown": the admin meant it, and it must move out of the file.
                hint = f"{name}_env or {name}_file" if f"{name}_env" in allowed else "a *_env or *_file key"
                self.fail(key + (name,), f"secrets never sit in the config file: use {hint}")
            else:
                self.fail(key + (name,), f"unknown key (expected one of: {', '.join(sorted(allowed))})")
        return data

    def get(self, data: dict, key: KeyPath, kind: type | tuple[type, ...], default: Any) -> Any:
        name = key[-1]
        if name not in data:
            return default
        value = data[name]
        if isinstance(value, bool) and kind in (int, (int,)):
            self.fail(key, f"must be a whole number, not {value!r}")
            return default
        if not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(
                key,
                f"must be a {expected.replace('str', 'string').replace('bool', 'boolean')}, not {value!r}",
            )
            return default
        return value

    def string_list(self, data: dict, key: KeyPath, default: tuple = ()) -> tuple[str, ...]:
        value = self.get(data, key, (list, str), default)
        if isinstance(value, str):
            value = [value]
        if not all(isinstance(item, str) for item in value):
            self.fail(key, "must be a list of strings")
            return tuple(default)
        return tuple(value)

    def address(self, data: dict, key: KeyPath, default: str) -> str:
        value = self.get(data, key, str, default)
        if value and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+|[^@\s<>]+@localhost", value):
            self.fail(key, f"{value!r} is not an email address")
        return value.lower()

    def addresses(self, data: dict, key: KeyPath) -> tuple[str, ...]:
        values = self.string_list(data, key)
        for value in values:
            if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", value):
                self.fail(key, f"{value!r} is not an email address")
        return tuple(v.lower() for v in values)

    def duration(self, data: dict, key: KeyPath, default: timedelta | None) -> timedelta | None:
        value = self.get(data, key, str, None)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(key, str(exc))
            return default

    def count(self, data: dict, key: KeyPath, default: int) -> int:
        """A whole number of at least 1 (a cap of 0 would silence the desk)."""
        value = self.get(data, key, int, default)
        if value < 1:
            self.fail(key, f"must be at least 1, not {value!r}")
            return default
        return value

    def choice(self, data: dict, key: KeyPath, choices: tuple[str, ...], default: str) -> str:
        value = self.get(data, key, str, default)
        if value not in choices:
            self.fail(key, f"{value!r} is not one of: {', '.join(choices)}")
            return default
        return value


def _listen(reader: _Reader, key: KeyPath, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        reader.fail(key, f"{value!r} is not HOST:PORT")
        return "127.0.0.1", 2525
    return host.strip("[]") or "127.0.0.1", int(port)


def _resolve_path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _ca_file(reader: _Reader, data: dict, key: KeyPath, base: Path) -> str:
    """The resolved path of a CA certificate file ("" when unset); checked now, not at the first connection."""
    value = reader.get(data, key, str, "")
    if not value:
        return ""
    path = _resolve_path(base, value)
    if not path.is_file():
        reader.fail(key, f"{path} does not exist" if not path.exists() else f"{path} is not a file")
        return ""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except OSError as exc:  # ssl.SSLError included
        reader.fail(key, f"{path} holds no usable PEM CA certificate: {exc.strerror or exc}")
    return str(path)


def _resolve_database_url(base: Path, url: str) -> str:
    """Make a relative SQLite path relative to the config file, not the working directory."""
    prefix = "sqlite:///"
    if (
        url.startswith(prefix)
        and not url.startswith(prefix + "/")
        and url != "sqlite://"
        and ":memory:" not in url
    ):
        return prefix + str(_resolve_path(base, url[len(prefix) :]))
    return url


def load_settings(path: Path | str) -> Settings:
    """Read and validate config.toml; raises ConfigError listing every problem."""
    path = Path(path)
    try:
        data, lines = read_toml(path)
    except TomlSyntaxError as exc:
        raise ConfigError([str(exc)]) from None
    problems: list[str] = []
    r = _Reader(path, lines, problems)
    base = path.resolve().parent
    r.table(
        data,
        (),
        {
            "desk",
            "database",
            "intake",
            "outgoing",
            "security",
            "levels",
            "urgency",
            "kb",
            "reports",
            "rules",
            "templates",
            "timers",
            "processing",
            "calendars",
            "applications",
            "organisations",
            "billing",
        },
    )

    d = r.table(
        data.get("desk", {}),
        ("desk",),
        {"name", "address", "tag", "language", "timezone", "calendar", "supervisors", "reopen_within"},
    )
    tag = r.get(d, ("desk", "tag"), str, "Support")
    if not re.fullmatch(r"[\w .-]+", tag):
        r.fail(("desk", "tag"), f"{tag!r} may hold only letters, digits, spaces, dots and dashes")
    timezone = r.get(d, ("desk", "timezone"), str, "UTC")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except Exception:  # noqa: BLE001 - zoneinfo raises KeyError, ValueError or OSError subclasses by name
        r.fail(("desk", "timezone"), f"{timezone!r} is not a known time zone")
    desk = DeskSettings(
        name=r.get(d, ("desk", "name"), str, "Support"),
        address=r.address(d, ("desk", "address"), "support@example.org"),
        tag=tag,
        language=r.choice(d, ("desk", "language"), LANGUAGES, "en"),
        timezone=timezone,
        supervisors=r.addresses(d, ("desk", "supervisors")),
        reopen_within=r.duration(d, ("desk", "reopen_within"), timedelta(days=14)),
    )

    db = r.table(data.get("database", {}), ("database",), {"url"})
    database_url = _resolve_database_url(
        base, r.get(db, ("database", "url"), str, "sqlite:///var/maildesk.db")
    )
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", database_url):
        r.fail(
            ("database", "url"),
            f"{database_url!r}: only sqlite:/// and postgresql+psycopg:// URLs are supported",
        )

    intake = r.table(data.get("intake", {}), ("intake",), {"smtp", "imap"})
    smtp_tables = intake.get("smtp", [{}] if "intake" not in data else [])
    if isinstance(smtp_tables, dict):
        smtp_tables = [smtp_tables]
    smtp = []
    for index, table in enumerate(smtp_tables):
        key: KeyPath = (
            ("intake", "smtp") if isinstance(intake.get("smtp"), dict) else ("intake", "smtp", index)
        )
        t = r.table(table, key, {"listen", "protocol", "max_message_size", "max_sessions", "domains"})
        host, port = _listen(r, key + ("listen",), r.get(t, key + ("listen",), str, "127.0.0.1:2525"))
        try:
            size = parse_size(r.get(t, key + ("max_message_size",), (str, int), "25MB"))
        except ValueError as exc:
            r.fail(key + ("max_message_size",), str(exc))
            size = 25_000_000
        smtp.append(
            SmtpIntake(
                host=host,
                port=port,
                protocol=r.choice(t, key + ("protocol",), ("smtp", "lmtp"), "smtp"),
                max_message_size=size,
                max_sessions=_max_sessions(r, t, key + ("max_sessions",)),
                domains=tuple(x.lower() for x in r.string_list(t, key + ("domains",))),
            )
        )

    imap_tables = intake.get("imap", [])
    if isinstance(imap_tables, dict):
        imap_tables = [imap_tables]
    imap = []
    for index, table in enumerate(imap_tables):
        key = ("intake", "imap", index)
        t = r.table(
            table,
            key,
            {
                "name",
                "host",
                "port",
                "security",
                "username",
                "password_env",
                "password_file",
                "oauth2_token_command",
                "ca_file",
                "folder",
                "done",
                "poll_every",
                "idle",
                "resync_every",
                "batch_size",
            },
        )
        done = r.get(t, key + ("done",), str, "move:Processed")
        if done not in ("delete", "flag") and not (done.startswith("move:") and len(done) > 5):
            r.fail(key + ("done",), f'{done!r} is not "move:FOLDER", "delete" or "flag"')
        if "host" not in t:
            r.fail(key, "host is required")
        imap.append(
            ImapIntake(
                name=r.get(t, key + ("name",), str, f"imap{index + 1}"),
                host=r.get(t, key + ("host",), str, ""),
                port=r.get(t, key + ("port",), int, 993),
                security=r.choice(t, key + ("security",), ("tls", "starttls", "none"), "tls"),
                username=r.get(t, key + ("username",), str, ""),
                password_env=r.get(t, key + ("password_env",), str, ""),
                password_file=str(_resolve_path(base, pf))
                if (pf := r.get(t, key + ("password_file",), str, ""))
                else "",
                oauth2_token_command=r.get(t, key + ("oauth2_token_command",), str, ""),
                ca_file=_ca_file(r, t, key + ("ca_file",), base),
                folder=r.get(t, key + ("folder",), str, "INBOX"),
                done=done,
                poll_every=r.duration(t, key + ("poll_every",), timedelta(seconds=60)),
                idle=r.get(t, key + ("idle",), bool, True),
                resync_every=r.duration(t, key + ("resync_every",), timedelta(minutes=5)),
                batch_size=r.get(t, key + ("batch_size",), int, 200),
            )
        )
    names = [i.name for i in imap]
    for index, name in enumerate(names):
        if names.index(name) != index:
            r.fail(("intake", "imap", index, "name"), f"{name!r} is used by another account")

    o = r.table(
        data.get("outgoing", {}),
        ("outgoing",),
        {
            "transport",
            "host",
            "port",
            "security",
            "username",
            "password_env",
            "password_file",
            "maildir",
            "retry",
        },
    )
    retry = []
    for index, item in enumerate(r.string_list(o, ("outgoing", "retry"), ("1m", "5m", "30m", "2h", "6h"))):
        try:
            retry.append(parse_duration(item))
        except ValueError as exc:
            r.fail(("outgoing", "retry"), f"item {index + 1}: {exc}")
    outgoing = OutgoingSettings(
        transport=r.choice(o, ("outgoing", "transport"), ("smtp", "maildir"), "maildir"),
        host=r.get(o, ("outgoing", "host"), str, "127.0.0.1"),
        port=r.get(o, ("outgoing", "port"), int, 25),
        security=r.choice(o, ("outgoing", "security"), ("tls", "starttls", "none"), "none"),
        username=r.get(o, ("outgoing", "username"), str, ""),
        password_env=r.get(o, ("outgoing", "password_env"), str, ""),
        password_file=str(_resolve_path(base, pf))
        if (pf := r.get(o, ("outgoing", "password_file"), str, ""))
        else "",
        maildir=_resolve_path(base, r.get(o, ("outgoing", "maildir"), str, "var/sent")),
        retry=tuple(retry),
    )

    s = r.table(
        data.get("security", {}),
        ("security",),
        {
            "secret_file",
            "command_auth",
            "auto_mail_per_recipient_per_hour",
            "auto_mail_per_ticket_per_hour",
            "bounce_suppress",
            "dkim_required",
            "trusted_authserv_ids",
        },
    )
    security = SecuritySettings(
        secret_file=_resolve_path(base, r.get(s, ("security", "secret_file"), str, "var/secret")),
        command_auth=r.choice(s, ("security", "command_auth"), ("signed", "sender"), "signed"),
        auto_mail_per_recipient_per_hour=r.count(s, ("security", "auto_mail_per_recipient_per_hour"), 5),
        auto_mail_per_ticket_per_hour=r.count(s, ("security", "auto_mail_per_ticket_per_hour"), 20),
        bounce_suppress=r.duration(s, ("security", "bounce_suppress"), timedelta(days=7)),
        dkim_required=r.get(s, ("security", "dkim_required"), bool, False),
        trusted_authserv_ids=r.string_list(s, ("security", "trusted_authserv_ids")),
    )

    calendars = Calendars(named=read_calendars(r, data, desk.timezone))
    default_calendar = check_calendar_name(r, d, ("desk", "calendar"), calendars) or "always"
    calendars = Calendars(named=calendars.named, default=default_calendar)
    desk = replace(desk, calendar=default_calendar)
    applications = read_applications(r, data)
    level_specs = read_levels(r, data, desk.address, applications, calendars, Choices(CATEGORIES, KINDS))
    levels = [Level(**vars(spec)) for spec in level_specs]
    if not levels:
        levels.append(Level(id=1, name="Front desk", address=desk.address))
    ids = [lvl.id for lvl in levels]
    for index, level_id in enumerate(ids):
        if ids.index(level_id) != index:
            r.fail(("levels", index, "id"), f"level id {level_id} is used twice")
    check_application_teams(r, applications, tuple(team for lvl in levels for team in lvl.teams))
    organisations = read_organisations(r, data)

    u = r.table(data.get("urgency", {}), ("urgency",), set(URGENCIES))
    urgency = {}
    for name in URGENCIES:
        t = r.table(u.get(name, {}), ("urgency", name), {"first_response", "resolve", "calendar"})
        urgency[name] = UrgencyTarget(
            first_response=r.duration(t, ("urgency", name, "first_response"), None),
            resolve=r.duration(t, ("urgency", name, "resolve"), None),
            calendar=check_calendar_name(r, t, ("urgency", name, "calendar"), calendars),
        )

    k = r.table(
        data.get("kb", {}), ("kb",), {"auto_update", "review", "redact", "suggest", "self_service", "dir"}
    )
    kb_dir = r.get(k, ("kb", "dir"), str, None)
    kb = KbSettings(
        auto_update=r.get(k, ("kb", "auto_update"), bool, True),
        review=r.get(k, ("kb", "review"), bool, True),
        redact=r.get(k, ("kb", "redact"), bool, True),
        suggest=r.get(k, ("kb", "suggest"), int, 3),
        self_service=r.get(k, ("kb", "self_service"), str, "").strip().lower(),
        dir=_resolve_path(base, kb_dir) if kb_dir else None,
    )
    rep = r.table(data.get("reports", {}), ("reports",), {"schedule", "recipients"})
    billing = _billing(r, data)
    reports = ReportsSettings(
        schedule=_schedule(r, rep),
        recipients=r.addresses(rep, ("reports", "recipients")),
    )
    if reports.schedule and not reports.recipients:
        r.fail(("reports", "schedule"), "a scheduled report needs recipients (reports.recipients)")
    ru = r.table(data.get("rules", {}), ("rules",), {"files"})
    rule_files = tuple(_resolve_path(base, f) for f in r.string_list(ru, ("rules", "files")))
    te = r.table(data.get("templates", {}), ("templates",), {"dir"})
    templates_dir = _resolve_path(base, r.get(te, ("templates", "dir"), str, "templates"))
    ti = r.table(data.get("timers", {}), ("timers",), {"check_every"})
    check_every = r.duration(ti, ("timers", "check_every"), timedelta(seconds=30))
    workers = _workers(r, r.table(data.get("processing", {}), ("processing",), {"workers"}))

    if problems:
        raise ConfigError(problems)
    return Settings(
        path=path,
        desk=desk,
        database_url=database_url,
        smtp=tuple(smtp),
        imap=tuple(imap),
        outgoing=outgoing,
        security=security,
        levels=tuple(levels),
        urgency=urgency,
        kb=kb,
        reports=reports,
        billing=billing,
        rule_files=rule_files,
        templates_dir=templates_dir,
        timers_check_every=check_every or timedelta(seconds=30),
        workers=workers,
        calendars=calendars,
        applications=applications,
        organisations=organisations,
    )


def _max_sessions(r: _Reader, table: dict, key: KeyPath) -> int:
    value = r.get(table, key, int, 64)
    if not 1 <= value <= 10_000:
        r.fail(key, f"{value!r} must be a number from 1 to 10000")
        return 64
    return value


def _billing(r: _Reader, data: dict) -> BillingSettings:
    """``[billing] currency``: an ISO 4217 code (three capital letters), "EUR" by default."""
    table = r.table(data.get("billing", {}), ("billing",), {"currency"})
    currency = r.get(table, ("billing", "currency"), str, "EUR")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        r.fail(("billing", "currency"), f'{currency!r} is not an ISO 4217 currency code, such as "EUR"')
        return BillingSettings()
    return BillingSettings(currency=currency)


def _schedule(r: _Reader, table: dict) -> str:
    """``[reports] schedule``: a cron line, checked now, not when it first fires."""
    value = r.get(table, ("reports", "schedule"), str, "").strip()
    if not value:
        return ""
    from maildesk.cron import check_crontab

    problem = check_crontab(value)
    if problem is not None:
        r.fail(("reports", "schedule"), f"{value!r}: {problem}")
        return ""
    return value


def _workers(r: _Reader, table: dict) -> int:
    """``[processing] workers``: "auto" (one per core, none on a single core) or a number from 0 to 32."""
    value = r.get(table, ("processing", "workers"), (int, str), "auto")
    if value == "auto":
        cores = os.cpu_count() or 1
        return min(cores, 4) if cores > 1 else 0
    if isinstance(value, (str, bool)) or not 0 <= value <= 32:
        r.fail(("processing", "workers"), f'{value!r} must be "auto" or a number from 0 to 32')
        return 0
    return value
