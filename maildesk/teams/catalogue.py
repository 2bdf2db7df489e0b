"""Recognise a catalogued application in a request: its name or an alias, as whole words.

Matching ignores case and accents ("Progiciel" finds "progiciel", "logiciel
métier" finds "Logiciel metier"). One regular expression per application is
compiled once per config; the request's subject and text are folded once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from maildesk.teams.model import Application
from maildesk.types import Decision, ParsedMessage

#: Only the start of a long message is searched: a request names its application early.
TEXT_LIMIT = 20_000


def fold(text: str) -> str:
    """Lower-case, accents removed: the form both aliases and requests are compared in."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def _pattern(words: Sequence[str]) -> re.Pattern[str]:
    # Longest first, so "SAP GUI" is tried before "SAP"; (?<!\w) and (?!\w) are word edges also for "C++".
    alternatives = sorted({fold(word.strip()) for word in words if word.strip()}, key=len, reverse=True)
    either = "|".join(re.escape(word) for word in alternatives)
    return re.compile(rf"(?<!\w)(?:{either})(?!\w)")


@dataclass(frozen=True)
class Catalogue:
    """The ``[[applications]]`` in order, with their name-or-alias patterns."""

    applications: tuple[Application, ...] = ()
    _patterns: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = tuple((app.name, _pattern((app.name, *app.aliases))) for app in self.applications)
        object.__setattr__(self, "_patterns", patterns)

    def __bool__(self) -> bool:
        return bool(self.applications)

    def recognise(self, subject: str, text: str) -> str | None:
        """The first catalogued application (in catalogue order) the request names, or None."""
        if not self._patterns:
            return None
        folded = fold(f"{subject}\n{text[:TEXT_LIMIT]}")
        for name, pattern in self._patterns:
            if pattern.search(folded):
                return name
        return None

    def find(self, name: str | None) -> Application | None:
        """The catalogued application called ``name`` (case-insensitive), or None."""
        if not name:
            return None
        wanted = name.casefold()
        return next((app for app in self.applications if app.name.casefold() == wanted), None)


def recognise_application(decision: Decision, parsed: ParsedMessage, catalogue: Catalogue) -> Decision:
    """The decision with the catalogued application the request names, when no rule set one."""
    if decision.application is not None:
        return decision
    found = catalogue.recognise(parsed.subject, parsed.text)
    return decision if found is None else replace(decision, application=found)
