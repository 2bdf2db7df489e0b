"""The one place that sequences the stages for a stored message.

parse → detect automation → correlate → rules → apply → plan → draft,
all inside the transaction that marks the inbox row done, so a message is
either fully applied (ticket, events, queued mail) or not at all. How
batches of messages go through it (savepoints, worker processes,
quarantine) is ``runtime.processor``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from maildesk.config import Settings
from maildesk.message.loops import detect_automation
from maildesk.message.parse import parse_message
from maildesk.notify.drafts import draft, queue_mail
from maildesk.notify.plan import base_context
from maildesk.notify.render import Renderer
from maildesk.rules import RuleSet, evaluate
from maildesk.security.bounces import find_bounce_addresses, find_sent_mail, judge_report
from maildesk.storage.inbox import raw_message
from maildesk.storage.models import InboxMessage, SelfCareMail
from maildesk.storage.outbox import OutboxBatch, suppress_address
from maildesk.teams.catalogue import recognise_application
from maildesk.tickets import apply, self_service
from maildesk.tickets.correlate import correlate
from maildesk.tickets.figures import note_self_service
from maildesk.tickets.store import TicketStore
from maildesk.types import Automation, Notification, ParsedMessage, RawMessage, TicketChange, TicketKeys, Via

log = structlog.get_logger("maildesk.pipeline")


class Rejected(Exception):
    """A message kept in quarantine on purpose (a drop rule, an orphan bounce).

    ``suppressions`` are bounce suppressions to record all the same: the
    message's own changes are rolled back, but an address that bounced for
    good must stop getting automatic mail even if the report matched no ticket.
    """

    def __init__(self, reason: str, suppressions: tuple[tuple[str, datetime, str], ...] = ()) -> None:
        super().__init__(reason)
        self.suppressions = suppressions


@dataclass(frozen=True)
class Pipeline:
    """Everything one message needs; a reload builds a new Pipeline and swaps it in."""

    settings: Settings
    ruleset: RuleSet
    renderer: Renderer
    secret: bytes

    def process(
        self,
        session: Session,
        row: InboxMessage,
        now: datetime,
        outbox: OutboxBatch,
        parsed: ParsedMessage | None = None,
    ) -> TicketChange | None:
        """Apply one stored message and draft its mail into ``outbox``; raises Rejected or any error.

        ``parsed`` is the message as a worker process already parsed it, if one did.
        None: the message was applied before, and ``row`` now names its ticket.
        """
        settings = self.settings
        if parsed is None:
            parsed = parse_message(row.raw)
        # The stages after parsing read only the envelope: the bytes, loaded only when parsed here, stay out.
        raw = raw_message(row, with_bytes=False)
        store = TicketStore(session)
        automation = detect_automation(
            parsed,
            raw,
            settings.desk_addresses,
            sent_to_bounce_address=bool(find_bounce_addresses(parsed, raw, settings.desk_addresses)),
        )
        keys = correlate(
            parsed,
            raw,
            tag=settings.desk.tag,
            desk_addresses=settings.desk_addresses,
            secret=self.secret,
            lookup=store,
        )
        if automation is Automation.BOUNCE_ADDRESS and keys.ticket is None:
            keys = self._keys_from_bounce_address(store, parsed, raw, keys)
        change = self._apply(store, row, raw, parsed, keys, automation, now, outbox)  # rules, then the ticket
        if change is not None:
            queue_mail(store, change, settings=settings, secret=self.secret, now=now, batch=outbox)
        store.flush()
        return change

    def _apply(
        self,
        store: TicketStore,
        row: InboxMessage,
        raw: RawMessage,
        parsed: ParsedMessage,
        keys: TicketKeys,
        automation: Automation | None,
        now: datetime,
        outbox: OutboxBatch,
    ) -> TicketChange | None:
        """Note a bounce, follow up the ticket found, answer at the self-service address, or open a ticket.

        None if the message was applied before, or answered from the knowledge base with no ticket.
        """
        ctx = apply.ApplyContext(settings=self.settings, now=now, inbox_id=row.id)
        if automation is Automation.DELIVERY_REPORT:
            return self._bounce(store, parsed, raw, ctx)
        if keys.ticket is not None:
            return self._follow_up(store, row, raw, parsed, keys, automation, ctx)
        applied = store.find_ticket_by_message_ids([parsed.message_id])
        if applied is not None and store.has_event_for_message(applied, parsed.message_id):
            # Already on a ticket (a replayed quarantine entry, a re-queued row): no second ticket nor ack.
            log.info("message_already_applied", message_id=parsed.message_id, inbox=row.id, ticket=applied)
            row.ticket = applied
            return None
        if automation is None and self.settings.kb.self_service:
            answer = self_service.answer_replied_to(store, parsed)
            if answer is not None:
                return self._after_self_service(store, parsed, raw, keys, ctx, answer)
            if self_service.is_addressed(self.settings, parsed, raw, keys) and self._answer_from_kb(
                store, parsed, raw, ctx, outbox
            ):
                return None
        return self._open(store, parsed, raw, keys, automation, ctx)

    def _follow_up(
        self,
        store: TicketStore,
        row: InboxMessage,
        raw: RawMessage,
        parsed: ParsedMessage,
        keys: TicketKeys,
        automation: Automation | None,
        ctx: apply.ApplyContext,
    ) -> TicketChange | None:
        settings = self.settings
        bound = log.bind(message_id=parsed.message_id, inbox=row.id)
        assert keys.ticket is not None  # the caller decided it is a follow-up
        ticket = store.get_ticket(keys.ticket)
        if store.has_event_for_message(ticket.number, parsed.message_id):
            bound.info("message_already_applied", ticket=ticket.number)
            row.ticket = ticket.number
            return None
        if (
            apply.is_closed_too_long(ticket, settings, ctx.now)
            and automation is None
            and apply.speaks_on(ticket, parsed.from_addr)
            and parsed.from_addr not in settings.technicians
        ):
            return self._open(store, parsed, raw, keys, automation, ctx, linked_to=ticket.number)
        change = apply.add_follow_up(store, ticket, parsed, keys, automation, ctx)
        bound.info(
            "follow_up_added",
            ticket=ticket.number,
            via=str(keys.via),
            automatic=str(automation) if automation else None,
        )
        return change

    def _answer_from_kb(
        self,
        store: TicketStore,
        parsed: ParsedMessage,
        raw: RawMessage,
        ctx: apply.ApplyContext,
        outbox: OutboxBatch,
    ) -> bool:
        """The self-service answer: matching published articles by mail, no ticket (False: none match)."""
        settings = self.settings
        if self_service.already_answered(store, parsed):
            log.info("self_service_already_answered", message_id=parsed.message_id)
            return True
        decision = evaluate(parsed, raw.rcpt_tos, self.ruleset, default_level=settings.levels[0].id)
        language = decision.language or settings.desk.language
        question = self_service.question_text(parsed)
        articles = store.suggest_articles(question, settings.kb.suggest or 3, language)
        if not articles:
            return False  # nothing to send back: a person answers instead (a ticket)
        context = base_context(settings, None)
        context["message"] = {
            "from_addr": parsed.from_addr,
            "from_name": parsed.from_name,
            "text": parsed.reply_text or parsed.text,
            "subject": parsed.subject,
        }
        context["articles"] = [
            {"slug": a.slug, "title": a.title, "excerpt": a.excerpt, "body": a.body} for a in articles
        ]
        notification = Notification(
            template="self_service",
            to=parsed.from_addr,
            ticket=None,
            language=language,
            context=context,
            in_reply_to=parsed.message_id,
            references=(*parsed.references, parsed.message_id),
            reply_to=settings.kb.self_service,
            automatic=True,
        )
        mail = draft(store.session, notification, settings=settings, now=ctx.now, batch=outbox)
        note_self_service(
            store.session.connection(),
            ctx.now,
            parsed.from_addr,
            settings.organisation_for(parsed.from_addr),
            question_id=parsed.message_id,
            answer_id=mail.message_id or None,
            language=language,
            subject=parsed.subject[:1000],
            question=(parsed.reply_text or parsed.text)[: self_service.QUESTION_MAX],
            articles=[a.slug for a in articles],
        )
        log.info("self_service_answered", message_id=parsed.message_id, articles=[a.slug for a in articles])
        return True

    def _after_self_service(
        self,
        store: TicketStore,
        parsed: ParsedMessage,
        raw: RawMessage,
        keys: TicketKeys,
        ctx: apply.ApplyContext,
        answer: SelfCareMail,
    ) -> TicketChange | None:
        """A reply to a self-service answer: ``[solved]`` ends it; else it opens a ticket with the context.

        Later replies to the same answer follow that ticket: the answer's Message-ID is threaded to it.
        """
        if self_service.says_solved(parsed, self.settings):
            log.info("self_service_solved", message_id=parsed.message_id)
            return None
        first = self.settings.levels[0].id
        decision = evaluate(parsed, raw.rcpt_tos, self.ruleset, default_level=first)
        decision = replace(decision, level=first, team=None, answer=None, drop=False)
        text = self_service.context_text(parsed.reply_text or parsed.text, answer)
        opening = replace(parsed, subject=answer.subject or parsed.subject, text=text, reply_text=text)
        change = apply.open_ticket(store, opening, keys, decision, None, ctx, suggest=False)
        self_service.link_ticket(store, answer, change.ticket.number)
        if answer.answer_id:
            store.record_thread(answer.answer_id, change.ticket.number)
        log.info(
            "ticket_created", ticket=change.ticket.number, message_id=parsed.message_id, self_service=True
        )
        return change

    def _open(
        self,
        store: TicketStore,
        parsed: ParsedMessage,
        raw: RawMessage,
        keys: TicketKeys,
        automation: Automation | None,
        ctx: apply.ApplyContext,
        linked_to: int | None = None,
    ) -> TicketChange:
        default_level = apply.default_level(keys, self.settings)
        decision = evaluate(parsed, raw.rcpt_tos, self.ruleset, default_level=default_level)
        decision = recognise_application(decision, parsed, self.settings.catalogue)
        if decision.drop and automation is None:
            raise Rejected(f"dropped by rule {decision.matched[-1] if decision.matched else '?'}")
        change = apply.open_ticket(store, parsed, keys, decision, automation, ctx, linked_to=linked_to)
        log.info(
            "ticket_created",
            ticket=change.ticket.number,
            message_id=parsed.message_id,
            level=change.ticket.level,
            team=change.ticket.team,
            application=change.ticket.application,
            matched=list(decision.matched),
            automatic=str(automation) if automation else None,
        )
        return change

    def _keys_from_bounce_address(
        self, store: TicketStore, parsed: ParsedMessage, raw: RawMessage, keys: TicketKeys
    ) -> TicketKeys:
        """A robot's answer to the envelope sender of a desk mail joins that mail's ticket."""
        addresses = find_bounce_addresses(parsed, raw, self.settings.desk_addresses)
        mail, _refusal = find_sent_mail(addresses, self.secret, store)
        if mail is None or mail.ticket is None or not store.ticket_exists(mail.ticket):
            return keys
        return TicketKeys(mail.ticket, Via.BOUNCE_ADDRESS, keys.signed, keys.desk_recipients)

    def _bounce(
        self, store: TicketStore, parsed: ParsedMessage, raw: RawMessage, ctx: apply.ApplyContext
    ) -> TicketChange:
        """A delivery report counts only for a mail the desk really sent (see ``security.bounces``)."""
        report = parsed.delivery_report
        assert report is not None
        addresses = find_bounce_addresses(parsed, raw, self.settings.desk_addresses)
        verdict = judge_report(report, addresses, self.secret, store)
        mail = verdict.mail
        if mail is None:
            log.warning("bounce_refused", message_id=parsed.message_id, reason=verdict.refusal)
            raise Rejected(f"delivery report that {verdict.refusal}; it silences nobody")
        suppressions: tuple[tuple[str, datetime, str], ...] = ()
        if report.permanent:
            until = ctx.now + self.settings.security.bounce_suppress
            why = (report.diagnostic or "permanent delivery failure")[:500]
            suppressions = ((mail.to_addr, until, why),)
            suppress_address(store.session, mail.to_addr, until, why)
        if mail.ticket is None or not store.ticket_exists(mail.ticket):
            raise Rejected(
                f"delivery report for outbox mail {mail.outbox_id} to {mail.to_addr}, about no ticket",
                suppressions,
            )
        ticket = store.get_ticket(mail.ticket)
        change = apply.note_bounce(store, ticket, parsed, ctx, failed=mail.to_addr, via=verdict.via)
        log.info(
            "bounce_noted",
            ticket=mail.ticket,
            failed=mail.to_addr,
            permanent=report.permanent,
            outbox=mail.outbox_id,
            via=verdict.via,
        )
        return change
