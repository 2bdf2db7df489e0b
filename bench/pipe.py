"""Pipe delivery (issue 14): ``maildesk ingest < msg`` as an MTA runs it, with and without a daemon.

    .venv/bin/python bench/pipe.py [--runs 30] [--rounds 3] [--postgres]

Per round, in the same run: the baseline ``python -c pass``; the command with
the daemon running (target < 100 ms); the command with no daemon (target
< 300 ms: the message is stored at exit 0, and a drainer started on demand
makes the ticket and its acknowledgement), with the time from the start of
the command until the ticket exists; with ``--postgres`` the same without a
daemon on a throwaway PostgreSQL database. Prints each round's medians and,
at the end, the median over all samples with the spread (10th-90th
percentile) and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
PY = sys.executable

from ingest import maildesk_args  # noqa: E402

from tests.support import Desk, db_rows, make_message, postgres_available, postgres_url  # noqa: E402


def timed(command: list[str], cwd: Path, stdin: bytes | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, input=stdin, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} exited {done.returncode}: {done.stderr.decode()}")
    return elapsed


def ingest(desk: Desk) -> list[str]:
    return maildesk_args(desk, "ingest")


def tickets(desk: Desk) -> int:
    return db_rows(desk.db_url, "SELECT count(*) FROM tickets")[0][0]


def pipe_without_daemon(desk: Desk, runs: int, tag: str) -> tuple[list[float], list[float]]:
    """(seconds to exit 0, seconds from the start until the ticket exists) of each message."""
    exits, ticketed = [], []
    for n in range(runs):
        before = tickets(desk)
        start = time.perf_counter()
        exits.append(
            timed(ingest(desk), desk.dir, make_message(subject=f"{tag} {n}", sender=f"u{n}@client.com"))
        )
        stored = db_rows(desk.db_url, "SELECT count(*) FROM inbox")[0][0]
        assert stored >= before + 1, "not stored at exit 0"
        while tickets(desk) <= before:
            if time.perf_counter() - start > 60:
                raise SystemExit("no ticket after 60 s")
            time.sleep(0.005)
        ticketed.append(time.perf_counter() - start)
    return exits, ticketed


def pipe_with_daemon(desk: Desk, runs: int) -> list[float]:
    return [
        timed(ingest(desk), desk.dir, make_message(subject=f"Daemon {n}", sender=f"d{n}@client.com"))
        for n in range(runs)
    ]


def spread(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    if len(ms) < 2:
        return f"{ms[0]:.0f} ms"
    deciles = statistics.quantiles(ms, n=10)
    return f"median {statistics.median(ms):.0f} ms (p10 {deciles[0]:.0f}, p90 {deciles[-1]:.0f}, n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-pipe-"))
    print(f"pipe delivery benchmark ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f})")
    every: dict[str, list[float]] = {"python": [], "daemon": [], "exit": [], "ticket": [], "pg-exit": []}
    every["pg-ticket"] = []
    with ExitStack() as stack:
        pg_url = stack.enter_context(postgres_url()) if args.postgres and postgres_available() else None
        for round_no in range(args.rounds):
            python = [timed([PY, "-c", "pass"], work) for _ in range(args.runs)]
            with_daemon = Desk(work / f"daemon{round_no}")
            with_daemon.cli("db", "upgrade")
            with_daemon.start("--log-level", "warning")
            try:
                daemon = pipe_with_daemon(with_daemon, args.runs)
            finally:
                with_daemon.stop()
            alone = Desk(work / f"alone{round_no}")
            alone.cli("db", "upgrade")
            exits, ticketed = pipe_without_daemon(alone, args.runs, "Alone")
            line = (
                f"round {round_no + 1} (load {os.getloadavg()[0]:.2f}): python -c pass "
                f"{statistics.median(python) * 1000:.0f} ms; "
                f"with a daemon {statistics.median(daemon) * 1000:.0f} ms; "
                f"no daemon: exit 0 after {statistics.median(exits) * 1000:.0f} ms, "
                f"ticket after {statistics.median(ticketed) * 1000:.0f} ms"
            )
            for key, values in (
                ("python", python),
                ("daemon", daemon),
                ("exit", exits),
                ("ticket", ticketed),
            ):
                every[key] += values
            if pg_url is not None:
                pg = Desk(work / f"pg{round_no}", db_url=pg_url)
                pg.cli("db", "upgrade")
                pg_exits, pg_ticketed = pipe_without_daemon(pg, args.runs, f"PG round {round_no}")
                every["pg-exit"] += pg_exits
                every["pg-ticket"] += pg_ticketed
                line += (
                    f"; PostgreSQL, no daemon: exit 0 after {statistics.median(pg_exits) * 1000:.0f} ms, "
                    f"ticket after {statistics.median(pg_ticketed) * 1000:.0f} ms"
                )
            print(line, flush=True)
        time.sleep(3)  # the last drainer leaves before the database is dropped
    python = statistics.median(every["python"])
    print(f"all rounds (load average now {os.getloadavg()[0]:.2f}):")
    print(f"  baseline python -c pass: {spread(every['python'])}")
    print(
        f"  pipe with the daemon running: {spread(every['daemon'])} = "
        f"{statistics.median(every['daemon']) / python:.1f}x the baseline (target < 100 ms)"
    )
    print(
        f"  pipe without a daemon, to exit 0 (stored): {spread(every['exit'])} = "
        f"{statistics.median(every['exit']) / python:.1f}x the baseline (target < 300 ms)"
    )
    print(f"  without a daemon, from the start of the command to the ticket: {spread(every['ticket'])}")
    if every["pg-exit"]:
        print(f"  PostgreSQL without a daemon, to exit 0: {spread(every['pg-exit'])} (target < 300 ms)")
        print(f"  PostgreSQL without a daemon, to the ticket: {spread(every['pg-ticket'])}")


if __name__ == "__main__":
    main()
