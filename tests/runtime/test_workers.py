"""The worker pool: a burst parsed, rendered and sent in worker processes ends exactly as done in one process."""

from __future__ import annotations

import mailbox
import os
import signal
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from maildesk.runtime.app import App
from maildesk.storage.models import Outbox
from maildesk.types import RawMessage
from tests.support import ROOT, Desk, make_message

GENERATOR = ROOT.parent / "shared" / "tools" / "gen_corpus.py"


def generated_mbox(directory: Path, count: int) -> Path:
    """Realistic requests and threaded replies (fr/en, encodings, attachments) from the shared generator."""
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--count",
            str(count),
            "--seed",
            "7",
            "--out",
            str(directory),
            "--to",
            "support@example.org",
            "--agents",
            "alice@example.org,bob@example.org",
            "--tag-format",
            "[Support #{n}]",
            "--attachment-ratio",
            "0.3",
            "--attachment-kib",
            "8",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return directory / "corpus.mbox"


def outcome(desk: Desk) -> tuple[list[dict], list[tuple]]:
    """What a run left: the tickets (without times) and each mail's recipient, template, status and subject."""
    tickets = desk.json("tickets", "list", "--status", "all", "--limit", "1000")
    for ticket in tickets:
        ticket.pop("created_at"), ticket.pop("closed_at"), ticket.pop("first_response_at")
    mails = sorted(
        (m["ticket"], m["to"], m["template"], m["status"], m["subject"])
        for m in desk.json("outbox", "list", "--limit", "10000")
    )
    return sorted(tickets, key=lambda t: t["number"]), mails


@pytest.mark.skipif(not GENERATOR.exists(), reason=f"the corpus generator is not at {GENERATOR}")
def test_a_backlog_through_the_workers_ends_exactly_as_in_one_process(tmp_path):
    mbox = generated_mbox(tmp_path / "gen", 60)
    serial = Desk(tmp_path / "serial", extra="\n[processing]\nworkers = 0\n")
    pooled = Desk(tmp_path / "pooled", extra="\n[processing]\nworkers = 2\n")
    for desk in (serial, pooled):
        desk.cli("ingest", "--no-progress", "--mbox", str(mbox))
    serial_tickets, serial_mails = outcome(serial)
    pooled_tickets, pooled_mails = outcome(pooled)
    assert len(serial_tickets) > 30
    assert pooled_tickets == serial_tickets
    assert pooled_mails == serial_mails
    assert {status for *_rest, status, _subject in pooled_mails} == {"sent"}
    sent = sorted((pooled.dir / "var" / "sent").glob("*.eml"))
    assert len(sent) == len(pooled_mails)
    for path in sent:  # every file a whole mail with the desk's headers
        message = mailbox.mboxMessage(path.read_bytes())
        assert message["X-Loop"] == "support@example.org" and message["Message-ID"]


def accept_burst(app: App, count: int, tag: str) -> None:
    from datetime import datetime

    for index in range(count):
        app.inbox.accept(
            RawMessage(
                data=make_message(subject=f"{tag} {index}", sender=f"{tag}{index}@client.com"),
                mail_from=None,
                rcpt_tos=(),
                source="file",
                received_at=datetime.now(UTC),
            )
        )


def queued_mail(app: App) -> list[Outbox]:
    with app.db.session() as session:
        return list(session.scalars(select(Outbox).where(Outbox.template == "ack")))


def test_templates_broken_on_disk_after_the_check_still_render_with_the_checked_ones(tmp_path):
    desk = Desk(tmp_path / "desk", extra="\n[processing]\nworkers = 1\n")
    app = App.from_config(desk.config)
    try:
        # Edited after the desk checked them and before a worker loads them: the worker refuses them,
        # and the batch is rendered here with the templates that passed the check.
        (desk.dir / "templates" / "en" / "ack.txt.j2").write_text("{% if %}broken\n")
        accept_burst(app, 6, "printer")
        with capture_logs() as logs:
            assert app.process_pending() == 6
        assert any(entry["event"] == "worker_render_failed" for entry in logs)
        acks = queued_mail(app)
        assert len(acks) == 6
        assert all(b"broken" not in row.raw and b"X-Maildesk-Ticket" in row.raw for row in acks)
    finally:
        app.close()


