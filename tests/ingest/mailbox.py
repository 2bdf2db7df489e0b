"""A test's view of one Dovecot user: settings for the poller, and what its folders hold."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta

from imapclient import IMAPClient

from maildesk.config import ImapIntake

from .dovecot import Dovecot


def make_message(n: int, subject: str | None = None, message_id: str | None = None) -> bytes:
    """A small, well-formed request whose Message-ID is ``<n.test@example.org>``."""
    message_id = message_id or f"<{n}.test@example.org>"
    return (
        f"From: User {n} <user{n}@example.com>\r\n"
        f"To: support@example.org\r\n"
        f"Subject: {subject or f'Request {n}'}\r\n"
        f"Message-ID: {message_id}\r\n"
        f"Date: Sun, 22 Nov 2026 09:00:00 +0000\r\n"
        f"\r\n"
        f"Hello, this is request {n}.\r\n"
    ).encode()


@dataclass
class Mailbox:
    """One fresh Dovecot user: its settings for the poller, and a way to look into its folders."""

    server: Dovecot
    user: str
    password: str

    def account(self, **overrides: object) -> ImapIntake:
        settings = ImapIntake(
            name=self.user,
            host=self.server.host,
            port=self.server.port,
            security="none",
            username=self.user,
            password_file=str(self.server.password_file(self.user)),
            folder="INBOX",
            done="move:Processed",
            poll_every=timedelta(seconds=60),
            idle=True,
            resync_every=timedelta(minutes=5),
            batch_size=200,
        )
        return replace(settings, **overrides)  # type: ignore[arg-type]

    def client(self) -> IMAPClient:
        return self.server.client(self.user)

    def append(self, messages: Iterable[bytes], folder: str = "INBOX") -> None:
        self.server.append(self.user, folder, messages)

    def message_ids(self, folder: str = "INBOX") -> list[str]:
        """The Message-IDs in a folder, in UID order ([] when the folder does not exist)."""
        return [mid for mid, _flags in self.contents(folder)]

    def contents(self, folder: str = "INBOX") -> list[tuple[str, set[bytes]]]:
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            found = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
        result = []
        for uid in sorted(found):
            item = found[uid]
            header = next(v for k, v in item.items() if isinstance(k, bytes) and k.startswith(b"BODY[HEADER"))
            result.append((header.decode().split(":", 1)[1].strip(), set(item[b"FLAGS"])))
        return result

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            return int(client.select_folder(folder, readonly=True)[b"UIDVALIDITY"])
