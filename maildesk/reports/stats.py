"""Medians, 90th percentiles and means of durations gathered in one streamed pass.

Each group's durations sit in a compact ``array`` (8 bytes a value, never a
Python object per ticket), sorted once. The total of all groups needs no
second copy nor a second sort: its k-th smallest value is found by a binary
search on the value, counting with ``bisect`` in each sorted group.
Percentiles interpolate between the two nearest ranks, like PostgreSQL's
``percentile_cont`` and the usual definition of the median.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence

from maildesk.reports.types import Duration

PERCENTILES = (0.5, 0.9)


def sort_values(values: array) -> array:
    """The values sorted, still as an array (the sorted list is only transient)."""
    return array("I", sorted(values))


def describe(sorted_values: array) -> Duration:
    """count, median, 90th percentile and mean of one sorted group."""
    count = len(sorted_values)
    if not count:
        return Duration(0, None, None, None)
    median, p90 = (_interpolate(lambda k: sorted_values[k], count, p) for p in PERCENTILES)
    return Duration(count, _round(median), _round(p90), _round(sum(sorted_values) / count))


def describe_all(groups: Sequence[array]) -> Duration:
    """The same figures over the union of several sorted groups, without merging them."""
    parts = [group for group in groups if len(group)]
    count = sum(len(group) for group in parts)
    if not count:
        return Duration(0, None, None, None)
    low, high = min(group[0] for group in parts), max(group[-1] for group in parts)

    def kth(k: int) -> int:
        """The k-th smallest value (0-based) of the union: the least v with more than k values <= v."""
        lo, hi = low, high
        while lo < hi:
            middle = (lo + hi) // 2
            if sum(bisect_right(group, middle) for group in parts) > k:
                hi = middle
            else:
                lo = middle + 1
        return lo

    median, p90 = (_interpolate(kth, count, p) for p in PERCENTILES)
    total = sum(sum(group) for group in parts)
    return Duration(count, _round(median), _round(p90), _round(total / count))


def _interpolate(value_at, count: int, fraction: float) -> float:  # noqa: ANN001 - int -> int
    position = fraction * (count - 1)
    below = int(position)
    low = value_at(below)
    if position == below:
        return float(low)
    return low + (value_at(below + 1) - low) * (position - below)


def _round(value: float) -> int | float:
    """Whole seconds as an int; a fraction (an interpolation, a mean) to one decimal."""
    rounded = round(value, 1)
    return int(rounded) if rounded == int(rounded) else rounded


def share(met: int, decided: int) -> float | None:
    """The share of ``decided`` tickets that met their target; None when none had a target."""
    return round(met / decided, 4) if decided else None
