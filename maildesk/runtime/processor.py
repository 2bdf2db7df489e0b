"""The batching processor: drains pending inbox rows through the pipeline in force, one transaction a batch.

Throughput machinery only (the stage order is ``pipeline``'s): one commit
per batch, savepoints so a failing message is quarantined alone, and the
worker pool that parses and renders while this process applies.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.orm import Session, defer

from maildesk.notify.drafts import fill_drafts
from maildesk.notify.mailjob import DeskIdentity, MailJob
from maildesk.pipeline import Pipeline, Rejected
from maildesk.runtime.workers import WorkerPool
from maildesk.states import InboxState, QuarantineStatus
from maildesk.storage import quarantine
from maildesk.storage.db import Database, is_storage_failure
from maildesk.storage.inbox import peek_pending, pending_ids, pending_query
from maildesk.storage.models import InboxMessage
from maildesk.storage.outbox import OutboxBatch, store_drafts, suppress_address
from maildesk.types import ParsedMessage, TicketChange

log = structlog.get_logger("maildesk.pipeline")


@dataclass(frozen=True)
class Outcome:
    inbox_id: int
    state: str  # done | quarantined | rejected
    ticket: int | None = None
    reason: str | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _RenderFailed(Exception):
    """A mail of the batch could not be rendered after its message was applied: redo the batch one by one."""


class _NeedsSavepoints(Exception):
    """A message of an optimistic batch failed: roll the batch back and redo it with a savepoint each."""


class Processor:
    """Drains pending inbox rows through the current pipeline, in batches of one transaction each.

    With a worker pool, a batch of at least ``POOL_MIN_BATCH`` rows is parsed
    in the workers before the write transaction begins, and each applied
    message's mail is rendered there while the next message is applied.
    """

    POOL_MIN_BATCH = 4  # below this the round trips to the workers cost more than they save
    BATCH_BYTES = 16_000_000  # raw bytes one batch may hold: a burst of large messages goes in several
    RENDER_CHUNK = 8  # drafts sent to a worker at a time: fewer round trips, still rendered while applying

    def __init__(
        self, db: Database, pipeline_source: Callable[[], Pipeline], workers: WorkerPool | None = None
    ) -> None:
        self.db = db
        self._pipeline_source = pipeline_source  # a callable returning the Pipeline in force
        self.workers = workers
        # When each message is applied (None: now); tests of dated report figures set their own.
        self.clock: Callable[[], datetime] | None = None

    def process_pending(
        self, limit: int | None = None, only_ids: list[int] | None = None, batch: int = 50
    ) -> list[Outcome]:
        outcomes: list[Outcome] = []
        while limit is None or len(outcomes) < limit:
            size = batch if limit is None else min(batch, limit - len(outcomes))
            done = self.process_batch(size, only_ids)
            if not done:
                break
            outcomes.extend(done)
        return outcomes

    def process_next(self, only_ids: list[int] | None = None) -> Outcome | None:
        done = self.process_batch(1, only_ids)
        return done[0] if done else None

    def process_batch(self, size: int = 50, only_ids: list[int] | None = None) -> list[Outcome]:
        """Process up to ``size`` pending rows in one transaction, each under its own savepoint.

        One commit (one fsync) for the batch instead of one per message; a
        message that fails rolls back to its savepoint and is quarantined
        alone. A crash loses nothing: the rows simply stay pending.
        """
        pipeline: Pipeline = self._pipeline_source()
        if self.workers is not None:
            pending = peek_pending(self.db, pending_ids(self.db, size, self.BATCH_BYTES, only_ids))
            # Once a burst has started the workers, even a short batch is worth their help.
            if len(pending) >= (1 if self.workers.started else self.POOL_MIN_BATCH):
                try:
                    return self._process_with_workers(pipeline, pending)
                except _RenderFailed as exc:
                    log.warning("batch_redone_serially", reason=str(exc))
                    only_ids = [inbox_id for inbox_id, _raw in pending]
        return self._process_serially(pipeline, size, only_ids)

    def _process_serially(self, pipeline: Pipeline, size: int, only_ids: list[int] | None) -> list[Outcome]:
        outcomes: list[Outcome] = []
        outbox = OutboxBatch()
        ids = pending_ids(self.db, size, self.BATCH_BYTES, only_ids)
        if not ids:
            return outcomes
        with self.db.session() as session:
            for row in session.scalars(pending_query(self.db, len(ids), ids)).all():
                outcomes.append(self._process_row(session, pipeline, row, outbox, render=True))
            store_drafts(session, outbox.drafts)
        return outcomes

    def _process_with_workers(self, pipeline: Pipeline, pending: list[tuple[int, bytes]]) -> list[Outcome]:
        """Parse in the workers, apply here, render in the workers while the next messages are applied.

        The first attempt runs without per-message savepoints (each costs two
        statements and a flush); if any message fails or is rejected, the
        transaction is rolled back and the batch is done again with them, so
        a failure still touches only its own message.
        """
        chunk = 4
        assert self.workers is not None  # only called with a pool
        parse_futures = self.workers.parse([raw for _id, raw in pending], chunk=chunk)
        ids = [inbox_id for inbox_id, _raw in pending]
        parsed_by_id: dict[int, ParsedMessage] = {}

        def parsed_of(inbox_id: int) -> ParsedMessage | None:
            if inbox_id not in parsed_by_id:
                position = ids.index(inbox_id)
                try:
                    start = position - position % chunk
                    for offset, parsed in enumerate(parse_futures[position // chunk].result()):
                        parsed_by_id[ids[start + offset]] = parsed
                except Exception as exc:  # noqa: BLE001 - parse again here, where a failure quarantines
                    log.warning("worker_parse_failed", inbox=inbox_id, error=f"{type(exc).__name__}: {exc}")
            return parsed_by_id.get(inbox_id)

        try:
            return self._apply_with_workers(pipeline, ids, parsed_of, savepoints=False)
        except _NeedsSavepoints:
            return self._apply_with_workers(pipeline, ids, parsed_of, savepoints=True)

    def _apply_with_workers(
        self,
        pipeline: Pipeline,
        ids: list[int],
        parsed_of: Callable[[int], ParsedMessage | None],
        *,
        savepoints: bool,
    ) -> list[Outcome]:
        outcomes: list[Outcome] = []
        outbox = OutboxBatch()
        renders: list[tuple[int, int, Future]] = []  # (first draft, end, future)
        rendered = 0  # drafts before this one are on their way to a worker
        desk = MailJob.desk_of(pipeline.settings)
        with self.db.session() as session:
            # Another daemon (PostgreSQL) may have taken some of these rows since: claim what is left.
            # The workers have the bytes: the rows are claimed without them (a parse redone here loads them).
            rows = session.scalars(
                pending_query(self.db, len(ids), ids).options(defer(InboxMessage.raw))
            ).all()
            for row in rows:
                if savepoints:
                    outcome = self._process_row(
                        session, pipeline, row, outbox, render=False, parsed=parsed_of(row.id)
                    )
                else:
                    outcome = self._process_row_optimistically(
                        session, pipeline, row, outbox, parsed_of(row.id)
                    )
                outcomes.append(outcome)
                if outbox.mark() - rendered >= self.RENDER_CHUNK:
                    # Rendered in a worker while the next messages are applied here.
                    renders.append(self._render_in_worker(pipeline, desk, outbox, rendered))
                    rendered = outbox.mark()
            if outbox.mark() > rendered:
                renders.append(self._render_in_worker(pipeline, desk, outbox, rendered))
            for first, end, future in renders:
                drafts = outbox.drafts[first:end]
                try:
                    results = future.result()
                except Exception as exc:  # noqa: BLE001 - e.g. templates edited since they were checked
                    log.warning("worker_render_failed", error=f"{type(exc).__name__}: {exc}")
                    try:
                        fill_drafts(drafts, pipeline.renderer, pipeline.settings)
                    except Exception as inner:  # the batch is redone message by message
                        raise _RenderFailed(f"{type(inner).__name__}: {inner}") from inner
                    continue
                for mail, (subject, raw) in zip(drafts, results, strict=True):
                    mail.subject, mail.raw = subject, raw
            store_drafts(session, outbox.drafts)
        return outcomes

    def _process_row_optimistically(
        self,
        session: Session,
        pipeline: Pipeline,
        row: InboxMessage,
        outbox: OutboxBatch,
        parsed: ParsedMessage | None,
    ) -> Outcome:
        """Apply one message with no savepoint; any failure or rejection asks for the careful way."""
        now = (self.clock or _utcnow)()
        try:
            with session.no_autoflush:
                change = pipeline.process(session, row, now, outbox, parsed)
        except Exception as exc:  # Rejected included: it must not leave half a message behind
            if is_storage_failure(exc):
                raise  # savepoints would not help: the batch waits for the database
            raise _NeedsSavepoints(row.id) from exc
        return self._mark_done(row, change, now)

    def _render_in_worker(
        self, pipeline: Pipeline, desk: DeskIdentity, outbox: OutboxBatch, first: int
    ) -> tuple[int, int, Future]:
        assert self.workers is not None  # only called with a pool
        jobs = [MailJob.of(d) for d in outbox.drafts[first:]]
        return first, outbox.mark(), self.workers.render(pipeline.renderer, desk, jobs)

    def _process_row(
        self,
        session: Session,
        pipeline: Pipeline,
        row: InboxMessage,
        outbox: OutboxBatch,
        *,
        render: bool,
        parsed: ParsedMessage | None = None,
    ) -> Outcome:
        now = (self.clock or _utcnow)()
        mark = outbox.mark()
        try:
            # Each savepoint flushes once at its end (batched INSERTs); reads inside one message
            # never depend on that message's own unflushed rows, so autoflush would only add cost.
            with session.begin_nested(), session.no_autoflush:
                change = pipeline.process(session, row, now, outbox, parsed)
                if render:  # here a template failure rolls this message back and quarantines it
                    fill_drafts(outbox.drafts[mark:], pipeline.renderer, pipeline.settings)
        except Rejected as exc:
            outbox.rollback_to(mark)
            for address, until, why in exc.suppressions:
                suppress_address(session, address, until, why)
            return self._quarantine(session, row, str(exc), QuarantineStatus.REJECTED, now)
        except Exception as exc:  # anything unprocessable goes to quarantine, with why
            if is_storage_failure(exc):
                raise  # the database failing is not the message's fault: the whole batch waits and is redone
            outbox.rollback_to(mark)
            log.exception("message_quarantined", inbox=row.id, message_key=row.message_key)
            return self._quarantine(
                session, row, f"{type(exc).__name__}: {exc}"[:2000], QuarantineStatus.HELD, now
            )
        return self._mark_done(row, change, now)

    @staticmethod
    def _mark_done(row: InboxMessage, change: TicketChange | None, now: datetime) -> Outcome:
        row.state, row.processed_at = InboxState.DONE, now
        if change is not None:  # None: applied before, and the row already names its ticket
            row.ticket = change.ticket.number
        log.info("message_processed", inbox=row.id, ticket=row.ticket)
        return Outcome(row.id, InboxState.DONE, row.ticket)

    @staticmethod
    def _quarantine(session: Session, row: InboxMessage, reason: str, status: str, now: datetime) -> Outcome:
        quarantine.hold(session, row, reason, status, now)
        log.warning(
            "message_quarantined" if status == QuarantineStatus.HELD else "message_rejected",
            inbox=row.id,
            reason=reason,
        )
        return Outcome(row.id, row.state, None, reason)
