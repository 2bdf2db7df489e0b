"""Build a report: run the figure queries of a period and turn their tallies into frozen figures."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy.engine import Connection

from maildesk.config import Settings
from maildesk.errors import UsageError
from maildesk.reports import stats
from maildesk.reports.events import scan_days, scan_events, self_service_by_organisation
from maildesk.reports.keys import BY, GroupKey
from maildesk.reports.period import Period
from maildesk.reports.scan import KeyAt, Scan, Tally, scan_tickets
from maildesk.reports.types import DayVolume, Figures, LevelTargets, Report
from maildesk.storage.db import Database

#: Buckets of the first-response distribution (upper bounds in seconds; the last is open).
SPREAD = (
    ("< 15m", 15 * 60),
    ("15m–1h", 3600),
    ("1h–4h", 4 * 3600),
    ("4h–1d", 86400),
    ("1d–3d", 3 * 86400),
    ("> 3d", None),
)


class ReportUsageError(UsageError, ValueError):
    """An unknown ``--by``: a usage error that names the value."""


def group_key(name: str) -> GroupKey:
    try:
        return BY[name]
    except KeyError:
        raise ReportUsageError(f"--by {name!r}: not one of {', '.join(BY)}") from None


def build_report(
    db: Database, settings: Settings, period: Period, by: str, *, charts: bool = False
) -> Report:
    """The figures of ``period`` grouped ``by``; ``charts`` also gathers what the HTML page draws.

    The tickets pass and the pass over what happened in the period (time,
    escalations, reopenings) run side by side, on two connections that read
    the same snapshot: each mostly waits on its database, which then works
    on two cores.
    """
    key = group_key(by)
    at: KeyAt = lambda asof: key.expression(asof, settings)  # noqa: E731 - the key bound to the settings
    day_starts = period.day_starts() if charts else []
    scan, happened = Scan.for_days(len(day_starts)), Scan.for_days(len(day_starts))
    with db.reading(2) as (tickets, events), ThreadPoolExecutor(1) as pool:
        for connection in (tickets, events) if db.is_postgres else ():
            # The planner cannot know that a grouping has a handful of keys, and would sort a million
            # rows on disk: it hashes them instead, in memory, and compiles no plan that runs once.
            for setting in ("work_mem = '64MB'", "enable_sort = off", "jit = off"):
                connection.exec_driver_sql(f"SET LOCAL {setting}")
        spent = pool.submit(_happenings, events, happened, period, at, day_starts)
        scan_tickets(tickets, scan, period, at, with_days=charts)
        if charts:
            scan_days(tickets, scan, period, day_starts)
        for organisation, count in self_service_by_organisation(tickets, period):
            # A self-service mail opened no ticket: it has an organisation and nothing else to group by.
            scan.tally(organisation if by == "organisation" else None).self_care += count
        time_spent = spent.result()
    scan.absorb(happened)
    for group, organisation, seconds in time_spent:
        _bill(scan.tally(group), organisation, seconds, settings)
    return _report(scan, settings, period, key, charts=charts)


def _happenings(
    connection: Connection, scan: Scan, period: Period, at: KeyAt, day_starts: list[float]
) -> list[tuple[str | None, str | None, int]]:
    return list(scan_events(connection, scan, period, at, day_starts))


def _bill(tally: Tally, organisation: str | None, seconds: int, settings: Settings) -> None:
    tally.time_s += seconds
    rate = rate_of(settings, organisation)
    if rate is not None:
        tally.amount = (tally.amount or 0.0) + seconds / 3600 * rate


def rate_of(settings: Settings, organisation: str | None) -> float | None:
    """The hourly rate of an organisation of ``[[organisations]]`` (None: not billed)."""
    return next((entry.rate for entry in settings.organisations if entry.name == organisation), None)


@dataclass
class _Sorted:
    """A group's durations, each sorted once."""

    taken: np.ndarray
    first_response: np.ndarray
    resolution: np.ndarray

    @classmethod
    def of(cls, tally: Tally) -> _Sorted:
        return cls(
            stats.joined(tally.taken), stats.joined(tally.first_response), stats.joined(tally.resolution)
        )


