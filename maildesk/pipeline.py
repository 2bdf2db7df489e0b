"""The one place that sequences the stages for a stored message.

parse → detect automation → correlate → rules → apply → plan → outbox,
all inside the transaction that marks the inbox row done, so a message is
either fully applied (ticket, events, queued mail) or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk import apply
from maildesk.config import Settings
from maildesk.correlate import correlate
from maildesk.db import Database
from maildesk.loops import detect_automation
from maildesk.models import InboxMessage, Quarantine
from maildesk.notify.plan import plan
from maildesk.notify.render import Renderer
from maildesk.outbox import queue, suppress_address
from maildesk.parse import parse_message
from maildesk.rules import RuleSet, evaluate
from maildesk.store import TicketStore
from maildesk.types import Automation, RawMessage, TicketChange

log = structlog.get_logger("maildesk.pipeline")


class Rejected(Exception):
    """A message kept in quarantine on purpose (a drop rule, an orphan bounce)."""


@dataclass(frozen=True)
class Outcome:
    inbox_id: int
    state: str  # done | quarantined | rejected
    ticket: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Pipeline:
    """Everything one message needs; a reload builds a new Pipeline and swaps it in."""

    settings: Settings
    ruleset: RuleSet
    renderer: Renderer
    secret: bytes

    def process(self, session: Session, row: InboxMessage, now: datetime) -> TicketChange | None:
        """Apply one stored message; raises Rejected or any error (the caller quarantines)."""
        settings = self.settings
        raw = RawMessage(data=row.raw, mail_from=row.mail_from, rcpt_tos=tuple(row.rcpt_tos or ()),
                         source=row.source, received_at=row.received_at)
        parsed = parse_message(raw.data)
        bound = log.bind(message_id=parsed.message_id, inbox=row.id)
        store = TicketStore(session)
        automation = detect_automation(parsed, raw, settings.desk_addresses)
        keys = correlate(parsed, raw, tag=settings.desk.tag, desk_addresses=settings.desk_addresses,
                         secret=self.secret, lookup=store)
        ctx = apply.ApplyContext(settings=settings, now=now, inbox_id=row.id)

        if automation is Automation.DELIVERY_REPORT:
            change = self._bounce(store, parsed, keys.ticket, ctx)
        elif keys.ticket is not None:
            ticket = store.get_ticket(keys.ticket)
            if store.has_event_for_message(ticket.number, parsed.message_id):
                bound.info("message_already_applied", ticket=ticket.number)
                row.ticket = ticket.number
                return None
            if apply.is_closed_too_long(ticket, settings, now) and automation is None \
                    and parsed.from_addr not in settings.technicians:
                change = self._open(store, parsed, raw, keys, automation, ctx, linked_to=ticket.number)
            else:
                change = apply.add_follow_up(store, ticket, parsed, keys, automation, ctx)
                bound.info("follow_up_added", ticket=ticket.number, via=str(keys.via),
                           automatic=str(automation) if automation else None)
        elif (applied := store.find_ticket_by_message_ids([parsed.message_id])) is not None \
                and store.has_event_for_message(applied, parsed.message_id):
            # Already on a ticket (a replayed quarantine entry, a re-queued row): a second ticket and ack never.
            bound.info("message_already_applied", ticket=applied)
            row.ticket = applied
            return None
        else:
            change = self._open(store, parsed, raw, keys, automation, ctx)

        for notification in plan(change, settings, self.secret):
            outbox = queue(session, notification, renderer=self.renderer, settings=settings, now=now)
            store.record_sent(outbox.message_id, change.ticket.number)
        return change

    def _open(self, store: TicketStore, parsed, raw: RawMessage, keys, automation, ctx,
              linked_to: int | None = None) -> TicketChange:
        default_level = apply.default_level(keys, self.settings)
        decision = evaluate(parsed, raw.rcpt_tos, self.ruleset, default_level=default_level)
        if decision.drop and automation is None:
            raise Rejected(f"dropped by rule {decision.matched[-1] if decision.matched else '?'}")
        change = apply.open_ticket(store, parsed, keys, decision, automation, ctx, linked_to=linked_to)
        log.info("ticket_created", ticket=change.ticket.number, message_id=parsed.message_id,
                 level=change.ticket.level, matched=list(decision.matched),
                 automatic=str(automation) if automation else None)
        return change

    def _bounce(self, store: TicketStore, parsed, ticket_number: int | None, ctx) -> TicketChange:
        report = parsed.delivery_report
        if report.permanent:
            until = ctx.now + self.settings.security.bounce_suppress
            for address in report.failed:
                suppress_address(store.session, address, until, (report.diagnostic or "permanent delivery failure")[:500])
        if ticket_number is None:
            raise Rejected("delivery report that belongs to no ticket"
                           + (f" (failed: {', '.join(report.failed)})" if report.failed else ""))
        ticket = store.get_ticket(ticket_number)
        change = apply.note_bounce(store, ticket, parsed, ctx)
        log.info("bounce_noted", ticket=ticket_number, failed=list(report.failed), permanent=report.permanent)
        return change


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Processor:
    """Drains pending inbox rows through the current pipeline, one transaction each."""

    def __init__(self, db: Database, pipeline_source) -> None:
        self.db = db
        self._pipeline_source = pipeline_source  # a callable returning the Pipeline in force

    def process_pending(self, limit: int | None = None, only_ids: list[int] | None = None,
                        batch: int = 50) -> list[Outcome]:
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
        outcomes: list[Outcome] = []
        with self.db.session() as session:
            query = select(InboxMessage).where(InboxMessage.state == "pending").order_by(InboxMessage.id).limit(size)
            if only_ids is not None:
                query = query.where(InboxMessage.id.in_(only_ids))
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            for row in session.scalars(query).all():
                outcomes.append(self._process_row(session, pipeline, row))
        return outcomes

    def _process_row(self, session: Session, pipeline: Pipeline, row: InboxMessage) -> Outcome:
        now = _utcnow()
        try:
            # Each savepoint flushes once at its end (batched INSERTs); reads inside one message
            # never depend on that message's own unflushed rows, so autoflush would only add cost.
            with session.begin_nested(), session.no_autoflush:
                change = pipeline.process(session, row, now)
        except Rejected as exc:
            return self._quarantine(session, row, str(exc), "rejected", now)
        except Exception as exc:  # noqa: BLE001 - anything unprocessable goes to quarantine, with why
            log.exception("message_quarantined", inbox=row.id, message_key=row.message_key)
            return self._quarantine(session, row, f"{type(exc).__name__}: {exc}"[:2000], "held", now)
        row.state, row.processed_at = "done", now
        if change is not None:  # None: applied before, and the row already names its ticket
            row.ticket = change.ticket.number
        log.info("message_processed", inbox=row.id, ticket=row.ticket)
        return Outcome(row.id, "done", row.ticket)

    @staticmethod
    def _quarantine(session: Session, row: InboxMessage, reason: str, status: str, now: datetime) -> Outcome:
        row.state = "rejected" if status == "rejected" else "quarantined"
        row.processed_at = now
        entry = session.scalar(select(Quarantine).where(Quarantine.inbox_id == row.id))
        message_id = row.message_key if not row.message_key.startswith("<sha256-") else None
        if entry is None:
            session.add(Quarantine(inbox_id=row.id, received_at=row.received_at, message_id=message_id,
                                   mail_from=row.mail_from, reason=reason, status=status))
        else:
            entry.reason, entry.status = reason, status
        log.warning("message_quarantined" if status == "held" else "message_rejected", inbox=row.id, reason=reason)
        return Outcome(row.id, row.state, None, reason)
