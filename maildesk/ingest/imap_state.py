"""What an IMAP poller keeps between passes and says about failures: its checkpoint, counters, error lines.

The checkpoint (UIDVALIDITY and the highest UID handled) is a row per
account and folder, so that a restarted daemon, or a second one, goes on
where the last pass stopped.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from maildesk.config import ImapIntake
from maildesk.ingest.imap_auth import CredentialsError, TlsSetupError
from maildesk.storage.db import Database
from maildesk.storage.models import ImapCheckpoint

_UNKNOWN_ISSUER = frozenset(
    {18, 19, 20}
)  # OpenSSL X509_V_ERR_*: self-signed, or issuer not in the trust store


class ConnectionLost(RuntimeError):
    """The server ended the session (BYE) or the socket closed."""


@dataclass
class PollerStats:
    """Counters since the poller was made; read by tests and the benchmark."""

    passes: int = 0
    connects: int = 0
    bodies_fetched: int = 0
    stored: int = 0  # new inbox rows
    duplicates: int = 0  # already in the ledger (stored before, not yet moved)
    failed: int = 0  # could not be stored this pass; left in the folder


def chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def describe_error(exc: BaseException) -> str:
    """One line saying why a connection failed, for logs; never holds a secret."""
    if isinstance(exc, LoginError):
        return f"login failed: {_text(exc)}"
    if isinstance(exc, CredentialsError):
        return f"credentials unavailable: {exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionLost):
        return f"connection lost: {exc}"
    if isinstance(exc, TlsSetupError):
        return f"TLS failed: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = " (a private CA? set ca_file)" if exc.verify_code in _UNKNOWN_ISSUER else ""
        return f"TLS certificate not accepted: {exc.verify_message or _text(exc)}{hint}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or _text(exc)}"
    if isinstance(exc, IMAPClient.AbortError):
        return f"connection lost: {_text(exc)}"
    if isinstance(exc, IMAPClient.Error):
        text = _text(exc)
        return f"connection lost: {text}" if "BYE" in text else f"server error: {text}"
    if isinstance(exc, OSError):
        return f"network error: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {_text(exc)}"


def _text(exc: BaseException) -> str:
    value: object = exc.args[0] if len(exc.args) == 1 else str(exc)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    lines = str(value).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def load_checkpoint(db: Database, account: ImapIntake, uidvalidity: int, log: Any) -> int:
    """The last UID handled in this folder; 0 (rescan all) when new or when UIDVALIDITY changed."""
    account_name, folder = account.name, account.folder
    for _attempt in range(2):
        try:
            with db.session() as session:
                row = session.scalar(
                    select(ImapCheckpoint).where(
                        ImapCheckpoint.account == account_name, ImapCheckpoint.folder == folder
                    )
                )
                if row is None:
                    session.add(
                        ImapCheckpoint(
                            account=account_name, folder=folder, uidvalidity=uidvalidity, last_uid=0
                        )
                    )
                    return 0
                if row.uidvalidity != uidvalidity:
                    log.warning(
                        "imap_uidvalidity_changed", folder=folder, old=row.uidvalidity, new=uidvalidity
                    )
                    row.uidvalidity = uidvalidity
                    row.last_uid = 0
                    return 0
                return row.last_uid
        except IntegrityError:
            continue  # another daemon created the row at the same moment: read it
    raise RuntimeError(f"cannot create the IMAP checkpoint for {account_name}/{folder}")


def save_checkpoint(db: Database, account: ImapIntake, uidvalidity: int, last_uid: int) -> None:
    """Move the checkpoint on to ``last_uid`` (never back, never across a UIDVALIDITY change)."""
    with db.session() as session:
        row = session.scalar(
            select(ImapCheckpoint).where(
                ImapCheckpoint.account == account.name, ImapCheckpoint.folder == account.folder
            )
        )
        if row is not None and row.uidvalidity == uidvalidity and row.last_uid < last_uid:
            row.last_uid = last_uid
