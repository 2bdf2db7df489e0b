"""Ingestion benchmark (issue #2): prints figures and ratios to baselines measured in the same run.

    .venv/bin/python bench/ingest.py            # everything (several minutes)
    .venv/bin/python bench/ingest.py --quick    # smaller counts

Sections:
  smtp   the real daemon over SMTP, 4 concurrent clients, acknowledgements delivered to a local
         aiosmtpd sink; baseline: an aiosmtpd server that only parses each message (stdlib) and drops it
  mbox   `maildesk ingest --mbox` of N requests and replies (target >= 150 msg/s)
  pipe   `maildesk ingest < msg` with the daemon running (target < 200 ms); baseline: `python -c pass`
  rss    peak RSS of `maildesk ingest --mbox` over many messages (target < 150 MB)
  scale  per-message cost with 1,000,000 tickets in the database vs 1,000 (target <= 1.3x)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import mailbox
import os
import re
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GEN = ROOT.parent / "shared" / "tools" / "gen_corpus.py"
PY = sys.executable

from tests.support import Desk, SmtpSink, free_port  # noqa: E402


def generate(count: int, out: Path, seed: int = 1) -> tuple[list[bytes], Path]:
    """Realistic support mail: 70% requests, 30% replies, fr/en, encodings, ~10 KB average, attachments."""
    subprocess.run(
        [
            PY,
            str(GEN),
            "--count",
            str(count),
            "--seed",
            str(seed),
            "--out",
            str(out),
            "--to",
            "support@example.org",
            "--agents",
            "alice@example.org,bob@example.org",
            "--tag-format",
            "[Support #{n}]",
            "--attachment-ratio",
            "0.2",
            "--attachment-kib",
            "40",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    box = mailbox.mbox(out / "corpus.mbox", create=False)
    messages = [box.get_bytes(key) for key in box.iterkeys()]
    box.close()
    return messages, out / "corpus.mbox"


def send_all(port: int, messages: list[bytes], clients: int = 4) -> float:
    """Send every message with ``clients`` concurrent SMTP connections; returns elapsed seconds."""
    # smtplib sends bytes as they are: mbox copies have bare LF line ends, SMTP needs CRLF.
    messages = [re.sub(rb"\r?\n", b"\r\n", data) for data in messages]
    shares = [messages[i::clients] for i in range(clients)]
    errors: list[str] = []

    def client(share: list[bytes]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            for data in share:
                try:
                    smtp.sendmail("user@client.com", ["support@example.org"], data)
                except smtplib.SMTPException as exc:
                    errors.append(str(exc))

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        print(f"  {len(errors)} send errors, first: {errors[0]}")
    return time.perf_counter() - start


class ParseOnly:
    """Baseline handler: parse with the stdlib and drop."""

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(("plain", "html"))
        if body is not None:
            with contextlib.suppress(Exception):  # a body the stdlib cannot decode: parsed all the same
                body.get_content()
        return "250 OK"


def bench_baseline(messages: list[bytes]) -> float:
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(ParseOnly(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        elapsed = send_all(port, messages)
    finally:
        controller.stop()
    return len(messages) / elapsed


def peak_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """The process and every process below it (the forkserver and the worker processes)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(descendants(int(child)))
    return found


def tree_rss_kb(pid: int) -> int:
    """Memory of the process and its workers right now: the sum of their PSS.

    PSS (proportional set size) counts a page shared by n processes as 1/n in
    each, so the modules the workers share with the forkserver count once; a
    sum of RSS would count them in every process.
    """
    return sum(pss_kb(member) for member in descendants(pid))


def pss_kb(pid: int) -> int:
    """The PSS of one process in KB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def db_counts(desk: Desk) -> tuple[int, int]:
    """(pending inbox rows, queued outbox rows)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(desk.db_url)
    with engine.connect() as conn:
        pending = conn.execute(text("SELECT count(*) FROM inbox WHERE state = 'pending'")).scalar()
        queued = conn.execute(text("SELECT count(*) FROM outbox WHERE status = 'queued'")).scalar()
    engine.dispose()
    return pending, queued


