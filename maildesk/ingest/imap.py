"""Poll an IMAP folder into the durable inbox, then move, delete or flag what was stored.

One ``ImapPoller`` per ``[[intake.imap]]`` account, each run in its own
thread by the daemon. A pass selects the folder, searches what is still
pending (everything not deleted; with ``done = "flag"`` everything not
flagged), fetches the bodies ``batch_size`` UIDs at a time with
``BODY.PEEK[]``, stores each batch through the inbox (one transaction; one
by one when that fails, so a message that cannot be stored holds up no
other) and only then applies the done-action to the messages that were
stored. The Message-ID ledger of
the inbox makes a message fetched twice (a crash between commit and move, a
UIDVALIDITY reset) one inbox row.

The checkpoint (UIDVALIDITY and the highest UID handled) tells new messages
from ones that stayed behind: a message below it that is still pending was
either not storable (it is fetched again, so it is never lost) or already
stored and not yet moved (only its Message-ID is fetched, to see that).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from imapclient import DELETED, FLAGGED, SEEN, IMAPClient
from sqlalchemy import select

from maildesk.config import ImapIntake
from maildesk.ingest.imap_auth import close_client, open_client
from maildesk.ingest.imap_state import (
    ConnectionLost,
    PollerStats,
    chunks,
    describe_error,
    load_checkpoint,
    save_checkpoint,
)
from maildesk.message.ledger import digest_message_id, message_key
from maildesk.storage.db import Database
from maildesk.storage.inbox import Accepted, Inbox
from maildesk.storage.models import InboxMessage
from maildesk.types import RawMessage

IDLE_SLICE = 5.0  # seconds per idle_check: how soon a set stop event is noticed
IDLE_RENEW = 25 * 60.0  # RFC 2177: servers may drop an IDLE after 30 minutes, so re-issue it before
SOCKET_TIMEOUT = 60.0  # no answer for this long outside IDLE: the connection is dead
MIN_WAIT = 0.1  # floor for poll_every and resync_every, so that "0s" cannot spin
_BODY = b"BODY[]"
_MESSAGE_ID_FIELD = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"


class ImapPoller:
    """Drains one account's folder into the inbox; ``run`` keeps doing so until stopped."""

    def __init__(
        self,
        account: ImapIntake,
        inbox: Inbox,
        db: Database,
        *,
        on_stored: Callable[[], None] = lambda: None,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        timeout: float = SOCKET_TIMEOUT,
        idle_slice: float = IDLE_SLICE,
    ) -> None:
        self.account = account
        self.inbox = inbox
        self.db = db
        self.on_stored = on_stored
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.idle_slice = idle_slice
        self.source = f"imap:{account.name}"
        self.batch_size = max(1, account.batch_size)
        self.done_folder = account.done[len("move:") :] if account.done.startswith("move:") else None
        self.stats = PollerStats()
        self.state = "disconnected"  # connected, idling, polling, backoff, stopped
        # A lazy logger (not .bind()): it follows the logging setup made after the poller.
        self.log = structlog.get_logger("maildesk.imap", account=account.name)
        self._client: IMAPClient | None = None

    # -- the loop -------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Poll (or IDLE) until ``stop`` is set, reconnecting with backoff; never raises."""
        delay = self.backoff_base
        poll_every = max(MIN_WAIT, self.account.poll_every.total_seconds())
        resync_every = max(MIN_WAIT, self.account.resync_every.total_seconds())
        try:
            while not stop.is_set():
                try:
                    self.poll_once()
                    delay = self.backoff_base
                    if stop.is_set():
                        break
                    if self._announced_new_mail():
                        continue  # it came in during the pass; IDLE would not announce it again
                    if self._can_idle():
                        self._idle(stop, time.monotonic() + resync_every)
                    else:
                        self._set_state("polling", "imap_polling_started", poll_every=poll_every)
                        stop.wait(poll_every)
                except Exception as exc:  # noqa: BLE001 - every failure means: reconnect later
                    reason = describe_error(exc)
                    if self.state in ("connected", "idling", "polling"):
                        self.log.warning("imap_connection_lost", reason=reason)
                    self._drop()
                    wait = delay * random.uniform(0.8, 1.0)  # jitter: accounts on one server spread out
                    self.state = "backoff"
                    self.log.warning("imap_backoff", reason=reason, retry_in=round(wait, 2))
                    stop.wait(wait)
                    delay = min(self.backoff_cap, delay * 2)
        except BaseException as exc:  # noqa: BLE001 - a poller thread must never die with a traceback
            self.log.error("imap_poller_failed", reason=describe_error(exc))
        finally:
            self.close()
            self.state = "stopped"
            self.log.info("imap_stopped")

    def poll_once(self) -> int:
        """Connect if needed and drain the folder once; the number of new messages stored."""
        try:
            return self._drain(self._connected())
        except BaseException:
            self._drop()
            raise

    def close(self) -> None:
        """Log out; the next ``poll_once`` connects again."""
        self._drop()
        if self.state != "stopped":
            self.state = "disconnected"

    # -- connection -----------------------------------------------------------

    def _connected(self) -> IMAPClient:
        if self._client is not None:
            return self._client
        account = self.account
        client = open_client(account, timeout=self.timeout)
        try:
            if self.done_folder is not None:
                self._ensure_folder(client, self.done_folder)
            offered = {c.decode("ascii", "replace").upper() for c in client.capabilities()}
            capabilities = sorted(offered & {"IDLE", "MOVE", "UIDPLUS"})
        except BaseException:
            close_client(client)
            raise
        self._client = client
        self.stats.connects += 1
        self.state = "connected"
        self.log.info(
            "imap_connected",
            host=account.host,
            port=account.port,
            security=account.security,
            folder=account.folder,
            capabilities=capabilities,
        )
        return client

    def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if client.folder_exists(folder):
            return
        try:
            client.create_folder(folder)
        except IMAPClient.Error:
            if not client.folder_exists(folder):  # else another client created it just now
                raise
            return
        with contextlib.suppress(IMAPClient.Error):
            client.subscribe_folder(folder)  # so that mail clients show it
        self.log.info("imap_folder_created", folder=folder)

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            close_client(client)

    def _announced_new_mail(self) -> bool:
        """Whether the server sent an untagged EXISTS since the folder was selected.

        A message that arrives during a pass is announced in the reply to
        whatever command runs then (SEARCH, FETCH, MOVE), after that command saw
        the folder without it; IMAPClient leaves such replies in imaplib's store,
        so they are looked up there.
        """
        client = self._client
        if client is None:
            return False
        _code, data = client._imap.response("EXISTS")
        return bool(data and data[0] is not None)

    def _can_idle(self) -> bool:
        return self.account.idle and self._client is not None and self._client.has_capability("IDLE")

    def _set_state(self, state: str, event: str, **fields: object) -> None:
        if self.state != state:
            self.state = state
            self.log.info(event, **fields)

    # -- IDLE -----------------------------------------------------------------

    def _idle(self, stop: threading.Event, resync_at: float) -> None:
        """Wait in IDLE until new mail, the resync time, ``stop``, or 25 minutes; raises if the link dies."""
        client = self._client
        assert client is not None
        client.idle()
        self._set_state("idling", "imap_idle_started", resync_every=round(resync_at - time.monotonic(), 1))
        self._wait_in_idle(client, stop, min(resync_at, time.monotonic() + IDLE_RENEW))
        client.idle_done()  # not reached when the link died: the connection is dropped instead

    def _wait_in_idle(self, client: IMAPClient, stop: threading.Event, until: float) -> None:
        while not stop.is_set():
            started = time.monotonic()
            if started >= until:
                return
            wait = min(self.idle_slice, until - started)
            responses = client.idle_check(timeout=wait)
            for response in responses:
                if response and response[0] == b"BYE":
                    said = b" ".join(part for part in response[1:] if isinstance(part, bytes))
                    raise ConnectionLost(f"server said BYE {said.decode('utf-8', 'replace')}".strip())
            if any(len(r) >= 2 and r[1] == b"EXISTS" for r in responses):
                return
            if not responses and time.monotonic() - started < wait / 2:
                # The socket was readable yet gave no whole line: usually the peer closed it.
                # Ending IDLE reads the tagged answer, which raises if the link is dead.
                return

    # -- one pass -------------------------------------------------------------

    def _drain(self, client: IMAPClient) -> int:
        self.stats.passes += 1
        selected = client.select_folder(self.account.folder)
        client._imap.response("EXISTS")  # the count SELECT gave is no news; see _announced_new_mail
        uidvalidity = int(selected[b"UIDVALIDITY"])
        last_uid = load_checkpoint(self.db, self.account, uidvalidity, self.log)
        criteria: list[str] = ["UNDELETED"]
        if self.account.done == "flag":
            criteria.append("UNFLAGGED")
        pending = sorted(client.search(criteria))
        behind = [uid for uid in pending if uid <= last_uid]
        fresh = [uid for uid in pending if uid > last_uid]
        stored = 0
        for batch in chunks(behind, self.batch_size):
            stored += self._recover(client, batch)
        for batch in chunks(fresh, self.batch_size):
            stored += self._store_batch(client, batch)
            save_checkpoint(self.db, self.account, uidvalidity, batch[-1])
        return stored

    def _store_batch(self, client: IMAPClient, uids: list[int]) -> int:
        """Fetch, store and finish one batch; a message that cannot be stored stays for the next pass."""
        response = client.fetch(uids, ["BODY.PEEK[]"])
        fetched: list[tuple[int, RawMessage]] = []
        failed = 0
        now = datetime.now(UTC)
        for uid in uids:
            item = response.pop(uid, None)
            if item is None:
                continue  # expunged by someone else since the search
            data = item.get(_BODY)
            if not isinstance(data, bytes):
                failed += 1
                self.log.warning("imap_message_failed", uid=uid, reason="the server returned no body")
                continue
            fetched.append(
                (uid, RawMessage(data=data, mail_from=None, rcpt_tos=(), source=self.source, received_at=now))
            )
        del response
        self.stats.bodies_fetched += len(fetched)
        stored: list[int] = []
        new = duplicates = 0
        for (uid, _raw), outcome in zip(
            fetched, self._accept_all([raw for _uid, raw in fetched]), strict=True
        ):
            if isinstance(outcome, Exception):
                failed += 1
                self.log.warning("imap_message_failed", uid=uid, reason=describe_error(outcome))
                continue
            stored.append(uid)
            if outcome.duplicate:
                duplicates += 1
            else:
                new += 1
        del fetched
        self.stats.stored += new
        self.stats.duplicates += duplicates
        self.stats.failed += failed
        if new:
            self._notify()
        if stored:
            self._finish(client, stored)
        self.log.info(
            "imap_batch_stored",
            stored=new,
            duplicates=duplicates,
            failed=failed,
            first_uid=uids[0],
            last_uid=uids[-1],
        )
        return new

    def _accept_all(self, raws: list[RawMessage]) -> list[Accepted | Exception]:
        """Store a batch in one transaction; when that fails, one by one, so only the bad message is left."""
        if not raws:
            return []
        try:
            return list(self.inbox.accept_many(raws))
        except Exception:  # noqa: BLE001 - find out below which message it was
            pass
        outcomes: list[Accepted | Exception] = []
        for raw in raws:
            try:
                outcomes.append(self.inbox.accept(raw))
            except Exception as exc:  # noqa: BLE001 - one bad message must not block the mailbox
                outcomes.append(exc)
        return outcomes

    def _recover(self, client: IMAPClient, uids: list[int]) -> int:
        """Messages below the checkpoint still pending: finish those already stored, store the rest."""
        response = client.fetch(uids, [_MESSAGE_ID_FIELD])
        keys: dict[int, str] = {}
        for uid, item in response.items():
            header = next(
                (
                    value
                    for name, value in item.items()
                    if isinstance(name, bytes) and name.startswith(b"BODY[HEADER")
                ),
                None,
            )
            if isinstance(header, bytes):
                key = message_key(header)
                if key != digest_message_id(header):  # a real Message-ID, not a digest of these few bytes
                    keys[uid] = key
        known: set[str] = set()
        if keys:
            with self.db.session() as session:
                known = set(
                    session.scalars(
                        select(InboxMessage.message_key).where(
                            InboxMessage.message_key.in_(set(keys.values()))
                        )
                    )
                )
        finished = [uid for uid in uids if uid in response and keys.get(uid) in known]
        if finished:
            self.stats.duplicates += len(finished)
            self._finish(client, finished)
            self.log.info("imap_leftovers_finished", count=len(finished))
        retry = [uid for uid in uids if uid in response and uid not in finished]
        return self._store_batch(client, retry) if retry else 0

    def _finish(self, client: IMAPClient, uids: list[int]) -> None:
        """Apply the done-action to messages that are safely stored."""
        done = self.account.done
        if self.done_folder is not None:
            if client.has_capability("MOVE"):
                client.move(uids, self.done_folder)
            else:
                client.copy(uids, self.done_folder)
                client.add_flags(uids, [DELETED], silent=True)
                self._expunge(client, uids)
        elif done == "delete":
            client.add_flags(uids, [DELETED], silent=True)
            self._expunge(client, uids)
        elif done == "flag":
            client.add_flags(uids, [FLAGGED, SEEN], silent=True)
        else:
            raise ValueError(f"unknown done action {done!r}")

    @staticmethod
    def _expunge(client: IMAPClient, uids: list[int]) -> None:
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()  # without UIDPLUS only a whole-folder expunge exists

    def _notify(self) -> None:
        try:
            self.on_stored()
        except Exception as exc:  # noqa: BLE001 - waking the worker is a courtesy; storage is done
            self.log.warning("imap_notify_failed", reason=describe_error(exc))
