"""Fixtures for the intake tests: a private Dovecot for the session, a fresh mailbox and database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.storage.db import Database

from .certs import OPENSSL, openssl_available
from .dovecot import DOVECOT, Dovecot, dovecot_available
from .mailbox import Mailbox

_users = itertools.count(1)


def _serve(tls: bool) -> Iterator[Dovecot]:
    if not dovecot_available():
        pytest.skip(f"Dovecot is not installed ({DOVECOT} not found): the IMAP tests need a real IMAP server")
    if tls and not openssl_available():
        pytest.skip(
            f"openssl is not installed ({OPENSSL} not found): the TLS tests make their certificates with it"
        )
    server = Dovecot(tls=tls)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def _new_mailbox(server: Dovecot) -> Mailbox:
    user = f"desk{next(_users)}"
    server.add_user(user, f"pw-{user}-secret")
    return Mailbox(server, user, f"pw-{user}-secret")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    yield from _serve(tls=False)


@pytest.fixture(scope="session")
def tls_dovecot() -> Iterator[Dovecot]:
    """A second server that also serves implicit TLS and STARTTLS, with a certificate from a throwaway CA."""
    yield from _serve(tls=True)


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    """A new user on the shared server: its INBOX is empty and no other test sees it."""
    return _new_mailbox(dovecot)


@pytest.fixture
def tls_mailbox(tls_dovecot: Dovecot) -> Mailbox:
    """A new user on the TLS server."""
    return _new_mailbox(tls_dovecot)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/t.db")
    database.ensure_schema()
    yield database
    database.dispose()
