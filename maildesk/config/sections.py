"""The sections of config.toml as frozen dataclasses: each field is a key, with its default and its values.

Read by :meth:`maildesk.config.reader.Reader.fields`; what a field's type
cannot say (a check, an address, a reader of its own) is in its ``setting``.
"""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from maildesk.config.reader import Reader, setting
from maildesk.durations import parse_duration
from maildesk.teams.model import Team
from maildesk.tomlpos import KeyPath

Urgency = Literal["critical", "high", "normal", "low"]
Kind = Literal["incident", "question", "complaint", "request"]
Category = Literal["technical", "functional", "regulatory"]
Language = Literal["en", "fr"]
URGENCIES: tuple[str, ...] = get_args(Urgency)
KINDS: tuple[str, ...] = get_args(Kind)
CATEGORIES: tuple[str, ...] = get_args(Category)
LANGUAGES: tuple[str, ...] = get_args(Language)

_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_size(text: str | int) -> int:
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f'{text!r} is not a size like "25MB"')
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]


# -- checks and readers of single keys --------------------------------------------------------------


def _tag(value: str) -> str | None:
    ok = re.fullmatch(r"[\w .-]+", value)
    return None if ok else f"{value!r} may hold only letters, digits, spaces, dots and dashes"


def _timezone(value: str) -> str | None:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except Exception:  # noqa: BLE001 - zoneinfo raises KeyError, ValueError or OSError subclasses by name
        return f"{value!r} is not a known time zone"
    return None


def _at_least_one(value: int) -> str | None:
    """A cap of 0 would silence the desk."""
    return None if value >= 1 else f"must be at least 1, not {value!r}"


def _sessions(value: int) -> str | None:
    return None if 1 <= value <= 10_000 else f"{value!r} must be a number from 1 to 10000"


def _done(value: str) -> str | None:
    if value in ("delete", "flag") or (value.startswith("move:") and len(value) > 5):
        return None
    return f'{value!r} is not "move:FOLDER", "delete" or "flag"'


def _currency(value: str) -> str | None:
    ok = re.fullmatch(r"[A-Z]{3}", value)
    return None if ok else f'{value!r} is not an ISO 4217 currency code, such as "EUR"'


def _size(r: Reader, table: dict, key: KeyPath, default: int) -> int:
    try:
        return parse_size(r.get(table, key, (str, int), default))
    except ValueError as exc:
        r.fail(key, str(exc))
        return default


