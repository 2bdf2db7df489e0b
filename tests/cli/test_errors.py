"""Every bad input to the real CLI gets its sysexits code (SPEC section 2) and one stderr line, no traceback.

64 usage, 65 bad data (no such ticket, a message too large or empty), 66
missing or unreadable input, 69 an unusable database, 78 configuration.
70 ("internal error") is never the answer to bad input.
"""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from tests.support import MAILDESK, Desk, db_rows, make_message

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_CONFIG = 64, 65, 66, 69, 78
HUGE = "99999999999999999999999"  # more than any database integer: an OverflowError once


@pytest.fixture(scope="module")
def desk(tmp_path_factory) -> Desk:
    desk = Desk(tmp_path_factory.mktemp("cli-errors") / "desk")
    desk.cli("ingest", stdin=make_message(subject="One ticket", sender="ann@client.com"))
    return desk


def run(desk: Desk, *args: str, stdin: bytes | None = None, stdin_file: str | None = None):
    """The CLI in its own process, stdin from bytes or a file."""
    if stdin_file is not None:
        with open(stdin_file, "rb") as handle:
            return subprocess.run(
                [*MAILDESK, "--config", str(desk.config), *args],
                stdin=handle,
                capture_output=True,
                cwd=desk.dir,
                timeout=120,
                env=desk.env(),
            )
    return desk.cli(*args, stdin=stdin, check=False)


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, result.stderr.decode()
    assert "Traceback" not in lines[0] and "internal error" not in lines[0]
    return lines[0]


def inbox_count(desk: Desk) -> int:
    return db_rows(desk.db_url, "SELECT COUNT(*) FROM inbox")[0][0]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("tickets", "show", HUGE), EX_DATAERR, "no such ticket"),
        (("tickets", "show", "0"), EX_DATAERR, "no such ticket"),
        (("tickets", "show", "seven"), EX_USAGE, "invalid int value"),
        (("tickets", "list", "--limit", "-5"), EX_USAGE, "'-5' is not a number of rows"),
        (("tickets", "list", "--limit", "ten"), EX_USAGE, "'ten' is not a number of rows"),
        (("tickets", "list", "--level", HUGE), EX_USAGE, "not a level id"),
        (("tickets", "list", "--status", "lost"), EX_USAGE, "invalid choice"),
        (("outbox", "list", "--limit", "-1"), EX_USAGE, "'-1' is not a number of rows"),
        (("outbox", "retry", HUGE), EX_DATAERR, "no such entry"),
        (("outbox", "retry", "x1"), EX_USAGE, "is not an id"),
        (("outbox", "retry"), EX_USAGE, "give an ID or --all"),
        (("quarantine", "show", HUGE), EX_DATAERR, "no such entry"),
        (("quarantine", "retry", HUGE), EX_DATAERR, "no such entry"),
        (("kb", "show", HUGE), EX_DATAERR, "no such article"),
        (("rules", "test", "/etc"), EX_NOINPUT, "is a directory"),
        (("rules", "test", "/nonexistent.eml"), EX_NOINPUT, "no such file"),
        (("no-such-command",), EX_USAGE, "invalid choice"),
        (("ingest", "/etc"), EX_NOINPUT, "/etc: is a directory, not a message file"),
        (("ingest", "--maildir", "/etc"), EX_NOINPUT, "/etc: not a maildir"),
        (("ingest", "--mbox", "/etc"), EX_NOINPUT, "/etc: is a directory, not an mbox file"),
        (("ingest", "--mbox", "/etc/hostname"), EX_DATAERR, "not an mbox file"),
        (("ingest", "/nonexistent.eml"), EX_NOINPUT, "no such file"),
        (("ingest", "/dev/zero"), EX_DATAERR, "larger than max_message_size"),
    ],
)
def test_bad_arguments_get_their_exit_code_and_one_line(desk, args, code, says):
    before = inbox_count(desk)
    result = run(desk, *args)
    assert result.returncode == code, result.stderr.decode()
    assert says in one_line(result)
    assert inbox_count(desk) == before


def test_ingest_of_nothing_stores_nothing_and_exits_65(desk):
    before = inbox_count(desk)
    result = run(desk, "ingest", stdin_file="/dev/null")
    assert result.returncode == EX_DATAERR
    assert one_line(result) == "maildesk: stdin: empty message; nothing stored"
    result = run(desk, "ingest", stdin=b"\r\n\r\n  \n")
    assert result.returncode == EX_DATAERR
    assert inbox_count(desk) == before


