"""``maildesk ingest`` piped by an MTA with no daemon: stored before exit 0, processed by one drainer.

Through the real CLI in its own process, a real aiosmtpd sink for the
acknowledgement, and real PostgreSQL.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from tests.support import Desk, db_rows, make_message, postgres_url, wait_until


@pytest.fixture(params=["sqlite", "postgresql"])
def desk(request, tmp_path, sink):
    if request.param == "sqlite":
        desk = Desk(tmp_path / "desk", sink=sink)
        desk.cli("db", "upgrade")
        yield desk
        return
    with postgres_url() as url:
        desk = Desk(tmp_path / "desk", sink=sink, db_url=url)
        desk.cli("db", "upgrade")
        yield desk
        wait_until(lambda: not drainers(desk), what="the drainer to leave")  # before the database is dropped


def drainers(desk: Desk) -> set[int]:
    """The drainer processes of this desk running now."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"maildesk.runtime.drain" in argv and str(desk.config).encode() in argv:
            found.add(int(cmdline.parent.name))
    return found


def test_piped_message_is_stored_at_exit_then_becomes_a_ticket_and_an_acknowledgement(desk, sink):
    sender = f"pipe-{uuid.uuid4().hex[:6]}@client.com"
    result = desk.cli(
        "ingest",
        "--mail-from",
        sender,
        "--rcpt",
        "support@example.org",
        stdin=make_message(subject="Printer on fire", sender=sender),
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert db_rows(desk.db_url, "SELECT source, mail_from FROM inbox") == [("pipe", sender)]

    wait_until(lambda: db_rows(desk.db_url, "SELECT subject FROM tickets"), what="the ticket")
    assert db_rows(desk.db_url, "SELECT subject, requester FROM tickets") == [("Printer on fire", sender)]
    wait_until(lambda: any(sender in rcpts for _f, rcpts, _d in sink.messages), what="the acknowledgement")
    assert [m["Subject"] for m in sink.parsed() if m["To"] == sender] == [
        "[Support #1] Request received: Printer on fire"
    ]


def test_two_concurrent_pipes_start_at_most_one_drainer(desk):
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(drainers(desk))
            done.wait(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        results: list[int] = []
        pipes = [
            threading.Thread(
                target=lambda n=n: results.append(
                    desk.cli("ingest", stdin=make_message(subject=f"At once {n}"), check=False).returncode
                )
            )
            for n in range(2)
        ]
        for pipe in pipes:
            pipe.start()
        for pipe in pipes:
            pipe.join()
        assert results == [0, 0]
        wait_until(lambda: db_rows(desk.db_url, "SELECT count(*) FROM tickets") == [(2,)], what="two tickets")
    finally:
        done.set()
        watcher.join()
    if desk.db_url.startswith("sqlite"):
        assert (
            len(seen) == 1
        )  # the first pipe hands its lock to the drainer it starts; the second sees it held
    else:
        assert len(seen) <= 2  # of two started at the same instant, one leaves before it processes anything
    assert db_rows(desk.db_url, "SELECT count(*) FROM inbox WHERE state = 'pending'") == [(0,)]


def test_a_config_mistake_made_after_a_delivery_still_exits_78_naming_file_and_line(tmp_path):
    desk = Desk(tmp_path / "desk")
    desk.cli("db", "upgrade")
    good = desk.config.read_text()
    assert desk.cli("ingest", stdin=make_message(subject="Before the edit")).returncode == 0
    desk.config.write_text(good.replace('reopen_within = "14d"', 'reopen_within = "fortnight"'))
    refused = desk.cli("ingest", stdin=make_message(subject="After the edit"), check=False)
    assert refused.returncode == 78, refused.stderr.decode()
    line = desk.config.read_text().splitlines().index('reopen_within = "fortnight"') + 1
    assert f"{desk.config}:{line}: desk.reopen_within" in refused.stderr.decode()
    # Whatever was stored waits (a drainer that met the broken file left it pending) until the file is fixed.
    desk.config.write_text(good)
    assert desk.cli("ingest", stdin=make_message(subject="After the fix")).returncode == 0
    wait_until(lambda: db_rows(desk.db_url, "SELECT count(*) FROM tickets") == [(2,)], what="two tickets")
    assert sorted(db_rows(desk.db_url, "SELECT subject FROM tickets")) == [
        ("After the fix",),
        ("Before the edit",),
    ]
