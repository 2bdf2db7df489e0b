"""Medians, 90th percentiles and means of the durations a figure query returned, packed.

The database hands each group's durations over as one string of decimal
numbers (``packed``); numpy reads it straight into an integer array, with no
Python object per ticket, and sorts it in C. The total's figures come from
the groups' arrays joined. Percentiles interpolate between the two nearest
ranks, like PostgreSQL's ``percentile_cont`` and the usual median of an even
count: the value at rank ``p * (n - 1)`` of the sorted values, counted from 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maildesk.reports.types import Duration

PERCENTILES = (0.5, 0.9)
EMPTY = np.empty(0, dtype=np.int64)


def unpack(text: str | None) -> np.ndarray:
    """The integers of one packed string ("12,900,3600"); empty for None."""
    if not text:
        return EMPTY
    return np.fromstring(text, dtype=np.int64, sep=",")


def joined(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Several arrays as one sorted array."""
    values = np.concatenate(parts) if len(parts) > 1 else (parts[0] if parts else EMPTY)
    return np.sort(values, kind="stable")


def describe(sorted_values: np.ndarray) -> Duration:
    """count, median, 90th percentile and mean of sorted values."""
    count = len(sorted_values)
    if not count:
        return Duration(0, None, None, None)
    median, p90 = (_at_rank(sorted_values, fraction) for fraction in PERCENTILES)
    total = int(sorted_values.sum(dtype=np.int64))
    return Duration(count, _round(median), _round(p90), _round(total / count))


def _at_rank(values: np.ndarray, fraction: float) -> float:
    position = fraction * (len(values) - 1)
    below = int(position)
    low = int(values[below])
    if position == below:
        return float(low)
    return low + (int(values[below + 1]) - low) * (position - below)


def _round(value: float) -> int | float:
    """Whole seconds as an int; a fraction (an interpolation, a mean) to one decimal."""
    rounded = round(value, 1)
    return int(rounded) if rounded == int(rounded) else rounded


def count_below(sorted_values: np.ndarray, bound: int) -> int:
    """How many values are under ``bound``."""
    return int(np.searchsorted(sorted_values, bound, side="left"))


def share(met: int, decided: int) -> float | None:
    """The share of ``decided`` tickets that met their target; None when none had a target."""
    return round(met / decided, 4) if decided else None
