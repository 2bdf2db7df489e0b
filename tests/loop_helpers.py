"""Helpers for the loop, robot, bounce and storm tests: a desk's App driven in-process, and its outbox."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from maildesk.runtime.app import App
from maildesk.runtime.processor import Outcome
from maildesk.storage.models import Event, Outbox, Quarantine, Ticket
from maildesk.types import RawMessage


def deliver(
    app: App,
    data: bytes,
    mail_from: str | None = "user@client.com",
    rcpt_tos: tuple[str, ...] = ("support@example.org",),
) -> Outcome:
    """Store one message as the SMTP intake would and process it; returns the outcome."""
    app.inbox.accept(
        RawMessage(
            data=data, mail_from=mail_from, rcpt_tos=rcpt_tos, source="smtp", received_at=datetime.now(UTC)
        )
    )
    outcomes = app.processor.process_pending()
    assert len(outcomes) == 1
    return outcomes[0]


def outbox(app: App, to: str | None = None, template: str | None = None) -> list[Outbox]:
    with app.db.session() as session:
        query = select(Outbox).order_by(Outbox.id)
        if to is not None:
            query = query.where(Outbox.to_addr == to)
        if template is not None:
            query = query.where(Outbox.template == template)
        return list(session.scalars(query))


def events(app: App, number: int) -> list[Event]:
    with app.db.session() as session:
        return list(session.scalars(select(Event).where(Event.ticket == number).order_by(Event.id)))


def ticket(app: App, number: int) -> Ticket:
    with app.db.session() as session:
        found = session.get(Ticket, number)
        assert found is not None
        return found


def quarantine(app: App) -> list[Quarantine]:
    with app.db.session() as session:
        return list(session.scalars(select(Quarantine).order_by(Quarantine.id)))
