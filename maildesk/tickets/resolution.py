"""A closed ticket's resolution into the knowledge base: the draft, who to redact, ``[publish]``.

The knowledge base (:mod:`maildesk.kb.drafts`) knows articles; this module
knows tickets: the requester's opening question, and the names and addresses
in the headers of every message on the ticket, which the draft must not show.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from sqlalchemy import func, select

from maildesk.config import Settings
from maildesk.kb.drafts import Resolution, file_draft, find_draft_for_ticket, publish_article
from maildesk.kb.redact import People, redact
from maildesk.storage.models import Event, InboxMessage, KbArticle, Ticket
from maildesk.tickets.store import TicketStore
from maildesk.types import KbDraft, ParsedMessage

HEADER_BYTES = 16_384  # names and addresses sit in the header block
MAX_MESSAGES = 200  # a long ticket's correspondents are all in its first couple of hundred messages
_PEOPLE_HEADERS = ("from", "to", "cc", "reply-to", "sender")
_ATTRIBUTION = re.compile(r"(wrote|a écrit|schrieb)\s*:\s*$", re.IGNORECASE)


def ticket_people(
    store: TicketStore, ticket: Ticket, settings: Settings, parsed: ParsedMessage | None
) -> People:
    """The requester, every correspondent of the ticket's messages, and the author of ``parsed``."""
    names: list[str] = [ticket.requester_name or ""]
    addresses: list[str] = [ticket.requester, *(ticket.participants or ())]
    heads = store.session.scalars(
        select(func.substr(InboxMessage.raw, 1, HEADER_BYTES))
        .where(
            InboxMessage.id.in_(
                select(Event.inbox_id).where(Event.ticket == ticket.number, Event.inbox_id.is_not(None))
            )
        )
        .limit(MAX_MESSAGES)
    )
    for head in heads:
        headers = BytesHeaderParser(policy=compat32).parsebytes(bytes(head or b""))
        values = [str(v) for name in _PEOPLE_HEADERS for v in headers.get_all(name, [])]
        for name, address in getaddresses(values):
            names.append(name)
            addresses.append(address.strip().lower())
    if parsed is not None:
        names.append(parsed.from_name)
        addresses += [parsed.from_addr, *parsed.to, *parsed.cc]
    desk = settings.desk_addresses
    # The desk's own name and addresses are nobody's private data; a draft may tell people to write there.
    kept = [address for address in addresses if address in desk]
    names = [name for name in names if name and name != settings.desk.name]
    people = [address for address in addresses if address and address not in desk]
    return People(names=tuple(dict.fromkeys(names)), addresses=tuple(dict.fromkeys(people)), keep=tuple(kept))


def _opening_question(store: TicketStore, ticket: Ticket) -> str:
    first = store.session.scalar(
        select(Event.text)
        .where(Event.ticket == ticket.number, Event.type == "message")
        .order_by(Event.id)
        .limit(1)
    )
    return first or ""


def file_resolution(
    store: TicketStore, ticket: Ticket, parsed: ParsedMessage, answer: str, settings: Settings, now: datetime
) -> KbDraft:
    """File the technician's ``answer`` as the ticket's draft (redacted with ``kb.redact``).

    Published at once with ``kb.review = false``; otherwise the closing
    technician is mailed the draft (``kb_draft``) to publish by reply.
    """
    store.flush()  # the opening message may be in this very transaction's buffer
    resolution = Resolution(
        number=ticket.number,
        subject=ticket.subject,
        question=_opening_question(store, ticket),
        answer=answer,
        tags=tuple(ticket.tags or ()),
        application=ticket.application,
        category=ticket.category,
        language=ticket.language or settings.desk.language,
    )
    people = ticket_people(store, ticket, settings, parsed) if settings.kb.redact else None
    article = file_draft(store.session, resolution, people, now, publish=not settings.kb.review)
    updates = store.session.get(KbArticle, article.updates) if article.updates else None
    return KbDraft(
        slug=article.slug,
        title=article.title,
        body=article.body,
        status=article.status,
        updates_slug=updates.slug if updates is not None else None,
        updates_title=updates.title if updates is not None else None,
    )


def publish_ticket_draft(
    store: TicketStore, ticket: Ticket, text: str, settings: Settings, now: datetime
) -> KbArticle | None:
    """``[publish]``: the draft goes live (``text``, redacted, replaces its body); None without one."""
    draft = find_draft_for_ticket(store.session, ticket.number)
    if draft is None:
        return None
    text = own_text(text)
    if text.strip() and settings.kb.redact:
        text = redact(text, ticket_people(store, ticket, settings, None))
    return publish_article(store.session, draft, now, text or None)


def own_text(text: str) -> str:
    """What the technician wrote in a reply, without the quoted mail (and its "... wrote:" line).

    The reply parser leaves a reply that is all quote as it is; a ``[publish]``
    reply that only quotes the draft means "publish it as it stands".
    """
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    while lines and (not lines[-1].strip() or _ATTRIBUTION.search(lines[-1])):
        lines.pop()
    return "\n".join(lines).strip()
