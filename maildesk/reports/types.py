"""The values a report hands its output shapes: frozen, with the SPEC's JSON built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from maildesk.durations import format_duration


@dataclass(frozen=True)
class Duration:
    """One duration figure: how many tickets had it, and its median, 90th percentile and mean (seconds)."""

    count: int
    median_s: int | float | None
    p90_s: int | float | None
    mean_s: int | float | None

    def as_json(self) -> dict:
        return {"count": self.count, "median_s": self.median_s, "p90_s": self.p90_s, "mean_s": self.mean_s}


@dataclass(frozen=True)
class Figures:
    """Every figure of SPEC section 12 for one group (``key``) or for the total (``key`` None)."""

    key: str | int | None
    received: int
    closed: int
    open: int
    reopened: int
    problems: int
    taken_into_account: Duration
    first_response: Duration
    resolution: Duration
    within_first_response: float | None
    within_resolve: float | None
    escalations: dict[str, int]  # level id -> escalations into it (by timer and by hand)
    self_care: int
    time_spent_s: int
    amount: float | None  # hours x the organisation's rate; None when no organisation has a rate

    @property
    def time_spent(self) -> str:
        return format_duration(self.time_spent_s)

    def as_json(self, *, with_key: bool = True) -> dict:
        shape: dict = {"key": self.key} if with_key else {}
        shape.update(
            received=self.received,
            closed=self.closed,
            open=self.open,
            reopened=self.reopened,
            problems=self.problems,
            taken_into_account=self.taken_into_account.as_json(),
            first_response=self.first_response.as_json(),
            resolution=self.resolution.as_json(),
            within_target={"first_response": self.within_first_response, "resolve": self.within_resolve},
            escalations=dict(self.escalations),
            self_care=self.self_care,
            time_spent=self.time_spent,
            amount=self.amount,
        )
        return shape


@dataclass(frozen=True)
class DayVolume:
    day: date
    received: int
    closed: int


@dataclass(frozen=True)
class LevelTargets:
    """Share within target of the tickets at one level (as it was), for the chart per level."""

    level: int
    name: str
    first_response: float | None
    resolve: float | None


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    timezone: str
    by: str
    calendar: str
    currency: str
    groups: tuple[Figures, ...]
    total: Figures
    # For the HTML page and the mail body only (not in the JSON of SPEC section 12).
    days: tuple[DayVolume, ...] = ()
    levels: tuple[LevelTargets, ...] = ()
    first_response_spread: tuple[tuple[str, int], ...] = ()  # (bucket label, tickets)
    escalations_by_timer: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Nothing happened in the period: the report says so (and shows zeros)."""
        t = self.total
        return not (
            t.received or t.closed or t.open or t.reopened or t.self_care or t.time_spent_s or t.escalations
        )

    def as_json(self) -> dict:
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "by": self.by,
            "calendar": self.calendar,
            "currency": self.currency,
            "groups": [group.as_json() for group in self.groups],
            "total": self.total.as_json(with_key=False),
        }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