def _report(scan: Scan, settings: Settings, period: Period, key: GroupKey, *, charts: bool) -> Report:
    tallies = scan.groups
    durations = {name: _Sorted.of(tally) for name, tally in tallies.items()}
    ordered = key.order(list(tallies), settings)
    groups = tuple(
        _figures(key.label(name), tallies.get(name) or Tally(), durations.get(name)) for name in ordered
    )
    everything = {
        name: [getattr(d, name) for d in durations.values()]
        for name in ("taken", "first_response", "resolution")
    }
    report = Report(
        since=period.since,
        until=period.until,
        timezone=period.timezone,
        by=key.name,
        calendar=settings.calendars.get(None).name,
        currency=settings.billing.currency,
        groups=groups,
        total=_total(tallies.values(), everything),
    )
    if not charts:
        return report
    return replace(
        report,
        days=tuple(
            DayVolume(day, received, closed)
            for day, received, closed in zip(
                period.local_days(), scan.received_by_day, scan.closed_by_day, strict=True
            )
        ),
        levels=_level_targets(scan, settings),
        first_response_spread=_spread(everything["first_response"]),
        escalations_by_timer=_sum_dicts(t.escalations_by_timer for t in tallies.values()),
    )


def _figures(key: str | int | None, t: Tally, sorted_: _Sorted | None) -> Figures:
    d = sorted_ or _Sorted(stats.EMPTY, stats.EMPTY, stats.EMPTY)
    return Figures(
        key=key,
        received=t.received,
        closed=t.closed,
        open=t.open,
        reopened=t.reopened,
        problems=len(t.problems),
        taken_into_account=stats.describe(d.taken),
        first_response=stats.describe(d.first_response),
        resolution=stats.describe(d.resolution),
        within_first_response=stats.share(t.first_response_met, t.first_response_decided),
        within_resolve=stats.share(t.resolve_met, t.resolve_decided),
        escalations=_sorted_levels(t.escalations),
        self_care=t.self_care,
        time_spent_s=t.time_s,
        amount=None if t.amount is None else round(t.amount, 2),
    )


def _total(tallies: Iterable[Tally], everything: dict[str, list[np.ndarray]]) -> Figures:
    parts = list(tallies)
    amounts = [t.amount for t in parts if t.amount is not None]
    return Figures(
        key=None,
        received=sum(t.received for t in parts),
        closed=sum(t.closed for t in parts),
        open=sum(t.open for t in parts),
        reopened=sum(t.reopened for t in parts),
        problems=len(set().union(*(t.problems for t in parts))),
        taken_into_account=stats.describe_all(everything["taken"]),
        first_response=stats.describe_all(everything["first_response"]),
        resolution=stats.describe_all(everything["resolution"]),
        within_first_response=stats.share(
            sum(t.first_response_met for t in parts), sum(t.first_response_decided for t in parts)
        ),
        within_resolve=stats.share(sum(t.resolve_met for t in parts), sum(t.resolve_decided for t in parts)),
        escalations=_sorted_levels(_sum_dicts(t.escalations for t in parts)),
        self_care=sum(t.self_care for t in parts),
        time_spent_s=sum(t.time_s for t in parts),
        amount=round(sum(amounts), 2) if amounts else None,
    )


def _sum_dicts(dicts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in dicts:
        for name, count in part.items():
            total[name] = total.get(name, 0) + count
    return total


def _sorted_levels(counts: dict[str, int]) -> dict[str, int]:
    return {name: counts[name] for name in sorted(counts, key=lambda n: (len(n), n))}


def _level_targets(scan: Scan, settings: Settings) -> tuple[LevelTargets, ...]:
    rows = []
    for level in settings.levels:
        fr_met, fr_decided, res_met, res_decided = scan.levels.get(str(level.id), [0, 0, 0, 0])
        rows.append(
            LevelTargets(
                level.id, level.name, stats.share(fr_met, fr_decided), stats.share(res_met, res_decided)
            )
        )
    return tuple(rows)


def _spread(first_responses: list[np.ndarray]) -> tuple[tuple[str, int], ...]:
    """How many first responses (each group's sorted) fall in each bucket of SPREAD."""
    counts, below = [], 0
    for label, bound in SPREAD:
        upto = (
            sum(len(g) for g in first_responses)
            if bound is None
            else stats.count_below(first_responses, bound)
        )
        counts.append((label, upto - below))
        below = upto
    return tuple(counts)
