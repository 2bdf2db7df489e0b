"""Days a calendar is closed all day: listed dates and a country's public holidays, cached per year.

Country holidays come from the ``holidays`` package (``country = "FR"``, or
``"FR-57"`` for a subdivision, the ISO 3166-2 form). They are computed for a
year the first time a date of that year is asked about, and kept as day
numbers (days since 1970-01-01) so that the arithmetic asks a set, not a library.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_number(day: date) -> int:
    """Days since 1970-01-01 (negative before)."""
    return day.toordinal() - EPOCH_ORDINAL


def split_country(code: str) -> tuple[str, str | None]:
    """ "FR" -> ("FR", None); "FR-57" -> ("FR", "57"); "US-CA" -> ("US", "CA")."""
    country, _dash, subdivision = code.strip().partition("-")
    return country.upper(), (subdivision or None)


def check_country(code: str) -> str | None:
    """None when the ``holidays`` package knows ``code`` (and its subdivision); else why not."""
    import holidays
    from holidays.registry import EntityLoader

    country, subdivision = split_country(code)
    # The codes from the registry: list_supported_countries() would import every country's module (~80 ms
    # on each start of every command, for a config with a holiday calendar).
    if country not in EntityLoader.get_country_codes(True):
        return f'{code!r} is not a country the holidays package knows (an ISO 3166 code such as "FR")'
    if subdivision is not None:
        known = list(getattr(holidays, country).subdivisions)
        try:
            holidays.country_holidays(country, subdiv=subdivision, years=2000)
        except NotImplementedError:
            shown = ", ".join(f"{country}-{name}" for name in known[:12]) + (
                ", ..." if len(known) > 12 else ""
            )
            return f"{code!r}: {country} has no subdivision {subdivision!r} (known: {shown or 'none'})"
    return None


@dataclass
class DaysOff:
    """Whole closed days: ``listed`` dates plus ``country`` public holidays."""

    listed: frozenset[date] = frozenset()
    country: str | None = None
    # Closed day numbers of the years loaded so far (a contiguous range of days [_low, _high)).
    _days: set[int] = field(default_factory=set, repr=False, compare=False)
    _sorted: list[int] = field(default_factory=list, repr=False, compare=False)
    _low: int = field(default=0, repr=False, compare=False)
    _high: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._days.update(day_number(day) for day in self.listed)
        self._sorted = sorted(self._days)
        if self.country is None:  # listed dates only: every year is known already
            self._low, self._high = -(10**9), 10**9

    def is_closed(self, day: int) -> bool:
        """Whether day number ``day`` is a listed date or a public holiday."""
        if not self._low <= day < self._high:
            self._cover(day, day + 1)
        return day in self._days

    def closed_in(self, first: int, count: int) -> list[int]:
        """The closed day numbers among ``count`` days from ``first``, in order."""
        if not (self._low <= first and first + count <= self._high):
            self._cover(first, first + count)
        return self._sorted[bisect_left(self._sorted, first) : bisect_left(self._sorted, first + count)]

    def _cover(self, first: int, stop: int) -> None:
        """Load the country's holidays of every year from ``first`` to ``stop`` (day numbers) and between."""
        first_year = date.fromordinal(first + EPOCH_ORDINAL).year
        last_year = date.fromordinal(stop - 1 + EPOCH_ORDINAL).year
        if self._high > self._low:  # keep the range contiguous
            first_year = min(first_year, date.fromordinal(self._low + EPOCH_ORDINAL).year)
            last_year = max(last_year, date.fromordinal(self._high - 1 + EPOCH_ORDINAL).year)
        import holidays

        country, subdivision = split_country(self.country or "")
        found = holidays.country_holidays(country, subdiv=subdivision, years=range(first_year, last_year + 1))
        self._days.update(day_number(day) for day in found)
        self._sorted = sorted(self._days)
        self._low = day_number(date(first_year, 1, 1))
        self._high = day_number(date(last_year + 1, 1, 1))
