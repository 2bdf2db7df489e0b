"""CLI reads on a large database (issue 14): `tickets list`, `tickets show`, `kb search` (target < 300 ms).

    .venv/bin/python bench/cli.py [--tickets 100000] [--runs 15]

Builds the database once (bulk inserts: tickets, one history event and one
thread id each, plus the shipped knowledge base), then times each command as
a user runs it, a new process each time, beside ``python -c pass`` in the same
run. Prints the median, the 10th and 90th percentiles and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
PY = sys.executable

from ingest import prefill  # noqa: E402

from tests.support import Desk, make_message  # noqa: E402

COMMANDS = {
    "tickets list": ["tickets", "list"],
    "tickets list --status all --format json": ["tickets", "list", "--status", "all", "--format", "json"],
    "tickets show": ["tickets", "show", "{middle}"],
    "kb search": ["kb", "search", "vpn password"],
}


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()}")
    return elapsed


def spread(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    deciles = statistics.quantiles(ms, n=10)
    return (
        f"median {statistics.median(ms):6.0f} ms (p10 {deciles[0]:.0f}, p90 {deciles[-1]:.0f}, n={len(ms)})"
    )


def build(work: Path, tickets: int) -> Desk:
    desk = Desk(work / "desk")
    start = time.perf_counter()
    prefill(desk, tickets)
    message = work / "one.eml"
    message.write_bytes(make_message(subject="VPN password expired"))
    desk.cli("ingest", str(message))  # in process: syncs the knowledge base files too
    print(f"built {tickets:,} tickets in {time.perf_counter() - start:.1f} s")
    return desk


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-cli-"))
    print(f"CLI reads ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f})")
    desk = build(work, args.tickets)
    maildesk = [str(Path(PY).with_name("maildesk")), "--config", str(desk.config)]
    samples: dict[str, list[float]] = {"python -c pass": []} | {name: [] for name in COMMANDS}
    for _ in range(args.runs):  # interleaved: a burst of load on the shared machine hits every command alike
        samples["python -c pass"].append(timed([PY, "-c", "pass"], work))
        for name, words in COMMANDS.items():
            command = [w.replace("{middle}", str(args.tickets // 2)) for w in words]
            samples[name].append(timed(maildesk + command, desk.dir))
    baseline = statistics.median(samples["python -c pass"])
    for name, values in samples.items():
        ratio = statistics.median(values) / baseline
        print(f"  {name:42} {spread(values)} = {ratio:4.1f}x python -c pass")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
