"""Fixtures for the intake tests: a private Dovecot for the session, a fresh mailbox and database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.db import Database

from .dovecot import DOVECOT, Dovecot, dovecot_available
from .mailbox import Mailbox

_users = itertools.count(1)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if not dovecot_available():
        pytest.skip(f"Dovecot is not installed ({DOVECOT} not found): the IMAP tests need a real IMAP server")
    server = Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    """A new user on the shared server: its INBOX is empty and no other test sees it."""
    user = f"desk{next(_users)}"
    dovecot.add_user(user, f"pw-{user}-secret")
    return Mailbox(dovecot, user, f"pw-{user}-secret")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/t.db")
    database.ensure_schema()
    yield database
    database.dispose()
