"""Benchmark: ``maildesk report`` over 1,000,000 tickets (with their closings, reopenings, escalations,
time entries, requalifications and history events) on SQLite and on PostgreSQL.

Prints, for each engine and period (one that holds every ticket, and one
month), the median over the runs of the command's wall time (a fresh
process, as an admin runs it: interpreter start included), its peak RSS,
the report's time inside a process, and the ratio of each to a plain
``SELECT count(*) FROM tickets`` measured in the same run; and the load
average when the measures start (the machine is shared).

    .venv/bin/python bench/report.py                 # both engines, 1,000,000 tickets
    .venv/bin/python bench/report.py --tickets 100000 --only sqlite
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from maildesk.storage.db import Database  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START = "2025-01-01 00:00:00"  # tickets are spread over two years from here
SPAN_S = 2 * 365 * 86400
APPLICATIONS = ("ERP", "CRM", "Mail", "VPN", "Payroll", "Website", "Printing", "Phones")

# Every column written in SQL, so a million tickets take seconds to make on either engine.
_TICKETS = """
INSERT INTO tickets (number, subject, status, level, team, urgency, category, kind, application, problem,
    requester, requester_name, organisation, tags, language, created_at, updated_at, closed_at,
    time_spent_s, resolve_breached, first_action_at, taken_into_account_s, first_answer_at,
    first_response_s, first_response_met, pending_s, resolution_s, resolve_met, self_care,
    suggestions, technician, changed_at)
SELECT i, 'Request ' || i, CASE WHEN i % 20 = 0 THEN 'open' ELSE 'closed' END, 1 + i % 3,
    CASE i % 3 WHEN 0 THEN 'Front desk' WHEN 1 THEN 'Back desk' ELSE 'Experts' END,
    'normal', 'technical', 'request', {app}, CASE WHEN i % 50 = 0 THEN 'problem-' || (i % 400) END,
    'user' || (i % 5000) || '@client' || (i % 40) || '.com', '',
    CASE WHEN i % 40 = 1 THEN 'Client One' ELSE 'client' || (i % 40) || '.com' END, '[]', 'en',
    {created}, {created}, CASE WHEN i % 20 = 0 THEN NULL ELSE {closed} END,
    (i % 7) * 600, {false}, {created}, (i * 7919) % 14400, {created}, (i * 104729) % 86400,
    {met_fr}, 0, CASE WHEN i % 20 = 0 THEN NULL ELSE (i * 15485863) % 604800 END,
    CASE WHEN i % 20 = 0 THEN NULL ELSE {met_res} END, {false}, 0,
    'tech' || (i % 12) || '@example.org',
    CASE WHEN i % 10 < 3 THEN {created_later} WHEN i % 100 = 99 AND i % 20 != 0 THEN {after_closing} END
FROM {series}
"""
# A third of the tickets changed level an hour after they came (before any closing); one in a hundred
# was requalified a minute after it was closed, so reports look its old application up.
_CHANGES = """
INSERT INTO ticket_changes (ticket, at, field, old_value)
SELECT number, changed_at, CASE WHEN number % 10 < 3 THEN 'level' ELSE 'application' END,
    CASE WHEN number % 10 < 3 THEN '1' ELSE 'Legacy' END