def test_a_worker_killed_between_bursts_is_replaced_and_nothing_is_lost(tmp_path):
    desk = Desk(tmp_path / "desk", extra="\n[processing]\nworkers = 1\n")
    app = App.from_config(desk.config)
    try:
        accept_burst(app, 5, "first")
        assert app.process_pending() == 5
        for pid in list(app.workers._executor._processes):  # the OOM killer, or an admin's kill -9
            os.kill(pid, signal.SIGKILL)
        with capture_logs() as logs:
            accept_burst(app, 5, "second")
            assert app.process_pending() == 5
            accept_burst(app, 5, "third")
            assert app.process_pending() == 5
        assert any(entry["event"] == "worker_pool_restarted" for entry in logs)
        acks = queued_mail(app)
        assert len(acks) == 15 and all(row.raw and row.status == "queued" for row in acks)
        assert len(desk.json("tickets", "list")) == 15
    finally:
        app.close()


def worker_pids(process: subprocess.Popen) -> list[int]:
    """The daemon's forkserver and the workers below it."""
    found: list[int] = []
    pending = [process.pid]
    while pending:
        pid = pending.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            pending.extend(children)
    return found


def test_workers_leave_when_the_daemon_is_killed(tmp_path):
    import time

    from tests.support import wait_until

    desk = Desk(tmp_path / "desk", extra="\n[processing]\nworkers = 1\n")
    app = App.from_config(desk.config)
    accept_burst(app, 8, "waiting")  # stored before the start: the daemon's first batch starts the pool
    app.close()
    desk.start()
    try:
        wait_until(lambda: len(worker_pids(desk.process)) >= 2, what="the forkserver and a worker")
        helpers = worker_pids(desk.process)
    finally:
        desk.process.kill()  # SIGKILL: no clean shutdown of the pool
        desk.process.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in helpers):
        time.sleep(0.2)
    assert not [pid for pid in helpers if Path(f"/proc/{pid}").exists()]


def test_the_daemon_sizes_auto_workers_for_its_memory_and_keeps_a_written_number(tmp_path):
    from maildesk.config import load_settings
    from maildesk.runtime.pool import (
        MEMORY_FLOOR,
        auto_daemon_workers,
        auto_processing_process,
        daemon_settings,
        separate_processing,
    )

    assert auto_daemon_workers(cores=1, available=8 * MEMORY_FLOOR) == 0
    assert (
        auto_daemon_workers(cores=2, available=8 * MEMORY_FLOOR) == 0
    )  # the daemon and processing: two cores
    assert auto_daemon_workers(cores=4, available=8 * MEMORY_FLOOR) == 2
    assert auto_daemon_workers(cores=16, available=8 * MEMORY_FLOOR) == 4
    assert auto_daemon_workers(cores=16, available=MEMORY_FLOOR // 2) == 0  # memory is short
    assert auto_processing_process(cores=2, available=8 * MEMORY_FLOOR)
    assert not auto_processing_process(cores=1, available=8 * MEMORY_FLOOR)
    assert not auto_processing_process(cores=2, available=MEMORY_FLOOR // 2)
    written = Desk(tmp_path / "written", extra="\n[processing]\nworkers = 3\n")
    assert daemon_settings(load_settings(written.config)).workers == 3
    none = Desk(tmp_path / "none", extra="\n[processing]\nworkers = 0\n")
    assert not separate_processing(daemon_settings(load_settings(none.config)))  # everything in the daemon
    auto = Desk(tmp_path / "auto")
    assert daemon_settings(load_settings(auto.config)).workers == auto_daemon_workers()
