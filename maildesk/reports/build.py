"""Build a report: run the figure queries of a period and turn their tallies into frozen figures."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from maildesk.config import Settings
from maildesk.reports import stats
from maildesk.reports.keys import BY, GroupKey
from maildesk.reports.period import Period
from maildesk.reports.scan import Scan, Tally, scan_period, self_service_by_organisation, time_by_organisation
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


class ReportUsageError(ValueError):
    """An unknown ``--by``: a usage error that names the value."""


def group_key(name: str) -> GroupKey:
    try:
        return BY[name]
    except KeyError:
        raise ReportUsageError(f"--by {name!r}: not one of {', '.join(BY)}") from None


def build_report(
    db: Database, settings: Settings, period: Period, by: str, *, charts: bool = False
) -> Report:
    """The figures of ``period`` grouped ``by``; ``charts`` also gathers what the HTML page draws."""
    key = group_key(by)
    with db.engine.connect() as connection:
        if db.is_postgres:
            # One transaction that only reads: a snapshot, and room to sort the few small aggregates.
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        scan = scan_period(connection, period, key, with_days=charts)
        for group, organisation, seconds in time_by_organisation(connection, period, key):
            _bill(scan.tally(group), organisation, seconds, settings)
        for organisation, count in self_service_by_organisation(connection, period):
            # A self-service mail opened no ticket: it has an organisation and nothing else to group by.
            scan.tally(organisation if by == "organisation" else None).self_care += count
        connection.rollback()
    return _report(scan, settings, period, key, charts=charts)


def _bill(tally: Tally, organisation: str | None, seconds: int, settings: Settings) -> None:
    tally.time_s += seconds
    rate = rate_of(settings, organisation)
    if rate is not None:
        tally.amount = (tally.amount or 0.0) + seconds / 3600 * rate


def rate_of(settings: Settings, organisation: str | None) -> float | None:
    """The hourly rate of an organisation of ``[[organisations]]`` (None: not billed)."""
    for entry in getattr(settings, "organisations", ()) or ():
        if entry.name == organisation:
            return entry.rate
    return None


def _report(scan: Scan, settings: Settings, period: Period, key: GroupKey, *, charts: bool) -> Report:
    renames = key.renamed(settings) if key.renamed else None
    tallies: dict[str | None, Tally] = {}
    for raw, tally in scan.groups.items():
        name = renames.get(raw, raw) if renames and raw is not None else raw
        tallies[name] = _merge(tallies.get(name), tally)
    for tally in tallies.values():
        for values in ("taken", "first_response", "resolution"):
            setattr(tally, values, stats.sort_values(getattr(tally, values)))
    ordered = key.order(list(tallies), settings)
    groups = tuple(_figures(key.label(name), tallies.get(name) or Tally()) for name in ordered)
    total = _total(tallies.values())
    calendar = settings.calendars.get(None)
    billing = getattr(settings, "billing", None)
    report = Report(
        since=period.since,
        until=period.until,
        timezone=period.timezone,
        by=key.name,
        calendar=calendar.name,
        currency=getattr(billing, "currency", "EUR"),
        groups=groups,
        total=total,
    )
    if not charts:
        return report
    from dataclasses import replace

    return replace(
        report,
        days=tuple(
            DayVolume(day, received, closed)
            for day, received, closed in zip(
                period.local_days(), scan.received_by_day, scan.closed_by_day, strict=True
            )
        ),
        levels=_level_targets(scan, settings),
        first_response_spread=_spread([t.first_response for t in tallies.values()]),
        escalations_by_timer=_sum_dicts(t.escalations_by_timer for t in tallies.values()),
    )


def _merge(into: Tally | None, tally: Tally) -> Tally:
    """Two raw keys shown under one name (renamed): add them up."""
    if into is None:
        return tally
    for name in ("received", "closed", "open", "reopened", "self_care", "time_s"):
        setattr(into, name, getattr(into, name) + getattr(tally, name))
    for name in ("first_response_met", "first_response_decided", "resolve_met", "resolve_decided"):
        setattr(into, name, getattr(into, name) + getattr(tally, name))
    into.problems |= tally.problems
    into.taken.extend(tally.taken)
    into.first_response.extend(tally.first_response)
    into.resolution.extend(tally.resolution)
    into.escalations = _sum_dicts((into.escalations, tally.escalations))
    into.escalations_by_timer = _sum_dicts((into.escalations_by_timer, tally.escalations_by_timer))
    if tally.amount is not None:
        into.amount = (into.amount or 0.0) + tally.amount
    return into


def _figures(key: str | int | None, t: Tally) -> Figures:
    return Figures(
        key=key,
        received=t.received,
        closed=t.closed,
        open=t.open,
        reopened=t.reopened,
        problems=len(t.problems),
        taken_into_account=stats.describe(t.taken),
        first_response=stats.describe(t.first_response),
        resolution=stats.describe(t.resolution),
        within_first_response=stats.share(t.first_response_met, t.first_response_decided),
        within_resolve=stats.share(t.resolve_met, t.resolve_decided),
        escalations=_sorted_levels(t.escalations),
        self_care=t.self_care,
        time_spent_s=t.time_s,
        amount=None if t.amount is None else round(t.amount, 2),
    )


def _total(tallies: Iterable[Tally]) -> Figures:
    parts = list(tallies)
    amounts = [t.amount for t in parts if t.amount is not None]
    return Figures(
        key=None,
        received=sum(t.received for t in parts),
        closed=sum(t.closed for t in parts),
        open=sum(t.open for t in parts),
        reopened=sum(t.reopened for t in parts),
        problems=len(set().union(*(t.problems for t in parts))),
        taken_into_account=stats.describe_all([t.taken for t in parts]),
        first_response=stats.describe_all([t.first_response for t in parts]),
        resolution=stats.describe_all([t.resolution for t in parts]),
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


def _spread(groups: list) -> tuple[tuple[str, int], ...]:  # noqa: ANN001 - sorted arrays
    """How many first responses fall in each bucket of SPREAD (the groups are sorted)."""
    counts, below = [], 0
    for label, bound in SPREAD:
        upto = sum(len(g) for g in groups) if bound is None else sum(bisect_left(g, bound) for g in groups)
        counts.append((label, upto - below))
        below = upto
    return tuple(counts)
