"""Measure the IMAP intake against a private local Dovecot; run from the repo root.

    .venv/bin/python bench/imap.py [--count 10000] [--batch-size 200]

Fills a fresh mailbox with --count generated support mails (shared/tools/
gen_corpus.py, APPENDed with MULTIAPPEND), then measures:

- drain: ``ImapPoller.poll_once`` storing the whole backlog into the durable
  inbox and moving it to "Processed" (messages/s), and, when ``maildesk.runtime.app``
  is there, processing that inbox into tickets (messages/s end to end);
- peak RSS (``ru_maxrss``) before and after the drain: a batch at a time, the
  drain should not grow with the size of the backlog;
- APPEND -> stored latency with the poller idling in IDLE (median of --samples);
- baselines in the same run, since this machine's speed varies: plain
  imapclient ``UID FETCH BODY.PEEK[]`` of the same messages in the same
  batches, storing nothing (the drain is given as a ratio to it), and the
  server's own IDLE push: APPEND -> ``* EXISTS`` seen by a bare idling client.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from maildesk.config import ImapIntake  # noqa: E402
from maildesk.ingest.imap import ImapPoller  # noqa: E402
from maildesk.storage.db import Database  # noqa: E402
from maildesk.storage.inbox import Inbox  # noqa: E402
from maildesk.storage.models import InboxMessage  # noqa: E402
from tests.ingest.dovecot import DOVECOT, Dovecot, dovecot_available  # noqa: E402

GENERATOR = ROOT.parent / "shared" / "tools" / "gen_corpus.py"
USER, PASSWORD = "support", "bench-secret"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def generate(count: int, out: Path) -> list[Path]:
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--count",
            str(count),
            "--out",
            str(out),
            "--tag-format",
            "[Support #{n}]",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return sorted((out / "eml").glob("*.eml"))


def read_each(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:  # one at a time: the fill must not inflate the peak RSS measured later
        yield path.read_bytes()


def count_inbox(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(InboxMessage)) or 0


def open_app(workdir: Path):  # App when maildesk.runtime.app is there, else None
    """The full app on the shipped config, with its database and outputs moved into workdir."""
    try:
        from maildesk.config import load_settings
        from maildesk.runtime.app import App
    except ImportError:
        return None
    settings = load_settings(ROOT / "config.toml")
    settings = dataclasses.replace(
        settings,
        database_url=f"sqlite:///{workdir}/maildesk.db",
        imap=(),
        outgoing=dataclasses.replace(settings.outgoing, transport="maildir", maildir=workdir / "sent"),
        security=dataclasses.replace(settings.security, secret_file=workdir / "secret"),
    )
    return App.from_settings(settings)


class WorkerMemory:
    """Samples the peak RSS (VmHWM) of the app's worker processes while a block runs."""

    def __init__(self, app) -> None:
        self.app, self.peak_mib, self._done = app, 0.0, threading.Event()

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            executor = self.app.workers._executor if self.app.workers else None
            for pid in list(getattr(executor, "_processes", None) or ()):
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_mib = max(self.peak_mib, int(line.split()[1]) / 1024)
                except OSError:
                    pass

    def __enter__(self) -> WorkerMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def baseline_fetch(server: Dovecot, folder: str, batch_size: int) -> tuple[int, int, float]:
    """Raw imapclient: fetch every body of a folder in batches, store nothing; (messages, bytes, seconds)."""
    started = time.perf_counter()
    messages = size = 0
    with server.client(USER) as client:
        client.select_folder(folder, readonly=True)
        uids = sorted(client.search("ALL"))
        for start in range(0, len(uids), batch_size):
            response = client.fetch(uids[start : start + batch_size], ["BODY.PEEK[]"])
            for item in response.values():
                messages += 1
                size += len(item[b"BODY[]"])
    return messages, size, time.perf_counter() - started


def probe_message(n: int, key: str) -> bytes:
    return (
        f"From: user@example.com\r\nTo: support@example.org\r\nSubject: IDLE probe {n}\r\n"
        f"Message-ID: {key}\r\n\r\nprobe\r\n"
    ).encode()


def raw_idle_latencies(server: Dovecot, samples: int) -> list[float]:
    """APPEND -> EXISTS pushed to a bare imapclient in IDLE: what the server alone takes."""
    latencies = []
    with server.client(USER) as watcher, server.client(USER) as sender:
        watcher.select_folder("Probe" if watcher.folder_exists("Probe") else _created(watcher, "Probe"))
        for n in range(samples):
            watcher.idle()
            started = time.perf_counter()
            sender.append("Probe", probe_message(n, f"<raw-{n}-{time.time_ns()}@bench.example>"))
            while not any(len(r) >= 2 and r[1] == b"EXISTS" for r in watcher.idle_check(timeout=10)):
                if time.perf_counter() - started > 30:
                    raise RuntimeError("the server pushed no EXISTS within 30 s")
            latencies.append(time.perf_counter() - started)
            watcher.idle_done()
    return latencies


def _created(client, folder: str) -> str:
    client.create_folder(folder)
    return folder


