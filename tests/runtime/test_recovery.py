"""The desk recovers by itself when its database files stop being writable for a while, then are again.

Reported: database files made read-only for a moment during a burst, then
writable again; 600 queued mails stayed queued ("attempt to write a
readonly database" every 2 s) until a restart. SQLite opens a database
read-only for good when it cannot open it for writing, so a connection
pooled during the window is spoilt until it is thrown away.

Root ignores file modes, so these tests run the desk without the
capabilities that let it (``setpriv --bounding-set``): it then really fails
to write, as a service user would.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import ROOT, Desk, db_rows, make_message, wait_inbox_drained, wait_until

OBEY_FILE_MODES = ("--bounding-set=-dac_override,-dac_read_search,-fowner,-linux_immutable",)


@pytest.fixture(scope="module")
def file_modes_hold(tmp_path_factory) -> tuple[str, ...]:
    """The command prefix under which a process cannot write a file it may only read; else skip."""
    if os.geteuid() != 0:
        return ()  # an ordinary user: file modes hold already
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is missing: root would write read-only files anyway")
    probe = tmp_path_factory.mktemp("probe") / "read-only"
    probe.write_bytes(b"")
    probe.chmod(0o400)
    prefix = (setpriv, *OBEY_FILE_MODES, "--")
    tried = subprocess.run(
        [*prefix, sys.executable, "-c", f"open({str(probe)!r}, 'ab')"], capture_output=True
    )
    if tried.returncode == 0 or b"PermissionError" not in tried.stderr:
        pytest.skip(f"cannot drop root's file-mode override here: {tried.stderr.decode()[-200:]}")
    return prefix


def database_files(desk: Desk) -> list[Path]:
    database = desk.dir / "var" / "maildesk.db"
    return [path for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if path.exists()]


def log_events(desk: Desk, name: str) -> list[dict]:
    found = []
    for line in desk.log().splitlines():
        if f'"{name}"' in line:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def stop_between_transactions(desk: Desk, pid: int) -> None:
    """SIGSTOP a desk process while it holds no database lock (each transaction takes the writer turn)."""
    with open(desk.dir / "var" / "maildesk.db.writer", "a") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)
        os.kill(pid, signal.SIGSTOP)


def test_queued_mail_goes_out_after_the_database_is_writable_again(tmp_path, sink, file_modes_hold):
    """Through the real listener and the processing process, with its worker doing the sending."""
    desk = Desk(tmp_path / "desk", sink=sink, extra="[processing]\nworkers = 1\n")
    desk.start(wrapper=file_modes_hold)
    try:
        desk.send(make_message(subject="Warm-up", sender="first@client.com"), mail_from="first@client.com")
        sink.wait_for(lambda m: m["To"] == "first@client.com", what="the first acknowledgement")
        (started,) = log_events(desk, "processing_started")
        processing = started["pid"]

        # A burst arrives while the processor is busy (stopped here, to be sure it is still queued) ...
        stop_between_transactions(desk, processing)
        requesters = [f"burst{index}@client.com" for index in range(20)]
        for requester in requesters:
            assert desk.send(make_message(subject="Burst", sender=requester), mail_from=requester) == {}
        # ... and the database files turn read-only while it is worked through.
        files = database_files(desk)
        for path in files:
            path.chmod(0o400)
        try:
            os.kill(processing, signal.SIGCONT)
            wait_until(lambda: log_events(desk, "outbox_failed"), timeout=60, what="the sender to fail")
        finally:
            for path in files:
                path.chmod(0o600)

        # Writable again: every acknowledgement goes out, with no restart.
        wait_until(
            lambda: all(sink.to(requester) for requester in requesters),
            timeout=120,
            interval=0.5,
            what="the acknowledgements of the burst",
        )
        wait_until(
            lambda: db_rows(desk.db_url, "SELECT COUNT(*) FROM outbox WHERE status = 'queued'")[0][0] == 0,
            timeout=60,
            what="an empty queue",
        )
        assert log_events(desk, "processing_started") == [started]  # the same process all along
        assert log_events(desk, "outbox_recovered")
        assert len(log_events(desk, "outbox_failed")) <= 3  # once per state change, not every attempt
        acks = [m for m in sink.parsed() if m["To"] in requesters and "Auto-Submitted" in m]
        assert sorted(str(m["To"]) for m in acks) == sorted(requesters)  # one each: recorded, not resent
    finally:
        assert desk.stop() == 0, desk.log()


PROCESSOR = textwrap.dedent(
    """
    import os, sys, threading
    from datetime import UTC, datetime
    from pathlib import Path
    from maildesk.runtime.app import App, Wakeup
    from maildesk.runtime.logs import configure_logging
    from maildesk.runtime.processing import drain_inbox
    from maildesk.types import RawMessage
    from tests.support import make_message, wait_inbox_drained

    configure_logging("info", json=True)
    app = App.from_config(sys.argv[1])
    database = Path(sys.argv[2])
    for n in range(5):
        raw = RawMessage(make_message(subject=f"Stored {n}"), None, (), "smtp", datetime.now(UTC))
        app.inbox.accept(raw)
    files = [p for p in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if p.exists()]
    for path in files:
        path.chmod(0o400)
    # What a burst does to the pool: connections opened while the files are read-only.
    app.db.engine.dispose()
    stop = threading.Event()
    loop = threading.Thread(target=drain_inbox, args=(app, stop, Wakeup(), Wakeup()))
    loop.start()
    try:
        try:
            wait_inbox_drained(app.db.url, 5, timeout=3)
            sys.exit("processed while read-only?")
        except AssertionError:
            pass
        for path in files:
            path.chmod(0o600)
        wait_inbox_drained(app.db.url, 5, timeout=60)
        print("drained")
    finally:
        stop.set()
        loop.join()
        app.close()
    """
)


def test_the_processor_loop_recovers_from_connections_opened_while_read_only(tmp_path, file_modes_hold):
    desk = Desk(tmp_path / "desk")
    desk.cli("db", "upgrade")
    result = subprocess.run(
        [
            *file_modes_hold,
            sys.executable,
            "-c",
            PROCESSOR,
            str(desk.config),
            str(desk.dir / "var" / "maildesk.db"),
        ],
        capture_output=True,
        cwd=ROOT,
        env=desk.env(),
        timeout=120,
    )
    assert result.returncode == 0 and b"drained" in result.stdout, result.stderr.decode()[-3000:]
    failed = [line for line in result.stderr.decode().splitlines() if "processing_failed" in line]
    assert failed and "readonly" in failed[0]
    assert len(failed) <= 2 and "processing_recovered" in result.stderr.decode()
    wait_inbox_drained(desk.db_url, 5)


def test_a_processing_process_killed_while_idle_never_freezes_the_listener(tmp_path, sink):
    """Waking it must not wait for it: a multiprocessing Event's set() waits for every sleeper to wake."""
    desk = Desk(tmp_path / "desk", sink=sink, extra="[processing]\nworkers = 1\n")
    desk.start()
    try:
        desk.send(make_message(subject="Before", sender="before@client.com"), mail_from="before@client.com")
        sink.wait_for(lambda m: m["To"] == "before@client.com", what="the first acknowledgement")
        (started,) = log_events(desk, "processing_started")
        os.kill(started["pid"], signal.SIGKILL)  # the OOM killer, while it sleeps waiting for work

        # Answered at once (the daemon only stores), and processed once the process is started again.
        assert (
            desk.send(make_message(subject="After", sender="after@client.com"), mail_from="after@client.com")
            == {}
        )
        sink.wait_for(lambda m: m["To"] == "after@client.com", timeout=60, what="the second acknowledgement")
        assert len(log_events(desk, "processing_started")) == 2
        assert log_events(desk, "processing_restarted")
    finally:
        assert desk.stop() == 0, desk.log()
