"""Test helpers: a desk in a temp dir, the daemon as a subprocess, a real SMTP sink, throwaway PostgreSQL databases."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
MAILDESK = [sys.executable, "-m", "maildesk.cli"]
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


# -- PostgreSQL ---------------------------------------------------------------------


def postgres_available() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=1):
        return True
    return False


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh, empty database, dropped afterwards."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    from sqlalchemy import create_engine, text

    name = f"maildesk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- SMTP sink ------------------------------------------------------------------------


class SmtpSink:
    """A real aiosmtpd server that collects what the desk sends."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content)
            )
        return "250 OK"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()

    def parsed(self) -> list[email.message.EmailMessage]:
        with self._lock:
            return [
                email.message_from_bytes(data, policy=email.policy.default) for _f, _r, data in self.messages
            ]

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.parsed() if address in str(m["To"]).lower()]

    def wait_for(self, predicate, timeout: float = 15.0, what: str = "mail"):
        return wait_until(lambda: [m for m in self.parsed() if predicate(m)], timeout=timeout, what=what)


# -- the desk ---------------------------------------------------------------------------

_LEVEL_NAMES = (
    (1, "Front desk", "support@example.org"),
    (2, "Back desk", "support-l2@example.org"),
    (3, "Experts", "support-l3@example.org"),
)


def levels_toml(*levels: tuple[tuple[str, ...], str]) -> str:
    """``[[levels]]`` tables: the Nth (members, escalate_after) is level N, with its usual name and address."""
    tables = []
    for (number, name, address), (members, escalate_after) in zip(_LEVEL_NAMES, levels, strict=False):
        listed = ", ".join(f'"{member}"' for member in members)
        tables.append(
            f'[[levels]]\nid = {number}\nname = "{name}"\naddress = "{address}"\n'
            f'members = [{listed}]\nescalate_after = "{escalate_after}"\n'
        )
    return "\n" + "\n".join(tables)


FRONT_DESK = ("alice@example.org", "bob@example.org")
DEFAULT_LEVELS = levels_toml((FRONT_DESK, "4h"), (("carol@example.org",), "1d"))


class Desk:
    """A maildesk installation in a temp directory: config, rules, templates, articles, database."""

    def __init__(
        self,
        directory: Path,
        *,
        sink: SmtpSink | None = None,
        db_url: str | None = None,
        levels: str = DEFAULT_LEVELS,
        extra: str = "",
        desk: str = "",
        rules: str | None = None,
        command_auth: str = "signed",
        check_every: str = "1s",
        protocol: str = "smtp",
        kb: str = "",
    ) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ROOT / "templates", self.dir / "templates", dirs_exist_ok=True)
        shutil.copytree(ROOT / "kb", self.dir / "kb", dirs_exist_ok=True)
        (self.dir / "rules.toml").write_text(
            rules if rules is not None else (ROOT / "rules.toml").read_text()
        )
        self.port = free_port()
        self.sink = sink
        self.db_url = db_url or f"sqlite:///{self.dir}/var/maildesk.db"
        outgoing = (
            f'transport = "smtp"\nhost = "127.0.0.1"\nport = {sink.port}\nretry = ["1s", "2s"]'
            if sink
            else 'transport = "maildir"\nmaildir = "var/sent"'
        )
        self.config = self.dir / "config.toml"
        self.config.write_text(f"""
[desk]
name = "Example Support"
address = "support@example.org"
tag = "Support"
language = "en"
timezone = "UTC"
supervisors = ["lead@example.org"]
reopen_within = "14d"
{desk}

[database]
url = "{self.db_url}"

[intake.smtp]
listen = "127.0.0.1:{self.port}"
protocol = "{protocol}"
max_message_size = "1MB"
domains = ["example.org"]

[outgoing]
{outgoing}

[security]
secret_file = "var/secret"
command_auth = "{command_auth}"

{levels}

[urgency.critical]
first_response = "30m"
resolve = "4h"

[timers]
check_every = "{check_every}"

[kb]
dir = "kb"
{kb}

[rules]
files = ["rules.toml"]

[templates]
dir = "templates"
{extra}
""")
        self.process: subprocess.Popen | None = None

    # -- CLI ---------------------------------------------------------------------------

    def cli(self, *args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*MAILDESK, "--config", str(self.config), *args],
            input=stdin,
            capture_output=True,
            cwd=self.dir,
            timeout=120,
            env=self.env(),
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"maildesk {' '.join(args)} exited {result.returncode}: {result.stderr.decode()}"
            )
        return result

    def json(self, *args: str):
        return json.loads(self.cli(*args, "--format", "json").stdout)

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT)}

    def secret(self) -> bytes:
        from maildesk.security.signing import load_or_create_secret

        return load_or_create_secret(self.dir / "var" / "secret")

    def signed(self, ticket: int, recipient: str, level_address: str = "support@example.org") -> str:
        from maildesk.security.signing import signed_address

        return signed_address(self.secret(), level_address, ticket, recipient)

    # -- the daemon ------------------------------------------------------------------------

    def start(self, *extra: str, wrapper: tuple[str, ...] = ()) -> None:
        """``maildesk run`` in the background; ``wrapper`` is a command it runs under (e.g. setpriv)."""
        log = open(self.dir / "daemon.log", "ab")  # noqa: SIM115 - handed to the child, closed just below
        self.process = subprocess.Popen(
            [*wrapper, *MAILDESK, "--config", str(self.config), "run", *extra],
            cwd=self.dir,
            stdout=log,
            stderr=log,
            env=self.env(),
        )
        log.close()
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.process.kill()
            raise AssertionError(f"daemon did not start:\n{self.log()}") from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def log(self) -> str:
        path = self.dir / "daemon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def send(
        self,
        message: bytes | str,
        *,
        mail_from: str = "user@client.com",
        to: list[str] | tuple[str, ...] = ("support@example.org",),
    ) -> dict:
        if isinstance(message, str):
            message = message.encode()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            return client.sendmail(mail_from, list(to), message)

    def tickets(self, *args: str) -> list[dict]:
        return self.json("tickets", "list", "--status", "all", *args)

    def ticket(self, number: int) -> dict:
        return self.json("tickets", "show", str(number))

    def wait_for_tickets(self, count: int, timeout: float = 20) -> list[dict]:
        def enough() -> list[dict] | None:
            found = self.tickets()
            return found if len(found) >= count else None

        return wait_until(enough, timeout=timeout, what=f"{count} tickets")