def test_ingest_refuses_a_message_over_max_message_size_without_storing_it(desk, tmp_path):
    """The desk's max_message_size is 1MB; the pipe reads at most that much, never the whole stream."""
    before = inbox_count(desk)
    big = make_message(subject="Huge", body="x" * 78 + "\n") + b"y" * 1_100_000
    result = run(desk, "ingest", stdin=big)
    assert result.returncode == EX_DATAERR
    assert "larger than max_message_size (1,000,000 bytes)" in one_line(result)
    path = tmp_path / "big.eml"
    path.write_bytes(big)
    result = run(desk, "ingest", str(path))
    assert result.returncode == EX_DATAERR
    assert "big.eml: larger than max_message_size" in one_line(result)
    assert inbox_count(desk) == before
    # Just under the limit goes in.
    assert run(desk, "ingest", stdin=big[:999_000]).returncode == 0
    assert inbox_count(desk) == before + 1


def test_backlog_leaves_out_messages_over_the_limit_and_says_so(desk, tmp_path):
    mbox = tmp_path / "backlog.mbox"
    small = make_message(subject="Small backlog one", sender="small@client.com")
    big = make_message(subject="Big backlog one", sender="big@client.com") + b"z" * 1_200_000 + b"\n"
    mbox.write_bytes(b"From small@client.com Sun Nov 22 09:00:00 2026\n" + small.replace(b"\r\n", b"\n"))
    with mbox.open("ab") as handle:
        handle.write(b"\nFrom big@client.com Sun Nov 22 09:00:00 2026\n" + big.replace(b"\r\n", b"\n"))
    result = run(desk, "ingest", "--no-progress", "--log-level", "error", "--mbox", str(mbox))
    assert result.returncode == EX_DATAERR
    assert "1 message(s) larger than max_message_size" in one_line(result)
    senders = {r for (r,) in db_rows(desk.db_url, "SELECT requester FROM tickets")}
    assert "small@client.com" in senders and "big@client.com" not in senders


def _secret_desk(tmp_path, make) -> Desk:
    desk = Desk(tmp_path / "desk")
    secret = desk.dir / "var" / "secret"
    secret.parent.mkdir(parents=True, exist_ok=True)
    make(secret)
    return desk


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda path: path.mkdir(), "is a directory, not a secret file"),
        (lambda path: path.write_bytes(b"  \n"), "is empty"),
    ],
    ids=["directory", "empty"],
)
@pytest.mark.parametrize(
    "command", [("ingest",), ("run",), ("rules", "check"), ("quarantine", "retry", "--all")]
)
def test_a_secret_file_that_cannot_be_the_secret_is_a_config_error(tmp_path, make, says, command):
    desk = _secret_desk(tmp_path, make)
    result = run(desk, *command, stdin=make_message() if command == ("ingest",) else None)
    assert result.returncode == EX_CONFIG, result.stderr.decode()
    line = one_line(result)
    assert "security.secret_file" in line and says in line
    assert str(desk.config) in line


def test_a_database_with_corrupt_pages_is_unavailable_not_an_internal_error(tmp_path):
    desk = Desk(tmp_path / "desk")
    desk.cli("ingest", stdin=make_message(subject="Before the disk went bad"))
    database = desk.dir / "var" / "maildesk.db"
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    (root,) = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'outbox'").fetchone()
    connection.close()
    with database.open("r+b") as handle:  # the outbox table's first page becomes garbage
        handle.seek((root - 1) * page_size)
        handle.write(b"\xde\xad\xbe\xef" * (page_size // 4))
    for args in (("outbox", "list"), ("outbox", "list", "--format", "json")):
        result = run(desk, *args)
        assert result.returncode == EX_UNAVAILABLE, result.stderr.decode()
        line = one_line(result)
        assert "database disk image is malformed" in line and str(database) in line


def test_a_config_path_that_is_a_directory_is_a_config_error(desk):
    result = subprocess.run(
        [*MAILDESK, "--config", "/etc", "tickets", "list"], capture_output=True, env=desk.env(), timeout=60
    )
    assert result.returncode == EX_CONFIG
    assert "/etc:1: cannot read: Is a directory" in one_line(result)
