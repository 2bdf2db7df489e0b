"""The ``--by`` keys: how each groups a ticket, as it was at a moment, in SQL.

A ticket's application, category, kind, urgency, level, team and problem are
taken as they were at the end of the period (or at its closing, for the
closing figures). The current value is right unless the attribute changed
after that moment; ``tickets.changed_at`` says when the last change was, so
only those few tickets look their old value up in ``ticket_changes`` (the
first change after the moment holds the value the ticket had then).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import String, Table, case, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from maildesk.config import CATEGORIES, KINDS, URGENCIES, Settings
from maildesk.storage.models import AttributeChange, Ticket

TICKETS: Table = Ticket.__table__  # type: ignore[assignment]
CHANGES: Table = AttributeChange.__table__  # type: ignore[assignment]
#: Stands for "the old value was unset" inside SQL, where NULL already means "no change found".
_UNSET = "\x1f"
NONE_LABEL = "(none)"


def value_as_of(field: str, asof: ColumnElement) -> ColumnElement:
    """``tickets.<field>`` as text, as it was at ``asof`` (a SQL expression per ticket row)."""
    column = cast(TICKETS.c[field], String) if field == "level" else TICKETS.c[field]
    changes = CHANGES
    old = (
        select(case((changes.c.old_value.is_(None), literal(_UNSET)), else_=changes.c.old_value))
        .where(changes.c.ticket == TICKETS.c.number, changes.c.field == field, changes.c.at > asof)
        .order_by(changes.c.at, changes.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return case(
        (TICKETS.c.changed_at > asof, func.nullif(func.coalesce(old, column), literal(_UNSET))),
        else_=column,
    )


@dataclass(frozen=True)
class GroupKey:
    """One ``--by`` choice: its SQL per ticket, and the order (and always-listed keys) of its groups."""

    name: str
    expression: Callable[[ColumnElement], ColumnElement]  # asof -> the key as text (NULL: none)
    listed: Callable[[Settings], Sequence[str]]  # keys shown even without tickets, in this order
    numeric: bool = False  # level ids: shown as numbers
    # Raw SQL keys renamed for display (teams of a desk without teams: the level id -> its name).
    renamed: Callable[[Settings], dict[str, str] | None] | None = None

    def order(self, keys: Sequence[str | None], settings: Settings) -> list[str | None]:
        """Listed keys first in their order, then the others alphabetically, "(none)" last."""
        listed = list(self.listed(settings))
        rest = sorted(
            (k for k in keys if k is not None and k not in listed),
            key=lambda k: (int(k) if self.numeric and k.lstrip("-").isdigit() else 0, str(k).casefold()),
        )
        ordered: list[str | None] = [*listed, *rest]
        if None in keys or self.name == "application" and _catalogue(settings):
            ordered.append(None)
        return ordered

    def label(self, key: str | None) -> str | int:
        if key is None:
            return NONE_LABEL
        return int(key) if self.numeric and key.lstrip("-").isdigit() else key


def _column(field: str) -> Callable[[ColumnElement], ColumnElement]:
    return lambda asof: value_as_of(field, asof)


def _current(field: str) -> Callable[[ColumnElement], ColumnElement]:
    return lambda _asof: TICKETS.c[field]


def _catalogue(settings: Settings) -> tuple[str, ...]:
    """Names of ``[[applications]]``, in the order written (none until the desk has a catalogue)."""
    return tuple(application.name for application in getattr(settings, "applications", ()) or ())


def _team(asof: ColumnElement) -> ColumnElement:
    """The team as it was: with ``tickets.team`` when the desk has teams, else the level's name
    (a level without teams is one team named after it)."""
    if "team" in TICKETS.c:
        return value_as_of("team", asof)
    return value_as_of("level", asof)


def _none(_settings: Settings) -> tuple[str, ...]:
    return ()


def _fixed(values: tuple[str, ...]) -> Callable[[Settings], Sequence[str]]:
    return lambda _settings: values


def _level_ids(settings: Settings) -> tuple[str, ...]:
    return tuple(str(level.id) for level in settings.levels)


BY: dict[str, GroupKey] = {
    "application": GroupKey("application", _column("application"), _catalogue),
    "category": GroupKey("category", _column("category"), _fixed(CATEGORIES)),
    "kind": GroupKey("kind", _column("kind"), _fixed(KINDS)),
    "level": GroupKey("level", _column("level"), _level_ids, numeric=True),
    "team": GroupKey("team", _team, lambda s: _team_listed(s), renamed=lambda s: _team_renames(s)),
    "urgency": GroupKey("urgency", _column("urgency"), _fixed(URGENCIES)),
    "organisation": GroupKey("organisation", _current("organisation"), _none),
    "problem": GroupKey("problem", _column("problem"), _none),
    "technician": GroupKey("technician", _current("technician"), _none),
}


def _team_renames(settings: Settings) -> dict[str, str] | None:
    """Until the desk has teams (``tickets.team``), a level's team is the level: its id -> its name."""
    if "team" in TICKETS.c:
        return None
    return {str(level.id): level.name for level in settings.levels}


def _team_listed(settings: Settings) -> tuple[str, ...]:
    if "team" in TICKETS.c:
        return ()
    return tuple(level.name for level in settings.levels)
