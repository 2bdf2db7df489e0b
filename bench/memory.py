"""Memory of the whole desk while it processes a burst (issue 14): target < 150 MB PSS under default settings.

    .venv/bin/python bench/memory.py [--count 300] [--rounds 2]

Starts ``maildesk run`` as shipped (``[processing] workers = "auto"``), then
with ``workers = 0`` and with ``workers = 2`` (what "auto" gave on two cores
before), sends a burst of generated mail over SMTP with 4 clients (every
acknowledgement to an aiosmtpd sink), and samples every
process of the desk (daemon, processing process, forkservers, workers) five
times a second until the burst is processed. PSS counts a page shared by n
processes as 1/n in each, so the sum is what the desk takes; the peak of the
sum is printed, with each process's share at that moment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import db_counts, descendants, generate, pss_kb, send_all  # noqa: E402

from tests.support import Desk, SmtpSink  # noqa: E402


def name_of(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = b" ".join(argv).decode(errors="replace")
    if "forkserver" in text:
        return "forkserver"
    if " run" in text:
        return "daemon"
    return "child"  # the processing process or a worker: told apart by their parent below


def snapshot(root: int) -> dict[str, int]:
    """PSS in KB of each process of the desk, keyed by what it is."""
    found: dict[str, int] = {}
    for pid in descendants(root):
        kind = name_of(pid)
        if kind == "child":
            parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
            kind = "worker" if name_of(int(parent)) == "forkserver" and pid != root else "child"
        key, n = kind, 1
        while key in found:
            n += 1
            key = f"{kind}{n}"
        found[key] = pss_kb(pid)
    return found


def burst(messages: list[bytes], work: Path, workers: str) -> tuple[int, dict[str, int], float]:
    """(peak total PSS in KB, the processes at that moment, seconds) for one burst."""
    sink = SmtpSink()
    sink.start()
    extra = f"\n[processing]\nworkers = {workers if workers.isdigit() else repr(workers)}\n"
    desk = Desk(work, sink=sink, extra=extra)
    desk.cli("db", "upgrade")
    desk.start("--log-level", "warning")
    peak: tuple[int, dict[str, int]] = (0, {})
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            shot = snapshot(desk.process.pid)
            if sum(shot.values()) > peak[0]:
                peak = (sum(shot.values()), shot)
            done.wait(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        start = time.perf_counter()
        send_all(desk.port, messages)
        while db_counts(desk) != (0, 0):
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
    finally:
        done.set()
        sampler.join()
        desk.stop()
        sink.stop()
    return peak[0], peak[1], elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-memory-"))
    print(f"desk memory under a burst ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f})")
    messages, _mbox = generate(args.count, work / "gen")
    totals: dict[str, list[float]] = {"auto": [], "0": [], "2": []}
    for round_no in range(args.rounds):
        for workers in totals:
            total, shot, seconds = burst(messages, work / f"{workers}-{round_no}", workers)
            totals[workers].append(total / 1024)
            parts = ", ".join(f"{k} {v / 1024:.0f}" for k, v in sorted(shot.items()))
            print(
                f"round {round_no + 1}, workers = {workers!r}: peak {total / 1024:.0f} MB PSS ({parts}); "
                f"{args.count / seconds:.0f} msg/s; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    for workers, values in totals.items():
        print(
            f"workers = {workers!r}: peak PSS median {statistics.median(values):.0f} MB "
            f"(min {min(values):.0f}, max {max(values):.0f}, n={len(values)}) (target < 150 MB)"
        )


if __name__ == "__main__":
    main()
