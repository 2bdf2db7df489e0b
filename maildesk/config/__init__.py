"""Load config.toml once into frozen, typed settings; every error names FILE:LINE: key.

``sections`` holds each table as a dataclass whose fields are its keys,
``reader`` reads a table by those fields, ``load`` puts the file together and
``settings`` answers what the rest of the desk asks of it. Import from here.
"""

from __future__ import annotations

import re

from maildesk.config.load import key_line, load_settings
from maildesk.config.sections import (
    CATEGORIES,
    KINDS,
    LANGUAGES,
    URGENCIES,
    BillingSettings,
    Category,
    DeskSettings,
    ImapIntake,
    KbSettings,
    Kind,
    Language,
    Level,
    OutgoingSettings,
    ReportsSettings,
    SecuritySettings,
    SmtpIntake,
    Urgency,
    UrgencyTarget,
    parse_size,
)
from maildesk.config.settings import Settings
from maildesk.errors import ConfigError

__all__ = [
    "CATEGORIES",
    "KINDS",
    "LANGUAGES",
    "URGENCIES",
    "BillingSettings",
    "Category",
    "ConfigError",
    "DeskSettings",
    "ImapIntake",
    "KbSettings",
    "Kind",
    "Language",
    "Level",
    "OutgoingSettings",
    "ReportsSettings",
    "SecuritySettings",
    "Settings",
    "SmtpIntake",
    "Urgency",
    "UrgencyTarget",
    "key_line",
    "load_settings",
    "parse_size",
    "safe_database_url",
]


def safe_database_url(url: str) -> str:
    """The database URL with its password masked, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