def bench_smtp(messages: list[bytes], work: Path, workers: str | None = None) -> tuple[float, int, int, int]:
    sink = SmtpSink()
    sink.start()
    extra = (
        ""
        if workers is None
        else f"\n[processing]\nworkers = {workers if workers.isdigit() else repr(workers)}\n"
    )
    desk = Desk(work / "smtp", sink=sink, extra=extra)
    desk.config.write_text(
        desk.config.read_text().replace('max_message_size = "1MB"', 'max_message_size = "25MB"')
    )
    desk.cli("db", "upgrade")
    desk.start("--log-level", "warning")
    try:
        start = time.perf_counter()
        send_all(desk.port, messages)
        while True:
            pending, queued = db_counts(desk)
            if pending == 0 and queued == 0:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        rss = peak_rss_kb(desk.process.pid)
        tree = tree_rss_kb(desk.process.pid)
    finally:
        desk.stop()
        sink.stop()
    return len(messages) / elapsed, rss, len(sink.messages), tree


# CPU seconds (user + system) of the last child run_timed ran; its workers are its forkserver's children,
# which it does not wait for: their time is not counted.
last_cpu = [0.0]


def run_timed(args: list[str], *, cwd: Path, stdin: bytes | None = None) -> tuple[float, int, int, int]:
    """(seconds, peak RSS in KB, exit code, peak RSS of it and its workers in KB) of one child process.

    The peak is the child's own VmHWM, sampled from /proc: ``wait4``'s ru_maxrss would also count
    the pages the child shared with this (large) process between fork and exec.
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        args,
        cwd=cwd,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = tree_peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, tree_peak
        while not done.is_set():
            try:
                execed = args[0].encode() in Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                execed = False
            if execed:  # before exec the child's counters still describe this process
                peak = max(peak, peak_rss_kb(process.pid))
                tree_peak = max(tree_peak, tree_rss_kb(process.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    if stdin is not None:
        process.stdin.write(stdin)
        process.stdin.close()
    _pid, status, usage = os.wait4(process.pid, 0)  # and its CPU time
    code = process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    last_cpu[0] = usage.ru_utime + usage.ru_stime  # less sensitive to a busy machine than the wall clock
    done.set()
    sampler.join()
    return elapsed, peak, code, tree_peak


def maildesk_args(desk: Desk, *rest: str) -> list[str]:
    return [
        str(Path(PY).with_name("maildesk")),
        "--config",
        str(desk.config),
        "--log-level",
        "warning",
        *rest,
    ]


def bench_mbox(
    mbox: Path, count: int, work: Path, name: str, workers: str = "auto"
) -> tuple[float, int, int]:
    """(messages/s, peak RSS of the ingest process, peak RSS of it and its workers together)."""
    desk = Desk(
        work / name, extra=f"\n[processing]\nworkers = {workers if workers.isdigit() else repr(workers)}\n"
    )
    desk.cli("db", "upgrade")
    seconds, rss, code, tree = run_timed(
        maildesk_args(desk, "ingest", "--no-progress", "--mbox", str(mbox)), cwd=desk.dir
    )
    if code != 0:
        print(f"  ingest exited {code}")
    print(
        f"  mbox workers = {workers}: the importing process's CPU {last_cpu[0]:.1f} s for {count} "
        f"messages (its workers' not counted) = {count / last_cpu[0]:.0f} msg/s "
        f"(load average {os.getloadavg()[0]:.2f}; the wall clock gave {count / seconds:.1f})"
    )
    return count / seconds, rss, tree


def bench_pipe(messages: list[bytes], work: Path, runs: int) -> tuple[float, float, float]:
    desk = Desk(work / "pipe")
    desk.cli("db", "upgrade")
    desk.start("--log-level", "warning")
    try:
        samples = [
            run_timed(maildesk_args(desk, "ingest"), cwd=desk.dir, stdin=messages[i])[0] for i in range(runs)
        ]
        full = []
        desk.stop()
        # Without a daemon the same command stores and starts a drainer (see bench/pipe.py).
        for i in range(runs, runs + max(3, runs // 4)):
            full.append(run_timed(maildesk_args(desk, "ingest"), cwd=desk.dir, stdin=messages[i])[0])
    finally:
        if desk.process:
            desk.stop()
    baseline = [run_timed([PY, "-c", "pass"], cwd=work)[0] for _ in range(runs)]
    return statistics.median(samples), statistics.median(baseline), statistics.median(full)


def prefill(desk: Desk, tickets: int) -> None:
    """Bulk-insert ``tickets`` closed-and-open tickets with one event and one thread id each."""
    from sqlalchemy import insert

    from maildesk.storage.db import Database
    from maildesk.storage.models import Event, ThreadMessage, Ticket

    db = Database(desk.db_url)
    db.ensure_schema()
    now = datetime.now(UTC) - timedelta(days=30)
    chunk = 5000
    with db.engine.begin() as conn:
        for start in range(0, tickets, chunk):
            numbers = range(start + 1, min(tickets, start + chunk) + 1)
            conn.execute(
                insert(Ticket),
                [
                    dict(
                        number=n,
                        subject=f"Old request {n}",
                        status="closed" if n % 3 else "open",
                        level=1,
                        urgency="normal",
                        kind="request",
                        requester=f"old{n % 5000}@client.com",
                        requester_name="",
                        tags=[],
                        language="en",
                        created_at=now,
                        updated_at=now,
                        time_spent_s=0,
                        resolve_breached=False,
                        root_message_id=f"<old{n}@client.com>",
                    )
                    for n in numbers
                ],
            )
            conn.execute(
                insert(Event), [dict(ticket=n, type="message", at=now, data={}, text="old") for n in numbers]
            )
            conn.execute(
                insert(ThreadMessage), [dict(message_id=f"<old{n}@client.com>", ticket=n) for n in numbers]
            )
    db.dispose()


def bench_scale(count: int, work: Path, sizes: tuple[int, ...], rounds: int) -> dict[int, list[float]]:
    """Per-message cost (ms) of importing ``count`` new messages into each database, ``rounds`` times.

    Each database is built once (bulk inserts); the rounds alternate between the sizes, so a burst of load
    on the shared machine hits each alike, and each round imports a new corpus (new Message-IDs).
    """
    desks = {}
    for size in sizes:
        start = time.perf_counter()
        desks[size] = Desk(work / f"scale{size}")
        prefill(desks[size], size)
        print(f"scale built {size:,} tickets in {time.perf_counter() - start:.0f} s", flush=True)
    costs: dict[int, list[float]] = {size: [] for size in sizes}
    cpu: dict[int, list[float]] = {size: [] for size in sizes}
    for round_no in range(rounds):
        _few, mbox = generate(count, work / f"gen-scale{round_no}", seed=3 + round_no)
        for size in sizes:
            seconds, _rss, _code, _tree = run_timed(
                maildesk_args(desks[size], "ingest", "--no-progress", "--mbox", str(mbox)),
                cwd=desks[size].dir,
            )
            costs[size].append(seconds / count * 1000)
            cpu[size].append(last_cpu[0] / count * 1000)
        shown = ", ".join(f"{costs[size][-1]:.1f} ms ({cpu[size][-1]:.1f} CPU) at {size:,}" for size in sizes)
        print(f"scale round {round_no + 1} (load {os.getloadavg()[0]:.2f}): {shown}", flush=True)
    for size in sizes:
        print(
            f"scale CPU of the importing process (not its workers') per message at {size:,}: "
            f"median {statistics.median(cpu[size]):.1f} ms",
            flush=True,
        )
    small, large = (statistics.median(cpu[size]) for size in sizes)
    print(f"scale CPU ratio {large / small:.2f}x", flush=True)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("smtp", "mbox", "pipe", "rss", "scale"), action="append")
    parser.add_argument("--scale-tickets", type=int, default=1_000_000, help="the large database of scale")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the scale section")
    parser.add_argument("--workers", help="[processing] workers of the smtp section (default: as shipped)")
    args = parser.parse_args()
    quick = args.quick
    sections = set(args.only or ("smtp", "mbox", "pipe", "rss", "scale"))
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    try:
        print(f"maildesk ingest benchmark ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
        smtp_n, mbox_n, rss_n = (300, 300, 2000) if quick else (1000, 1000, 10000)
        messages, mbox_path = generate(max(smtp_n, mbox_n), work / "gen")
        average = sum(map(len, messages)) / len(messages) / 1024
        print(f"corpus: {len(messages)} generated messages, {average:.1f} KB average")
        if "smtp" in sections:
            baseline = bench_baseline(messages[:smtp_n])
            rate, rss, delivered, tree = bench_smtp(messages[:smtp_n], work, args.workers)
            print(f"smtp  baseline (aiosmtpd + stdlib parse, 4 clients): {baseline:7.1f} msg/s")
            print(
                f"smtp  maildesk end to end (stored, ticketed, mail delivered to sink): {rate:7.1f} msg/s "
                f"= {rate / baseline:.0%} of baseline (target >= 35%); {delivered} mails delivered; "
                f"daemon peak RSS {rss / 1024:.0f} MB; the whole desk {tree / 1024:.0f} MB (PSS) at the end"
            )
        if "mbox" in sections:
            serial, _rss, _tree = bench_mbox(mbox_path, len(messages), work, "mbox-serial", workers="0")
            rate, rss, tree = bench_mbox(mbox_path, len(messages), work, "mbox")
            print(
                f"mbox  maildesk ingest --mbox of {len(messages)}: {rate:7.1f} msg/s (target >= 150), "
                f"peak RSS {rss / 1024:.0f} MB, with its workers peak {tree / 1024:.0f} MB (PSS); "
                f"all in one process ([processing] workers = 0): {serial:.1f} msg/s"
            )
        if "pipe" in sections:
            handoff, python, full = bench_pipe(messages, work, 10 if quick else 30)
            print(
                f"pipe  maildesk ingest < msg, daemon running: median {handoff * 1000:.0f} ms "
                f"(target < 100); baseline python -c pass {python * 1000:.0f} ms "
                f"(ratio {handoff / python:.1f}x); without a daemon (stored, a drainer started) "
                f"{full * 1000:.0f} ms (bench/pipe.py measures both in rounds, and the time to the ticket)"
            )
        if "rss" in sections:
            _big, big_mbox = generate(rss_n, work / "gen-rss", seed=2)
            del _big  # keep this process small: only the child's memory is measured
            rate, rss, tree = bench_mbox(big_mbox, rss_n, work, "rss")
            print(
                f"rss   maildesk ingest --mbox of {rss_n}: peak RSS {rss / 1024:.0f} MB (target < 150), "
                f"with its workers together peak {tree / 1024:.0f} MB (PSS), {rate:.1f} msg/s"
            )
        if "scale" in sections:
            sizes = (1000, 20000) if quick else (1000, args.scale_tickets)
            costs = bench_scale(200 if quick else 500, work, sizes, 2 if quick else args.rounds)
            small, large = (statistics.median(costs[size]) for size in sizes)
            print(
                f"scale per-message cost: median {small:.1f} ms at {sizes[0]:,} tickets "
                f"({min(costs[sizes[0]]):.1f}-{max(costs[sizes[0]]):.1f}), {large:.1f} ms at {sizes[1]:,} "
                f"({min(costs[sizes[1]]):.1f}-{max(costs[sizes[1]]):.1f}): ratio {large / small:.2f}x "
                f"(target <= 1.3x); load average {os.getloadavg()[0]:.2f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
