"""What the desk writes holds all its mail and the signed reply addresses: 0600 files, 0700 directories.

Whatever the umask of the shell or unit that starts it: these tests run the
real daemon and CLI under umask 022, the usual default.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from maildesk.notify.transport import MaildirTransport
from maildesk.storage.db import Database
from tests.support import Desk, make_message, wait_until


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(root: Path) -> dict[str, str]:
    """Every path under ``root`` (itself included) with its permission bits, as octal strings."""
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_database_sent_mail_secret_and_locks_are_private_under_umask_022(tmp_path, umask_022):
    desk = Desk(tmp_path / "desk")
    var = desk.dir / "var"
    desk.start()
    try:
        desk.send(make_message(subject="Private by default", sender="ann@client.com"))
        # beside the daemon, the pipe path (its own lock probe) too
        desk.cli("ingest", stdin=make_message(subject="Piped", sender="ben@client.com"))
        wait_until(lambda: len(list((var / "sent").glob("*.eml"))) >= 2, what="mail written to var/sent")
        while_running = modes(var)
    finally:
        assert desk.stop() == 0, desk.log()
    names = set(while_running)
    assert {"maildesk.db", "maildesk.db-wal", "maildesk.db-shm", "secret", "sent"} <= names, names
    assert any(name.endswith(".eml") for name in names)
    for name, mode in while_running.items():
        is_dir = name in (".", "sent")
        assert mode == ("0o700" if is_dir else "0o600"), f"var/{name} is {mode}"


def test_library_use_creates_private_files_whatever_the_umask(tmp_path, umask_022):
    """Not only the CLI (which also sets its umask): the storage and transport code itself."""
    db = Database(f"sqlite:///{tmp_path}/state/desk.db")
    db.ensure_schema()
    db.dispose()
    MaildirTransport(tmp_path / "state" / "out" / "sent").deliver(
        "support@example.org", "ann@client.com", make_message(), "<one@example.org>"
    )
    found = modes(tmp_path / "state")
    assert found["."] == "0o700"
    assert found["out"] == found["out/sent"] == "0o700"
    assert found["desk.db"] == "0o600"
    assert [mode for name, mode in found.items() if name.endswith(".eml")] == ["0o600"]