def _domains(r: Reader, table: dict, key: KeyPath, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(x.lower() for x in r.string_list(table, key, default))


def _lowered(r: Reader, table: dict, key: KeyPath, default: str) -> str:
    return r.get(table, key, str, default).strip().lower()


def _ca_file(r: Reader, table: dict, key: KeyPath, default: str) -> str:
    """The resolved path of a CA certificate file ("" when unset), checked now, not at first connection."""
    value = r.get(table, key, str, default)
    if not value:
        return ""
    path = r.resolve(value)
    if not path.is_file():
        r.fail(key, f"{path} does not exist" if not path.exists() else f"{path} is not a file")
        return ""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except OSError as exc:  # ssl.SSLError included
        r.fail(key, f"{path} holds no usable PEM CA certificate: {exc.strerror or exc}")
    return str(path)


def _retry(r: Reader, table: dict, key: KeyPath, default: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
    given = r.string_list(table, key, ())
    if key[-1] not in table:
        return default
    retry = []
    for index, item in enumerate(given):
        try:
            retry.append(parse_duration(item))
        except ValueError as exc:
            r.fail(key, f"item {index + 1}: {exc}")
    return tuple(retry)


def _schedule(r: Reader, table: dict, key: KeyPath, default: str) -> str:
    """``[reports] schedule``: a cron line, checked now, not when it first fires."""
    value = r.get(table, key, str, default).strip()
    if not value:
        return ""
    from maildesk.cron import check_crontab

    problem = check_crontab(value)
    if problem is not None:
        r.fail(key, f"{value!r}: {problem}")
        return ""
    return value


def _database_url(r: Reader, table: dict, key: KeyPath, default: str) -> str:
    """A relative SQLite path is relative to the config file, not the working directory."""
    url = r.get(table, key, str, default)
    prefix = "sqlite:///"
    if (
        url.startswith(prefix)
        and not url.startswith(prefix + "/")
        and url != "sqlite://"
        and ":memory:" not in url
    ):
        url = prefix + str(r.resolve(url[len(prefix) :]))
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        r.fail(key, f"{url!r}: only sqlite:/// and postgresql+psycopg:// URLs are supported")
    return url


def _paths(r: Reader, table: dict, key: KeyPath, default: tuple[Path, ...]) -> tuple[Path, ...]:
    return tuple(r.resolve(f) for f in r.string_list(table, key, ())) or default


def _workers(r: Reader, table: dict, key: KeyPath, default: Any) -> int:
    """``[processing] workers``: "auto" (one per core, none on a single core) or a number from 0 to 32."""
    value = r.get(table, key, (int, str), default)
    if value == "auto":
        cores = os.cpu_count() or 1
        return min(cores, 4) if cores > 1 else 0
    if isinstance(value, (str, bool)) or not 0 <= value <= 32:
        r.fail(key, f'{value!r} must be "auto" or a number from 0 to 32')
        return 0
    return int(value)


# -- the sections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeskSettings:
    name: str = "Support"
    address: str = setting("support@example.org", address=True)
    tag: str = setting("Support", check=_tag)
    language: Language = "en"
    timezone: str = setting("UTC", check=_timezone)
    # business calendar of clocks and reports (a [calendars.NAME] or "always"); needs [calendars]
    calendar: str = setting("always", later=True)
    supervisors: tuple[str, ...] = setting((), address=True)
    reopen_within: timedelta = timedelta(days=14)


@dataclass(frozen=True)
class SmtpIntake:
    host: str = setting("127.0.0.1", computed=True)  # both from ``listen = "HOST:PORT"``
    port: int = setting(2525, computed=True)
    protocol: Literal["smtp", "lmtp"] = "smtp"
    max_message_size: int = setting(25_000_000, read=_size)
    max_sessions: int = setting(64, check=_sessions)  # concurrent sessions; beyond, a connection gets 421
    domains: tuple[str, ...] = setting((), read=_domains)


@dataclass(frozen=True)
class ImapIntake:
    name: str
    host: str
    port: int = 993
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str = ""
    password_env: str = ""
    password_file: str = setting("", path=True)
    oauth2_token_command: str = ""
    ca_file: str = setting("", read=_ca_file)  # PEM CA certificates to trust instead of the system's
    folder: str = "INBOX"
    done: str = setting("move:Processed", check=_done)
    poll_every: timedelta = timedelta(seconds=60)
    idle: bool = True
    resync_every: timedelta = timedelta(minutes=5)
    batch_size: int = 200


@dataclass(frozen=True)
class OutgoingSettings:
    transport: Literal["smtp", "maildir"] = "maildir"
    host: str = "127.0.0.1"
    port: int = 25
    security: Literal["tls", "starttls", "none"] = "none"
    username: str = ""
    password_env: str = ""
    password_file: str = setting("", path=True)
    maildir: Path = Path("var/sent")
    retry: tuple[timedelta, ...] = setting(
        tuple(parse_duration(d) for d in ("1m", "5m", "30m", "2h", "6h")), read=_retry
    )


@dataclass(frozen=True)
class SecuritySettings:
    secret_file: Path = Path("var/secret")
    command_auth: Literal["signed", "sender"] = "signed"
    auto_mail_per_recipient_per_hour: int = setting(5, check=_at_least_one)
    # every mail about one ticket, any template and recipient
    auto_mail_per_ticket_per_hour: int = setting(20, check=_at_least_one)
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
    calendar: str | None = setting(None, later=True)  # None: [desk] calendar


@dataclass(frozen=True)
class KbSettings:
    auto_update: bool = True
    review: bool = True  # drafts leave the desk only once a technician publishes them
    redact: bool = True  # names, addresses, phone, IBAN, card and ID numbers masked in drafts
    suggest: int = 3
    self_service: str = setting("", read=_lowered)  # an address that answers with articles, opens no ticket
    dir: Path | None = None  # Markdown articles ("# Title" then the body) loaded at start and reload


@dataclass(frozen=True)
class ReportsSettings:
    schedule: str = setting("", read=_schedule)
    recipients: tuple[str, ...] = setting((), address=True)


@dataclass(frozen=True)
class BillingSettings:
    """``[billing]``: the currency of report amounts (hours x an organisation's ``rate``)."""

    currency: str = setting("EUR", check=_currency)


@dataclass(frozen=True)
class DatabaseSection:
    """``[database]``, kept in ``Settings.database_url``."""

    url: str = setting("sqlite:///var/maildesk.db", read=_database_url)


@dataclass(frozen=True)
class RulesSection:
    """``[rules]``, kept in ``Settings.rule_files``."""

    files: tuple[Path, ...] = setting((), read=_paths)


@dataclass(frozen=True)
class TemplatesSection:
    """``[templates]``, kept in ``Settings.templates_dir``."""

    dir: Path = Path("templates")


@dataclass(frozen=True)
class TimersSection:
    """``[timers]``, kept in ``Settings.timers_check_every``."""

    check_every: timedelta = timedelta(seconds=30)


@dataclass(frozen=True)
class ProcessingSection:
    """``[processing]``, kept in ``Settings.workers``: processes that parse and render off the write lock."""

    workers: int = setting("auto", read=_workers)
