"""Time the timer sweep over 100,000 open tickets of which 1,000 are due; run from the repo root.

    .venv/bin/python bench/timers.py [--postgres] [--office] [--tickets N] [--due N]

Target: one sweep (find the due tickets, move each to the next level, queue
the notify_level mail for each) under 1 s, touching only the due tickets:
the due query must use the due-time indexes, not scan the table. The
query plan is printed (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
PostgreSQL). The machine is noisy, so the figures come with baselines
measured in the same run: ``SELECT count(*)`` over the tickets, the due
tickets found with one ``OR`` of the three clocks (a table scan on SQLite),
and a second sweep once nothing is due (the due query alone); the sweep is
also split into mail (render, compose, queue) and the timer work itself,
and its CPU time is given beside the wall-clock time. ``--postgres`` runs the same on a throwaway PostgreSQL database as well
(postgres@127.0.0.1:5432, skipped when unreachable).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402
from sqlalchemy import create_engine, func, insert, or_, select, text  # noqa: E402

import maildesk.notify.drafts  # noqa: E402
import maildesk.runtime.sweep  # noqa: E402
from maildesk.runtime.app import App  # noqa: E402
from maildesk.runtime.sweep import sweep  # noqa: E402
from maildesk.storage.models import Event, Outbox, Ticket  # noqa: E402
from maildesk.tickets.escalation import due_tickets_query  # noqa: E402
from tests.support import Desk  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHUNK = 10_000


def make_app(directory: Path, url: str) -> App:
    """The test suite's desk (two levels, critical targets, no rules) on ``url``.

    With ``--office``, the team tests' desk instead: level 2 in two teams, and every clock counted in an
    office calendar (Europe/Paris, weekdays 08:30-12:30 and 13:30-18:00, French public holidays).
    """
    if not OFFICE:
        return App.from_config(Desk(directory / "desk", db_url=url, rules="").config)
    from tests.teams.desks import team_desk

    desk = team_desk(directory / "desk", db_url=url, rules="")
    text = desk.config.read_text().replace('timezone = "UTC"\n', 'timezone = "UTC"\ncalendar = "office"\n', 1)
    desk.config.write_text(text)
    return App.from_config(desk.config)


OFFICE = False  # set by --office


def fill(app: App, tickets: int, due: int, now: datetime) -> float:
    """Bulk-insert ``tickets`` open tickets, ``due`` of them due now (spread over the three clocks)."""
    started = time.perf_counter()
    every = max(1, tickets // max(due, 1))
    past, future = now - timedelta(minutes=5), now + timedelta(hours=4)
    rows = []
    made_due = 0
    with app.db.engine.begin() as conn:
        for index in range(tickets):
            is_due = made_due < due and index % every == 0
            made_due += is_due
            clock = index % 3
            rows.append(
                {
                    "subject": f"Request {index}",
                    "status": "open" if index % 2 else "new",
                    "level": 1,
                    "urgency": "critical" if clock else "normal",
                    "kind": "request",
                    "requester": f"user{index % 5000}@client{index % 97}.example",
                    "requester_name": "",
                    "tags": [],
                    "language": "en",
                    "created_at": now - timedelta(hours=1),
                    "updated_at": now - timedelta(hours=1),
                    "time_spent_s": 0,
                    "resolve_breached": False,
                    "level_since": now - timedelta(hours=1),
                    "escalate_due_at": past if is_due and clock == 0 else future,
                    "first_response_due_at": past if is_due and clock == 1 else (future if clock else None),
                    "resolve_due_at": past if is_due and clock == 2 else (future if clock else None),
                    "root_message_id": f"<bench-{index}@client.example>",
                }
            )
            if len(rows) == CHUNK:
                conn.execute(insert(Ticket), rows)
                rows = []
        if rows:
            conn.execute(insert(Ticket), rows)
        if app.db.is_postgres:
            conn.execute(text("ANALYZE tickets"))
        else:
            conn.execute(text("ANALYZE"))
    assert made_due == due, (made_due, due)
    return time.perf_counter() - started


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def query_plan(app: App, now: datetime) -> str:
    compiled = due_tickets_query(now, 500).compile(app.db.engine, compile_kwargs={"literal_binds": True})
    with app.db.engine.connect() as conn:
        if app.db.is_postgres:
            rows = conn.execute(text(f"EXPLAIN {compiled}")).all()
            return "\n".join(f"    {row[0]}" for row in rows)
        rows = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        return "\n".join(f"    {row[-1]}" for row in rows)


def run(label: str, url: str, directory: Path, tickets: int, due: int) -> float:
    app = make_app(directory, url)
    try:
        now = datetime.now(UTC)
        fill_s = fill(app, tickets, due, now)
        print(f"\n== {label}: {tickets:,} open tickets, {due:,} due (filled in {fill_s:.1f} s)")
        print("  due query plan:")
        print(query_plan(app, now))

        def count_all() -> int:
            with app.db.session() as session:
                return session.scalar(select(func.count()).select_from(Ticket))

        def scan_for_due() -> int:
            # The due query as one OR of the three clocks: SQLite answers it with a table scan.
            with app.db.session() as session:
                return len(
                    session.scalars(
                        select(Ticket.number)
                        .where(
                            Ticket.status != "closed",
                            or_(
                                Ticket.escalate_due_at <= now,
                                Ticket.first_response_due_at <= now,
                                Ticket.resolve_due_at <= now,
                            ),
                        )
                        .order_by(Ticket.number)
                    ).all()
                )

        count_s = min(timed(count_all)[0] for _ in range(3))
        scan_s = min(timed(scan_for_due)[0] for _ in range(3))
        mail_s = 0.0
        # What the sweep does to queue its mail, each where the sweep looks it up.
        mail_steps = (
            (maildesk.notify.drafts, "draft"),
            (maildesk.runtime.sweep, "fill_drafts"),
            (maildesk.runtime.sweep, "store_drafts"),
        )
        originals = {(module, name): getattr(module, name) for module, name in mail_steps}

        def timed_step(step):  # instrument: how much of the sweep is rendering and queueing mail
            def run(*args, **kwargs):
                nonlocal mail_s
                started = time.perf_counter()
                try:
                    return step(*args, **kwargs)
                finally:
                    mail_s += time.perf_counter() - started

            return run

        for (module, name), step in originals.items():
            setattr(module, name, timed_step(step))
        cpu = time.process_time()
        try:
            sweep_s, handled = timed(lambda: sweep(app.db, app.pipeline, now))
        finally:
            for (module, name), step in originals.items():
                setattr(module, name, step)
        cpu_s = time.process_time() - cpu
        idle_s = min(timed(lambda: sweep(app.db, app.pipeline, now))[0] for _ in range(3))

        with app.db.session() as session:
            escalations = session.scalar(
                select(func.count()).select_from(Event).where(Event.type == "escalation")
            )
            moved = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.level == 2))
            queued = session.scalar(select(func.count()).select_from(Outbox))
        print(
            f"  sweep: {sweep_s * 1000:8.1f} ms  ({handled} tickets escalated, {escalations} escalation events, "
            f"{moved} tickets at level 2, {queued} mails queued)"
        )
        print(
            f"  of which rendering, composing and queueing the {queued} mails: {mail_s * 1000:8.1f} ms; "
            f"the timer work (due query, claim, level change, event, commit): {(sweep_s - mail_s) * 1000:8.1f} ms"
        )
        server = "; the server's work is not counted" if app.db.is_postgres else ""
        print(
            f"  per due ticket: {sweep_s / max(handled, 1) * 1000:.2f} ms; CPU time of this process for the sweep: "
            f"{cpu_s * 1000:.1f} ms (less sensitive to a busy machine{server})"
        )
        print(
            f"  baseline SELECT count(*) over all tickets: {count_s * 1000:8.1f} ms  "
            f"(sweep / count = {sweep_s / count_s:.1f})"
        )
        print(
            f"  baseline sweep with nothing due (the due query alone): {idle_s * 1000:8.2f} ms  "
            f"(idle sweep / count = {idle_s / count_s:.3f})"
        )
        print(
            f"  for comparison, the due tickets found with one OR query: {scan_s * 1000:8.2f} ms  "
            f"(idle sweep / OR query = {idle_s / scan_s:.3f})"
        )
        touched_only_due = handled == due == escalations == moved
        print(
            f"  only the due tickets touched: {'yes' if touched_only_due else 'NO'}; "
            f"sweep under 1 s: {'yes' if sweep_s < 1.0 else 'NO'} "
            f"(load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs)"
        )
        return sweep_s
    finally:
        app.close()


def postgres_reachable() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=1):
        return True
    return False


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    name = f"maildesk_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--postgres", action="store_true", help="also run on a throwaway PostgreSQL database")
    parser.add_argument("--office", action="store_true", help="teams at level 2 and clocks in office hours")
    args = parser.parse_args()
    global OFFICE
    OFFICE = args.office
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # no per-ticket info lines

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "sqlite"
        directory.mkdir()
        run("SQLite", f"sqlite:///{directory}/bench.db", directory, args.tickets, args.due)
    if args.postgres:
        if not postgres_reachable():
            print("\n== PostgreSQL: not reachable on 127.0.0.1:5432, skipped")
        else:
            with tempfile.TemporaryDirectory() as tmp, postgres_database() as url:
                run("PostgreSQL", url, Path(tmp), args.tickets, args.due)
    return 0


if __name__ == "__main__":
    sys.exit(main())
