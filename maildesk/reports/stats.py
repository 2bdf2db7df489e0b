"""Medians, 90th percentiles and means of the durations a figure query returned, packed.

The database hands each group's durations over as one string of decimal
numbers (``packed``); numpy reads it straight into an array of 32-bit
integers, with no Python object per ticket, and sorts it in place, in C. The
total's figures need no merged copy: its k-th smallest value is found by a
binary search on the value, counting with ``searchsorted`` in each group's
sorted array. Percentiles interpolate between the two nearest
ranks, like PostgreSQL's ``percentile_cont`` and the usual median of an even
count: the value at rank ``p * (n - 1)`` of the sorted values, counted from 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from maildesk.reports.types import Duration

PERCENTILES = (0.5, 0.9)
DTYPE = np.int32  # seconds: 68 years fit
EMPTY = np.empty(0, dtype=DTYPE)


def unpack(text: str | None) -> np.ndarray:
    """The integers of one packed string ("12,900,3600"); empty for None."""
    if not text:
        return EMPTY
    return np.fromstring(text, dtype=DTYPE, sep=",")


def joined(parts: Sequence[np.ndarray]) -> np.ndarray:
    """A group's arrays as one sorted array (sorted in place when there is only one)."""
    values = np.concatenate(parts) if len(parts) > 1 else (parts[0] if parts else EMPTY)
    values.sort()
    return values


def describe(sorted_values: np.ndarray) -> Duration:
    """count, median, 90th percentile and mean of sorted values."""
    return describe_all([sorted_values])


def describe_all(groups: Sequence[np.ndarray]) -> Duration:
    """The same figures over the union of several sorted arrays, without merging them."""
    parts = [group for group in groups if len(group)]
    count = sum(len(group) for group in parts)
    if not count:
        return Duration(0, None, None, None)
    if len(parts) == 1:
        values = parts[0]
        kth = lambda k: int(values[k])  # noqa: E731
    else:
        low, high = min(int(g[0]) for g in parts), max(int(g[-1]) for g in parts)

        def kth(k: int) -> int:
            """The k-th smallest value (from 0): the least v with more than k values <= v."""
            lo, hi = low, high
            while lo < hi:
                middle = (lo + hi) // 2
                if sum(int(np.searchsorted(g, middle, side="right")) for g in parts) > k:
                    hi = middle
                else:
                    lo = middle + 1
            return lo

    median, p90 = (_at_rank(kth, count, fraction) for fraction in PERCENTILES)
    total = sum(int(group.sum(dtype=np.int64)) for group in parts)
    return Duration(count, _round(median), _round(p90), _round(total / count))


def _at_rank(kth: Callable[[int], int], count: int, fraction: float) -> float:
    position = fraction * (count - 1)
    below = int(position)
    low = kth(below)
    if position == below:
        return float(low)
    return low + (kth(below + 1) - low) * (position - below)


def _round(value: float) -> int | float:
    """Whole seconds as an int; a fraction (an interpolation, a mean) to one decimal."""
    rounded = round(value, 1)
    return int(rounded) if rounded == int(rounded) else rounded


def count_below(groups: Sequence[np.ndarray], bound: int) -> int:
    """How many values of the sorted arrays are under ``bound``."""
    return sum(int(np.searchsorted(group, bound, side="left")) for group in groups)


def share(met: int, decided: int) -> float | None:
    """The share of ``decided`` tickets that met their target; None when none had a target."""
    return round(met / decided, 4) if decided else None
