"""``maildesk ingest`` in process: stdin, files, an mbox or a maildir, through the durable inbox and the app.

Each message is stored first, then processed and its mail handed to the
transport. Whether a message was stored is what the caller reports (to an
MTA: stored, or keep it and retry); whatever happens after storing is
retried by the daemon.
"""

from __future__ import annotations

import mailbox
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from maildesk.ingest.read import read_bounded
from maildesk.runtime.app import App
from maildesk.types import RawMessage

log = structlog.get_logger("maildesk.ingest")
BATCH = 100
BATCH_BYTES = 32_000_000  # a batch of large messages is flushed sooner: memory stays bounded


@dataclass(frozen=True)
class BacklogImport:
    """How a backlog import went: what could not be stored (import again), what was too large (never)."""

    failed: int
    too_large: tuple[str, ...]  # mailbox keys of messages over max_message_size, left out


def _open_backlog(path: str, kind: str) -> mailbox.Mailbox:
    """The mailbox, opened once: its table of contents is read once, for the count and the messages."""
    return (
        mailbox.mbox(path, create=False)
        if kind == "mbox"
        else mailbox.Maildir(path, factory=None, create=False)
    )


def _backlog_messages(
    box: mailbox.Mailbox, kind: str, max_size: int, too_large: list[str]
) -> Iterator[bytes]:
    """Each message's bytes, read with a bound; the key of one over ``max_size`` goes to ``too_large``."""
    keys = box.iterkeys() if kind == "mbox" else sorted(box.iterkeys())
    for key in keys:
        handle = box.get_file(key)
        try:
            data = read_bounded(handle, max_size)  # type: ignore[arg-type]  # a binary file of the box
        finally:
            handle.close()
        if data is None:
            too_large.append(str(key))
            continue
        yield data


def _store(
    app: App, data: bytes, source: str, mail_from: str | None = None, rcpt_tos: tuple[str, ...] = ()
) -> int | None:
    raw = RawMessage(
        data=data,
        mail_from=mail_from,
        rcpt_tos=rcpt_tos,
        source=source,
        received_at=datetime.now(UTC),
    )
    try:
        return app.inbox.accept(raw).inbox_id
    except Exception as exc:  # noqa: BLE001 - storage failed: the MTA must retry
        log.error("message_store_failed", source=source, error=f"{type(exc).__name__}: {exc}")
        return None


def deliver_messages(
    app: App, messages: list[tuple[bytes, str]], mail_from: str | None = None, rcpt_tos: tuple[str, ...] = ()
) -> bool:
    """Store then process each (bytes, source); False when one could not be stored (the MTA must retry)."""
    stored = []
    for data, source in messages:
        inbox_id = _store(app, data, source, mail_from, rcpt_tos)
        if inbox_id is None:
            return False
        stored.append(inbox_id)
    _process_and_send(app, stored)
    return True


def _process_and_send(app: App, inbox_ids: list[int], *, backlog: bool = False) -> None:
    """Process what was just stored, then hand its mail to the transport (the daemon retries failures).

    A backlog import delivers in a worker process while it processes the next batch.
    """
    outcomes = app.process(inbox_ids)
    for outcome in outcomes:
        log.info("message_ingested", inbox=outcome.inbox_id, state=outcome.state, ticket=outcome.ticket)
    _send(app.send_in_background if backlog else app.sender.send_due)


def _send(deliver: Callable[[], object]) -> None:
    try:
        while deliver():
            pass
    except Exception as exc:  # noqa: BLE001 - stored mail stays queued for the daemon
        log.warning("outbox_send_deferred", error=str(exc))


def _store_batch(app: App, datas: list[bytes], source: str) -> list[int] | None:
    now = datetime.now(UTC)
    raws = [RawMessage(data=d, mail_from=None, rcpt_tos=(), source=source, received_at=now) for d in datas]
    try:
        return [accepted.inbox_id for accepted in app.inbox.accept_many(raws)]
    except Exception as exc:  # noqa: BLE001 - storage failed: report, the import can be run again
        log.error(
            "message_store_failed", source=source, count=len(datas), error=f"{type(exc).__name__}: {exc}"
        )
        return None


def import_backlog(
    app: App, path: str, kind: str, *, progress: bool = True, max_size: int = 25_000_000
) -> BacklogImport:
    """Store and process an mbox or maildir (``kind``) in batches: one transaction each, bounded memory.

    Says how many messages could not be stored (importing again stores those
    and skips the ones already stored), and which were larger than
    ``max_size``: those are left out, as the SMTP listener would refuse them.
    """
    from tqdm import tqdm

    if app.workers is not None:
        app.workers.start()  # the workers boot while the backlog's table of contents is read
    box = _open_backlog(path, kind)
    too_large: list[str] = []
    messages = _backlog_messages(box, kind, max_size, too_large)
    failed = 0
    batch: list[bytes] = []
    with tqdm(
        total=len(box), unit="msg", disable=not progress, desc=f"importing {kind}", file=sys.stderr
    ) as bar:

        def flush() -> None:
            nonlocal failed
            stored = _store_batch(app, batch, kind)
            if stored is None:
                failed += len(batch)
            else:
                _process_and_send(app, stored, backlog=True)
            bar.update(len(batch))
            batch.clear()

        for data in messages:
            batch.append(data)
            if len(batch) >= BATCH or sum(map(len, batch)) >= BATCH_BYTES:
                flush()
        if batch:
            flush()
    box.close()
    _send(app.finish_sending)
    return BacklogImport(failed, tuple(too_large))
