"""What every way of applying a message shares: its context, the message on the ticket's history, the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from maildesk.config import Settings
from maildesk.message.notes import said_on_ticket
from maildesk.storage.models import Ticket
from maildesk.tickets.store import TicketStore
from maildesk.types import ParsedMessage, TicketChange


@dataclass(frozen=True)
class ApplyContext:
    settings: Settings
    now: datetime
    inbox_id: int


def change_of(ticket: Ticket, parsed: ParsedMessage, text: str, **facts: Any) -> TicketChange:
    """The change the message made, as ``notify.plan`` reads it."""
    return TicketChange(
        ticket=TicketStore.view(ticket),
        message_id=parsed.message_id,
        references=parsed.references,
        author=parsed.from_addr,
        author_name=parsed.from_name,
        text=text,
        **facts,
    )


def record_message(
    store: TicketStore,
    ticket: Ticket,
    parsed: ParsedMessage,
    ctx: ApplyContext,
    type_: str,
    text: str,
    data: dict | None = None,
) -> dict:
    """The message as an event of the ticket, with its attachments; its Message-ID joins the thread."""
    data = {**(data or {}), **said_on_ticket(parsed)} or None  # what parsing left out or mended
    event = store.add_event(
        ticket,
        type_,
        ctx.now,
        from_addr=parsed.from_addr or None,
        message_id=parsed.message_id,
        inbox_id=ctx.inbox_id,
        text=text,
        data=data,
    )
    store.add_attachments(ticket, event, parsed.attachments)
    store.record_thread(parsed.message_id, ticket.number)
    return event
