"""Durations as admins and technicians write them ("30m", "4h", "2d") and as the desk shows them ("1h20m")."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """ "90s", "30m", "4h", "2d", "1w" -> timedelta; raises ValueError otherwise."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f'{text!r} is not a duration like "90s", "30m", "4h" or "2d"')
    return timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2)])


def format_duration(seconds: int) -> str:
    """Whole minutes as "0m", "20m", "1h20m" (SPEC time_spent)."""
    minutes = max(0, int(seconds)) // 60
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours}h{minutes}m"
    return f"{hours}h" if hours else f"{minutes}m"