FROM tickets WHERE changed_at IS NOT NULL
"""
_CLOSINGS = """
INSERT INTO ticket_closings (ticket, closed_at, reopened_at, resolution_s, resolve_met, self_care, closed_by)
SELECT number, closed_at, NULL, resolution_s, resolve_met, {false}, technician
FROM tickets WHERE closed_at IS NOT NULL
"""
_REOPENED = """
INSERT INTO ticket_closings (ticket, closed_at, reopened_at, resolution_s, resolve_met, self_care, closed_by)
SELECT number, created_at, closed_at, 60, {true}, {false}, technician FROM tickets WHERE number % 20 = 7
"""
_ESCALATIONS = """
INSERT INTO ticket_escalations (ticket, at, from_level, to_level, by_timer)
SELECT number, created_at, 1, 2, CASE WHEN number % 2 = 0 THEN {true} ELSE {false} END
FROM tickets WHERE number % 10 = 3
"""
_TIME = """
INSERT INTO time_entries (ticket, at, seconds, technician)
SELECT number, created_at, time_spent_s, technician FROM tickets WHERE time_spent_s > 0 AND number % 3 = 0
"""
_EVENTS = """
INSERT INTO events (ticket, type, at, from_addr, message_id, text, data)
SELECT number, k.t, created_at, requester, '<' || number || '.' || k.t || '@client.com>',
    'Hello, it fails.', '{{}}'