def idle_latencies(
    server: Dovecot, account: ImapIntake, inbox: Inbox, db: Database, samples: int
) -> list[float]:
    poller = ImapPoller(
        dataclasses.replace(account, idle=True, resync_every=timedelta(hours=1)), inbox, db, idle_slice=1.0
    )
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), name="bench-imap")
    thread.start()
    latencies = []
    try:
        deadline = time.monotonic() + 10
        while poller.state != "idling" and time.monotonic() < deadline:
            time.sleep(0.01)
        with server.client(USER) as client:
            for n in range(samples):
                key = f"<idle-{n}-{time.time_ns()}@bench.example>"
                message = probe_message(n, key)
                while poller.state != "idling":
                    time.sleep(0.005)
                started = time.perf_counter()
                client.append("INBOX", message)
                while True:
                    with db.session() as session:
                        if session.scalar(select(InboxMessage.id).where(InboxMessage.message_key == key)):
                            break
                    if time.perf_counter() - started > 30:
                        raise RuntimeError("an IDLE probe was not stored within 30 s")
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - started)
                time.sleep(0.2)  # let the poller go back to IDLE
    finally:
        stop.set()
        thread.join()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="messages in the backlog (default 10000)")
    parser.add_argument("--batch-size", type=int, default=200, help="UIDs per FETCH (default 200)")
    parser.add_argument("--samples", type=int, default=10, help="IDLE latency samples (default 10)")
    parser.add_argument("--no-process", action="store_true", help="measure the drain into the inbox only")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if not dovecot_available():
        print(f"skipped: Dovecot is not installed ({DOVECOT}); nothing measured")
        return 0
    if not GENERATOR.exists():
        print(f"cannot find the corpus generator at {GENERATOR}", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="maildesk-bench-imap-") as tmp, Dovecot() as server:
        workdir = Path(tmp)
        server.add_user(USER, PASSWORD)
        paths = generate(args.count, workdir / "corpus")
        started = time.perf_counter()
        server.append(USER, "INBOX", read_each(paths), chunk=200)
        fill_seconds = time.perf_counter() - started
        print(
            f"backlog: {len(paths)} messages APPENDed in {fill_seconds:.1f}s "
            f"(Dovecot {server.port}, batch_size {args.batch_size})"
        )

        app = None if args.no_process else open_app(workdir / "app")
        if app is not None:
            db, inbox = app.db, app.inbox
        else:
            db = Database(f"sqlite:///{workdir}/inbox.db")
            db.ensure_schema()
            inbox = Inbox(db)
        account = ImapIntake(
            name="bench",
            host=server.host,
            port=server.port,
            security="none",
            username=USER,
            password_file=str(server.password_file(USER)),
            folder="INBOX",
            done="move:Processed",
            batch_size=args.batch_size,
        )
        try:
            rss_before = rss_mib()
            poller = ImapPoller(account, inbox, db)
            started = time.perf_counter()
            stored = poller.poll_once()
            drain_seconds = time.perf_counter() - started
            poller.close()
            rss_after = rss_mib()
            assert stored == len(paths) == count_inbox(db), (stored, len(paths), count_inbox(db))

            process_seconds = None
            if app is not None:
                sampler = WorkerMemory(app)
                started = time.perf_counter()
                with sampler:
                    processed = app.process_pending()
                process_seconds = time.perf_counter() - started
                worker_rss = sampler.peak_mib
                assert processed == stored, (processed, stored)

            base_messages, base_bytes, base_seconds = baseline_fetch(server, "Processed", args.batch_size)
            assert base_messages == stored
            latencies = idle_latencies(server, account, inbox, db, args.samples)
            raw_latencies = raw_idle_latencies(server, args.samples)
        finally:
            if app is not None:
                app.close()  # reaps the worker processes, so their peak shows in RUSAGE_CHILDREN
            else:
                db.dispose()

    drain_rate = stored / drain_seconds
    base_rate = base_messages / base_seconds
    print(
        f"drain into the inbox: {stored} messages in {drain_seconds:.2f}s = {drain_rate:,.0f} msg/s "
        f"({base_bytes / 2**20:.1f} MiB)"
    )
    print(f"baseline raw FETCH:   {base_messages} messages in {base_seconds:.2f}s = {base_rate:,.0f} msg/s")
    print(f"drain / baseline:     {drain_rate / base_rate:.2f}  (store + move per message vs fetch only)")
    if process_seconds is not None:
        print(
            f"processing to tickets: {stored} in {process_seconds:.2f}s = {stored / process_seconds:,.0f} msg/s"
        )
        print(f"end to end (drain + process): {stored / (drain_seconds + process_seconds):,.0f} msg/s")
    else:
        print(
            "processing to tickets: not measured (maildesk.runtime.app missing or --no-process): inbox drain only"
        )
    print(
        f"peak RSS: {rss_before:.0f} MiB before the drain, {rss_after:.0f} MiB after "
        f"(+{rss_after - rss_before:.0f} MiB for {stored} messages)"
    )
    if process_seconds is not None:
        print(f"worker processes (parse/render) while processing: largest peak RSS {worker_rss:.0f} MiB each")
    print(
        f"APPEND -> stored with IDLE: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"min {min(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms over {len(latencies)}"
    )
    print(
        f"baseline APPEND -> EXISTS pushed to a bare idling client: median "
        f"{statistics.median(raw_latencies) * 1000:.0f} ms (the server's own notification delay)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
