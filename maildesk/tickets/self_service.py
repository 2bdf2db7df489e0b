"""The self-service address (``[kb] self_service``): articles back and no ticket; a reply opens one.

A question sent there (and to no other desk address) gets the matching
published articles by mail and opens no ticket: reports count it as
self-care (``self_service_mails``, see :func:`maildesk.tickets.figures.note_self_service`).
The row keeps the question, the articles sent and the Message-ID of the
answer, so a reply to the answer (found by its In-Reply-To/References)
opens a ticket at the first level whose text carries the question and the
articles already tried; the row then names that ticket and no longer counts
as self-care. A reply with ``[solved]`` (or ``[close]``) opens nothing.
Robots never get an answer (they take the ordinary path, section 5).
"""

from __future__ import annotations

from sqlalchemy import select, update

from maildesk.config import Settings
from maildesk.storage.models import SelfCareMail, Ticket
from maildesk.tickets.commands import parse_commands
from maildesk.tickets.store import TicketStore
from maildesk.types import ParsedMessage, RawMessage, TicketKeys

QUESTION_MAX = 20_000  # characters of the question kept for the ticket a reply may open
_SOLVED = frozenset({"solved", "close"})
_REQUESTER_KB = frozenset({"kb"})  # a requester's [kb=SLUG]: send me that article (SPEC section 11)


def is_addressed(settings: Settings, parsed: ParsedMessage, raw: RawMessage, keys: TicketKeys) -> bool:
    """Sent to the self-service address and to no other desk address (that one opens a ticket)."""
    address = settings.kb.self_service
    if not address or keys.desk_recipients:
        return False
    return address in {*(a.lower() for a in raw.rcpt_tos), *parsed.to, *parsed.cc}


def answer_replied_to(store: TicketStore, parsed: ParsedMessage) -> SelfCareMail | None:
    """The self-service answer this message replies to, if it does."""
    ids = [mid for mid in dict.fromkeys([*parsed.in_reply_to, *reversed(parsed.references)]) if mid][:50]
    if not ids:
        return None
    query = select(SelfCareMail).where(SelfCareMail.answer_id.in_(ids)).order_by(SelfCareMail.id.desc())
    return store.session.scalars(query.limit(1)).first()


def already_answered(store: TicketStore, parsed: ParsedMessage) -> bool:
    """The same question delivered twice (a redelivery, an SMTP retry) gets one answer."""
    query = select(SelfCareMail.id).where(SelfCareMail.question_id == parsed.message_id).limit(1)
    return store.session.scalar(query) is not None


def says_solved(parsed: ParsedMessage, settings: Settings) -> bool:
    commands, _unknown = parse_commands(parsed.subject, settings.desk.tag, "", _SOLVED)
    return any(c.value is None for c in commands)


def question_text(parsed: ParsedMessage) -> str:
    return f"{parsed.subject}\n{parsed.reply_text or parsed.text}"


def context_text(reply_text: str, answer: SelfCareMail) -> str:
    """The opening text of a ticket a reply to a self-service answer opens: the reply, then the context."""
    articles = ", ".join(answer.articles or []) or "none"
    return (
        f"{reply_text.rstrip()}\n\n"
        f"-- Asked at the self-service address on {answer.at:%Y-%m-%d %H:%M} UTC:\n"
        f"{answer.subject or ''}\n{(answer.question or '').strip()}\n\n"
        f"-- Articles already sent: {articles}\n"
    )


def link_ticket(store: TicketStore, answer: SelfCareMail, number: int) -> None:
    """The answer did not settle it: a ticket took over (and the mail is no longer self-care)."""
    store.session.execute(update(SelfCareMail).where(SelfCareMail.id == answer.id).values(ticket=number))


def requested_article(parsed: ParsedMessage, ticket: Ticket, settings: Settings) -> str | None:
    """The SLUG of a requester's ``[kb=SLUG]``: send me that article (a suggestion of the acknowledgement).

    No check of the signed address as for ``[close]``: it changes nothing on the
    ticket, and the article, published, goes to the ticket's requester only.
    """
    commands, _unknown = parse_commands(parsed.subject, settings.desk.tag, ticket.subject, _REQUESTER_KB)
    return next((c.value for c in commands if c.value), None)