FROM tickets CROSS JOIN (SELECT 'message' AS t UNION ALL SELECT 'reply') AS k
"""

_DIALECT = {
    "sqlite": {
        "series": "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) "
        "SELECT i FROM n)",
        "created": f"strftime('%Y-%m-%d %H:%M:%S', '{START}', "
        f"'+' || ((i * 2654435761) % {SPAN_S}) || ' seconds') || '.000000'",
        "created_later": f"strftime('%Y-%m-%d %H:%M:%S', '{START}', "
        f"'+' || ((i * 2654435761) % {SPAN_S} + 3600) || ' seconds') || '.000000'",
        "after_closing": f"strftime('%Y-%m-%d %H:%M:%S', '{START}', '+' || ((i * 2654435761) % {SPAN_S} "
        "+ (i * 15485863) % 604800 + 60) || ' seconds') || '.000000'",
        "closed": f"strftime('%Y-%m-%d %H:%M:%S', '{START}', '+' || ((i * 2654435761) % {SPAN_S} "
        "+ (i * 15485863) % 604800) || ' seconds') || '.000000'",
        "true": "1",
        "false": "0",
    },
    "postgresql": {
        "series": "generate_series(1::bigint, {count}) AS i",
        "created": f"TIMESTAMPTZ '{START}+00' + ((i::bigint * 2654435761) % {SPAN_S}) * INTERVAL '1 second'",
        "created_later": f"TIMESTAMPTZ '{START}+00' + ((i::bigint * 2654435761) % {SPAN_S} + 3600) "
        "* INTERVAL '1 second'",
        "after_closing": f"TIMESTAMPTZ '{START}+00' + ((i::bigint * 2654435761) % {SPAN_S} "
        "+ (i::bigint * 15485863) % 604800 + 60) * INTERVAL '1 second'",
        "closed": f"TIMESTAMPTZ '{START}+00' + ((i::bigint * 2654435761) % {SPAN_S} "
        "+ (i::bigint * 15485863) % 604800) * INTERVAL '1 second'",
        "true": "TRUE",
        "false": "FALSE",
    },
}


def populate(url: str, count: int) -> None:
    db = Database(url)
    db.ensure_schema()
    kind = "postgresql" if db.is_postgres else "sqlite"
    words = dict(_DIALECT[kind])
    words["series"] = words["series"].format(count=count)
    cases = " ".join(f"WHEN {n} THEN '{a}'" for n, a in enumerate(APPLICATIONS))
    words["app"] = f"CASE i % 9 {cases} END"
    words["met_fr"] = f"CASE WHEN i % 10 < 8 THEN {words['true']} ELSE {words['false']} END"
    words["met_res"] = f"CASE WHEN i % 10 < 7 THEN {words['true']} ELSE {words['false']} END"
    started = time.perf_counter()
    with db.engine.begin() as conn:
        for statement in (_TICKETS, _CHANGES, _CLOSINGS, _REOPENED, _ESCALATIONS, _TIME, _EVENTS):
            sql = statement.format(**words)
            # psycopg reads % as a placeholder
            conn.exec_driver_sql(sql.replace("%", "%%") if db.is_postgres else sql)
        if db.is_postgres:
            conn.exec_driver_sql("SELECT setval('tickets_number_seq', (SELECT max(number) FROM tickets))")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    db.dispose()
    print(f"  made {count:,} tickets and their rows in {time.perf_counter() - started:.1f} s", flush=True)


def write_config(directory: Path, url: str) -> Path:
    """Three levels (a team each), the application catalogue, one organisation with a rate."""
    levels = "".join(
        f'[[levels]]\nid = {n}\nname = "{name}"\naddress = "support-l{n}@example.org"\n'
        f'members = ["tech{n}@example.org"]\n\n'
        for n, name in ((1, "Front desk"), (2, "Back desk"), (3, "Experts"))
    )
    catalogue = "".join(f'[[applications]]\nname = "{name}"\n\n' for name in APPLICATIONS)
    config = directory / "config.toml"
    config.write_text(
        f'[desk]\ntimezone = "Europe/Paris"\n\n[database]\nurl = "{url}"\n\n'
        f'[templates]\ndir = "{ROOT / "templates"}"\n\n{levels}{catalogue}'
        '[[organisations]]\nname = "Client One"\ndomains = ["client1.com"]\nrate = 90.0\n'
    )
    return config


def run_command(config: Path, *args: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one ``maildesk report`` process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "maildesk.cli", "--config", str(config), "report", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"report failed: {child.stderr.read().decode() if child.stderr else status}")
    return elapsed, usage.ru_maxrss // 1024


def in_process(url: str, config: Path, args: tuple[str, ...]) -> float:
    from maildesk.config import load_settings
    from maildesk.reports.build import build_report
    from maildesk.reports.period import resolve_period

    settings = load_settings(config)
    db = Database(url)
    period = resolve_period(args[1], args[3], settings.desk.timezone, datetime.now(UTC))
    started = time.perf_counter()
    build_report(db, settings, period, "application")
    elapsed = time.perf_counter() - started
    db.dispose()
    return elapsed


def count_baseline(url: str) -> float:
    engine = create_engine(url)
    with engine.connect() as conn:
        started = time.perf_counter()
        conn.execute(text("SELECT count(*) FROM tickets")).scalar()
        elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def measure(name: str, url: str, directory: Path, count: int, runs: int) -> None:
    print(f"{name}: {count:,} tickets", flush=True)
    populate(url, count)
    config = write_config(directory, url)
    everything = ("--since", "2024-01-01", "--until", "2027-06-01", "--format", "json")
    month = ("--since", "2026-11-01", "--until", "2026-12-01", "--format", "json")
    print(f"  load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    for label, args in (("a period holding every ticket", everything), ("one month", month)):
        baselines, commands, rss, inside = [], [], [], []
        for _ in range(runs):
            baselines.append(count_baseline(url))
            elapsed, peak = run_command(config, *args)
            commands.append(elapsed)
            rss.append(peak)
            inside.append(in_process(url, config, args))
        base, command, core = (statistics.median(v) for v in (baselines, commands, inside))
        spread = f"{min(commands):.2f}-{max(commands):.2f}"
        ratios = f"command {command / base:.0f}x, in process {core / base:.0f}x"
        print(
            f"  {label}: command {command:.2f} s (median of {runs}; {spread}), peak RSS {max(rss)} MB; "
            f"report in process {core:.2f} s; SELECT count(*) {base * 1000:.0f} ms: {ratios}",
            flush=True,
        )


@contextlib.contextmanager
def postgres_database():
    name = f"maildesk_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    with tempfile.TemporaryDirectory(prefix="maildesk-bench-report-") as tmp:
        directory = Path(tmp)
        if args.only in (None, "sqlite"):
            measure("SQLite", f"sqlite:///{directory}/bench.db", directory, args.tickets, args.runs)
        if args.only in (None, "postgresql"):
            with postgres_database() as url:
                measure("PostgreSQL", url, directory, args.tickets, args.runs)


if __name__ == "__main__":
    main()
