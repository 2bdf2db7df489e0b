"""UTC offsets of a time zone as segments of constant offset, found once per year and cached.

Business hours are wall-clock times. Within a stretch of real time where the
zone's offset does not change, wall time is real time plus that offset, so
the business arithmetic is plain integer arithmetic; only the stretches'
ends (daylight-saving changes) need care. A nonexistent local time (the hour
skipped in spring) is simply never shown by a clock, and a repeated one (the
hour lived twice in autumn) is shown twice: an office open then is open twice.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from maildesk.calendars.hours import US

_SAMPLE_S = 3 * 3600  # offsets are sampled every 3 hours, then each change is found to the second


def _year_start(year: int) -> int:
    """Seconds since the epoch of 1 January ``year``, 00:00 UTC."""
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


@dataclass
class ZoneOffsets:
    """The offset of ``zone`` at any instant, and when it next changes (in microseconds)."""

    zone: ZoneInfo
    _changes: list[int] = field(default_factory=list, repr=False, compare=False)  # instants, sorted (µs)
    _years: set[int] = field(default_factory=set, repr=False, compare=False)

    def _offset_s(self, seconds: int) -> int:
        offset = datetime.fromtimestamp(seconds, self.zone).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def offset_at(self, instant: int) -> tuple[int, int]:
        """(offset, end): the offset in force at ``instant`` (µs since the epoch, UTC) and until when.

        ``end`` is the next change of offset, or a year boundary when there is
        none soon: the offset is the same on both sides of an end that is not a change.
        """
        seconds = instant // US
        year = datetime.fromtimestamp(seconds, UTC).year
        for wanted in (year, year + 1):
            if wanted not in self._years:
                self._load_year(wanted)
        offset = self._offset_s(seconds) * US
        index = bisect_right(self._changes, instant)
        end = self._changes[index] if index < len(self._changes) else _year_start(year + 2) * US
        return offset, end

    def _load_year(self, year: int) -> None:
        start, stop = _year_start(year), _year_start(year + 1)
        found: list[int] = []
        previous = self._offset_s(start)
        for sample in range(start + _SAMPLE_S, stop + _SAMPLE_S, _SAMPLE_S):
            current = self._offset_s(sample)
            if current != previous:
                found.append(self._change_between(sample - _SAMPLE_S, sample, previous))
                previous = current
        self._years.add(year)
        self._changes = sorted({*self._changes, *(second * US for second in found if start < second <= stop)})

    def _change_between(self, low: int, high: int, before: int) -> int:
        """The first second in (low, high] whose offset differs from ``before`` (the offset at ``low``)."""
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset_s(middle) == before:
                low = middle
            else:
                high = middle
        return high
