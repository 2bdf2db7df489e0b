"""Check a crontab line at config load without importing the scheduler (``maildesk ingest`` loads the
config for every message and must start fast); APScheduler's ``CronTrigger`` runs it in the daemon."""

from __future__ import annotations

import re

_NAMES = {
    3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    4: ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
}
_BOUNDS = (
    (0, 59, "minute"),
    (0, 23, "hour"),
    (1, 31, "day of month"),
    (1, 12, "month"),
    (0, 7, "day of week"),
)
_ITEM = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


def check_crontab(line: str) -> str | None:
    """None when ``line`` is five valid crontab fields (minute hour day month weekday), else what is wrong."""
    fields = line.lower().split()
    if len(fields) != 5:
        return 'not a cron line of 5 fields (minute hour day month weekday), e.g. "0 8 * * mon"'
    for index, field in enumerate(fields):
        low, high, name = _BOUNDS[index]
        for item in field.split(","):
            match = _ITEM.match(item)
            if match is None:
                return f"{name} field {field!r} is not valid cron syntax"
            if match.group(2) is not None and int(match.group(2)) == 0:
                return f"{name} field {field!r}: a step of 0"
            if match.group(1) == "*":
                continue
            for value in match.group(1).split("-"):
                number = _value(value, index)
                if number is None or not low <= number <= high:
                    return f"{name} field {field!r}: {value!r} is not from {low} to {high}"
    return None


def _value(text: str, index: int) -> int | None:
    if text.isdigit():
        return int(text)
    names = _NAMES.get(index, ())
    if text in names:
        return names.index(text) + (1 if index == 3 else 0)
    return None


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def for_apscheduler(line: str) -> str:
    """The line with day-of-week numbers as names: in crontab 0 (and 7) is Sunday, in APScheduler 3 Monday."""
    fields = line.lower().split()
    items = []
    for item in fields[4].split(","):
        match = _ITEM.match(item)
        if match is None or match.group(1) == "*":
            items.append(item)
            continue
        step = f"/{match.group(2)}" if match.group(2) else ""
        bounds = [int(v) if v.isdigit() else v for v in match.group(1).split("-")]
        if len(bounds) == 2 and bounds[0] == 0 and isinstance(bounds[1], int) and bounds[1] >= 1:
            items.append("sun")  # 0-N: Sunday, then Monday to N (APScheduler's weeks start on Monday)
            bounds[0] = 1
        names = [_CRON_DAYS[v] if isinstance(v, int) else v for v in bounds]
        items.append("-".join(names) + step)
    return " ".join([*fields[:4], ",".join(items)])
