"""Time due-time computation in a business calendar; run from the repo root.

    .venv/bin/python bench/calendars.py [--count N]

Target: under 50 µs per due time. Each figure is the mean over ``count``
tickets created at random instants of 2026 (so weekends, lunch breaks,
holidays and both daylight-saving changes are crossed), for targets from 30
minutes to two weeks in an office calendar (Europe/Paris, 08:30-12:30 and
13:30-18:00 on weekdays, French public holidays). The baseline, measured in
the same run, is the "always" calendar (a datetime plus a timedelta): what
due times cost before calendars. ``business_seconds_between`` (what reports
use) is timed over the same spans.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from maildesk.calendars import ALWAYS, read_calendar

OFFICE = ["08:30-12:30", "13:30-18:00"]
TARGETS = {"30m": 1800, "4h": 4 * 3600, "1d": 86_400, "2w": 14 * 86_400}


def per_call_us(function, arguments: list[tuple]) -> float:
    started = time.perf_counter()
    for args in arguments:
        function(*args)
    return (time.perf_counter() - started) / len(arguments) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    options = parser.parse_args()
    table = {
        "timezone": "Europe/Paris",
        "country": "FR",
        **{d: OFFICE for d in ("mon", "tue", "wed", "thu", "fri")},
    }
    office, problems = read_calendar("office", table)
    assert office is not None, problems
    rng = random.Random(11)
    year = datetime(2026, 1, 1, tzinfo=UTC)
    starts = [year + timedelta(seconds=rng.randrange(365 * 86_400)) for _ in range(options.count)]
    office.add_business_time(starts[0], 60)  # load the year's holidays and offsets, as the first ticket does
    print(f"{options.count} due times per figure, office calendar (Europe/Paris, FR holidays)")
    print(f"{'target':>6}  {'always µs':>10}  {'office µs':>10}  {'ratio':>6}  {'between µs':>10}")
    worst = 0.0
    for label, seconds in TARGETS.items():
        arguments = [(start, seconds) for start in starts]
        baseline = per_call_us(ALWAYS.add_business_time, arguments)
        business = per_call_us(office.add_business_time, arguments)
        dues = [office.add_business_time(start, seconds) for start in starts]
        between = per_call_us(office.business_seconds_between, list(zip(starts, dues, strict=True)))
        worst = max(worst, business)
        print(f"{label:>6}  {baseline:10.2f}  {business:10.2f}  {business / baseline:6.1f}  {between:10.2f}")
    verdict = "ok" if worst < 50 else "SLOW"
    print(f"worst due-time computation: {worst:.1f} µs per ticket (target < 50 µs): {verdict}")


if __name__ == "__main__":
    main()
