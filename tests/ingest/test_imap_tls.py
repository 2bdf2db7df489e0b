"""IMAP intake over implicit TLS and STARTTLS against a real Dovecot whose certificate comes from a private CA."""

from __future__ import annotations

import ssl

import pytest
from structlog.testing import capture_logs

from maildesk.config import ImapIntake
from maildesk.ingest.imap import ImapPoller
from maildesk.ingest.imap_auth import tls_context
from maildesk.storage.db import Database
from maildesk.storage.inbox import Inbox

from .mailbox import Mailbox, make_message
from .test_imap import FAST, events, ids, inbox_keys, running, wait_for

pytestmark = pytest.mark.imap


def tls_account(mailbox: Mailbox, security: str, *, trust_private_ca: bool = True) -> ImapIntake:
    """Settings for the TLS server: implicit TLS on its imaps port, STARTTLS on its plain one."""
    server = mailbox.server
    assert server.tls is not None
    return mailbox.account(
        security=security,
        port=server.tls_port if security == "tls" else server.port,
        ca_file=str(server.tls.ca_file) if trust_private_ca else "",
    )


def tls_logins(mailbox: Mailbox) -> list[str]:
    """The user's logins that the server saw arrive over TLS (the test helper's own logins are plain)."""
    return [line for line in mailbox.server.logins(mailbox.user) if ", TLS," in line]


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_message_is_fetched_over_tls_trusting_the_private_ca(
    tls_mailbox: Mailbox, db: Database, security: str
) -> None:
    tls_mailbox.append([make_message(1)])
    with capture_logs() as logs:
        poller = ImapPoller(tls_account(tls_mailbox, security), Inbox(db), db)
        try:
            assert poller.poll_once() == 1
        finally:
            poller.close()
    assert inbox_keys(db) == ids(1)
    assert tls_mailbox.message_ids("Processed") == ids(1)
    assert events(logs, "imap_connected")[0]["security"] == security
    # The server says the login itself came over TLS: for STARTTLS, the upgrade came before it.
    wait_for(lambda: len(tls_logins(tls_mailbox)) == 1, timeout=5, what="Dovecot to log the TLS login")


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_private_certificate_is_refused_without_ca_file_and_retried_with_backoff(
    tls_mailbox: Mailbox, db: Database, security: str
) -> None:
    tls_mailbox.append([make_message(1)])
    poller = ImapPoller(tls_account(tls_mailbox, security, trust_private_ca=False), Inbox(db), db, **FAST)
    with capture_logs() as logs, running(poller):
        wait_for(lambda: len(events(logs, "imap_backoff")) >= 2, what="two refused connections")
        assert poller.state == "backoff"
    reasons = [entry["reason"] for entry in events(logs, "imap_backoff")]
    assert all(r.startswith("TLS certificate not accepted") for r in reasons), reasons
    assert not events(logs, "imap_connected")
    assert poller.stats.connects == 0 and inbox_keys(db) == []
    assert tls_mailbox.message_ids("INBOX") == ids(1)
    assert tls_logins(tls_mailbox) == []  # the password never went to a server that was not verified


def test_starttls_fails_with_backoff_when_the_server_does_not_offer_it(
    mailbox: Mailbox, db: Database
) -> None:
    mailbox.append([make_message(1)])  # the shared server has no TLS at all
    poller = ImapPoller(mailbox.account(security="starttls"), Inbox(db), db, **FAST)
    with capture_logs() as logs, running(poller):
        wait_for(lambda: len(events(logs, "imap_backoff")) >= 2, what="two refused connections")
    reasons = [entry["reason"] for entry in events(logs, "imap_backoff")]
    assert all("does not offer STARTTLS" in r for r in reasons), reasons
    assert poller.stats.connects == 0 and inbox_keys(db) == []
    assert mailbox.message_ids("INBOX") == ids(1)


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_the_tls_context_checks_the_chain_and_the_host_name(tls_mailbox: Mailbox, security: str) -> None:
    for account in (
        tls_account(tls_mailbox, security),
        tls_account(tls_mailbox, security, trust_private_ca=False),
    ):
        context = tls_context(account)
        assert context is not None
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_plain_connections_have_no_tls_context(mailbox: Mailbox) -> None:
    assert tls_context(mailbox.account(security="none")) is None