def make_message(
    subject: str = "VPN down",
    body: str = "Hello,\nthe VPN fails since this morning.\n",
    sender: str = "user@client.com",
    name: str = "Una User",
    to: str = "support@example.org",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    in_reply_to: str | None = None,
) -> bytes:
    """A small plain-text message as a mail client would send it."""
    lines = [
        f"From: {name} <{sender}>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: {message_id or f'<{uuid.uuid4().hex}@client.com>'}",
        "Date: Sun, 22 Nov 2026 09:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        lines += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


# -- looking inside a desk's database, and messages the core pipeline tests need ---------------


def db_rows(url: str, sql: str, **params) -> list[tuple]:
    """Rows of one SQL statement on a desk's database (committed when it writes)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def wait_inbox_drained(url: str, count: int, timeout: float = 30.0) -> None:
    """Wait until at least ``count`` messages are stored and none is still pending."""

    def drained() -> bool:
        ((total, pending),) = db_rows(
            url, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) FROM inbox"
        )
        return total >= count and pending == 0

    wait_until(drained, timeout=timeout, interval=0.1, what=f"{count} processed inbox messages")


def make_dsn(
    original_message_id: str,
    failed: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    reporter: str = "mx.client.com",
    message_id: str | None = None,
    headers_only: bool = False,
    original_subject: str = "[Support #1] Request received",
) -> bytes:
    """An RFC 3464 multipart/report delivery-status for a message the desk sent to ``failed``."""
    boundary = f"dsn-{uuid.uuid4().hex}"
    original = (
        f"From: Example Support <support@example.org>\r\nTo: {failed}\r\n"
        f"Subject: {original_subject}\r\nMessage-ID: {original_message_id}\r\n"
        "Auto-Submitted: auto-replied\r\n"
    )
    if headers_only:
        returned = f"Content-Type: text/rfc822-headers\r\n\r\n{original}"
    else:
        returned = f"Content-Type: message/rfc822\r\n\r\n{original}\r\nThank you for contacting us.\r\n"
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporter}>",
        "To: support@example.org",
        "Subject: Undelivered Mail Returned to Sender",
        f"Message-ID: {message_id or f'<{uuid.uuid4().hex}@{reporter}>'}",
        "Date: Sun, 22 Nov 2026 09:05:00 +0000",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"I'm sorry to have to inform you that your message could not be delivered to {failed}.",
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {reporter}",
        "",
        f"Final-Recipient: rfc822; {failed}",
        f"Action: {action}",
        f"Status: {status}",
        f"Diagnostic-Code: smtp; 550 {status} <{failed}>: Recipient address rejected: User unknown",
        "",
        f"--{boundary}",
        returned,
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


def clear_tables(db) -> None:
    """Empty every table but the schema version and the knowledge base, so one App can serve many tests."""
    from sqlalchemy import delete

    from maildesk.storage.models import Base

    with db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "kb_articles":
                session.execute(delete(table))


def run_cli(config: Path, *args: str) -> tuple[int, str, str]:
    """``maildesk --config CONFIG ARGS`` in this process (no interpreter start-up): exit code, stdout, stderr."""
    import io

    from maildesk.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["--config", str(config), *args])
        except SystemExit as exc:
            code = exc.code
    return int(code or 0), out.getvalue(), err.getvalue()


def cli_json(config: Path, *args: str):
    """The parsed ``--format json`` output of an in-process CLI command that must succeed."""
    code, out, err = run_cli(config, *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)
