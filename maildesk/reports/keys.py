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
    expression: Callable[[ColumnElement, Settings], ColumnElement]  # (asof, settings) -> key as text or NULL
    listed: Callable[[Settings], Sequence[str]]  # keys shown even without tickets, in this order
    numeric: bool = False  # level ids: shown as numbers
    always_none: Callable[[Settings], bool] = lambda _settings: False  # list "(none)" even when empty

    def order(self, keys: Sequence[str | None], settings: Settings) -> list[str | None]:
        """Listed keys first in their order, then the others alphabetically, "(none)" last."""
        listed = list(self.listed(settings))
        rest = sorted(
            (k for k in keys if k is not None and k not in listed),
            key=lambda k: (int(k) if self.numeric and k.lstrip("-").isdigit() else 0, str(k).casefold()),
        )
        ordered: list[str | None] = [*listed, *rest]
        if None in keys or self.always_none(settings):
            ordered.append(None)
        return ordered

    def label(self, key: str | None) -> str | int:
        if key is None:
            return NONE_LABEL
        return int(key) if self.numeric and key.lstrip("-").isdigit() else key


def _column(field: str) -> Callable[[ColumnElement, Settings], ColumnElement]:
    return lambda asof, _settings: value_as_of(field, asof)


def _current(field: str) -> Callable[[ColumnElement, Settings], ColumnElement]:
    return lambda _asof, _settings: TICKETS.c[field]


def _catalogue(settings: Settings) -> tuple[str, ...]:
    """Names of ``[[applications]]``, in the order written."""
    return tuple(application.name for application in settings.applications)


def _team(asof: ColumnElement, settings: Settings) -> ColumnElement:
    """The team as it was; a ticket without one (an upgrade run without the config) is in its level's
    first team, as everywhere else in the desk."""
    first_teams = [(str(level.id), level.teams[0].name) for level in settings.levels if level.teams]
    if not first_teams:
        return value_as_of("team", asof)
    return func.coalesce(
        value_as_of("team", asof),
        case(*((value_as_of("level", asof) == lid, name) for lid, name in first_teams)),
    )


def _teams(settings: Settings) -> tuple[str, ...]:
    return tuple(team.name for level in settings.levels for team in level.teams)


def _none(_settings: Settings) -> tuple[str, ...]:
    return ()


def _fixed(values: tuple[str, ...]) -> Callable[[Settings], Sequence[str]]:
    return lambda _settings: values


def _level_ids(settings: Settings) -> tuple[str, ...]:
    return tuple(str(level.id) for level in settings.levels)


BY: dict[str, GroupKey] = {
    # With a catalogue, every application is listed, and "(none)" for the tickets without one.
    "application": GroupKey(
        "application", _column("application"), _catalogue, always_none=lambda s: bool(s.applications)
    ),
    "category": GroupKey("category", _column("category"), _fixed(CATEGORIES)),
    "kind": GroupKey("kind", _column("kind"), _fixed(KINDS)),
    "level": GroupKey("level", _column("level"), _level_ids, numeric=True),
    "team": GroupKey("team", _team, _teams),
    "urgency": GroupKey("urgency", _column("urgency"), _fixed(URGENCIES)),
    # Stored when the ticket is made: the [[organisations]] entry of the requester's domain, else the domain.
    "organisation": GroupKey("organisation", _current("organisation"), _none),
    "problem": GroupKey("problem", _column("problem"), _none),
    "technician": GroupKey("technician", _current("technician"), _none),
}
