"""Ticket storage inside one transaction: lookups, events, thread ids, views."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from maildesk.config import format_duration
from maildesk.models import AttachmentRow, Event, KbArticle, ThreadMessage, Ticket
from maildesk.types import Article, Attachment, TicketView

MAX_EVENT_TEXT = 200_000


class TicketStore:
    """The pipeline's window on the database, bound to the current transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._threaded: set[str] = set()
        self.is_postgres = session.get_bind().dialect.name == "postgresql"

    # -- lookups used by correlation --------------------------------------

    def ticket_exists(self, number: int) -> bool:
        return self.session.get(Ticket, number) is not None

    def find_ticket_by_message_ids(self, message_ids: Iterable[str]) -> int | None:
        ids = [mid for mid in dict.fromkeys(message_ids) if mid][:50]
        if not ids:
            return None
        found = dict(self.session.execute(
            select(ThreadMessage.message_id, ThreadMessage.ticket).where(ThreadMessage.message_id.in_(ids))
        ).all())
        return next((found[mid] for mid in ids if mid in found), None)

    # -- tickets -------------------------------------------------------------

    def get_ticket(self, number: int, *, lock: bool = True) -> Ticket:
        """The ticket row, locked for update on PostgreSQL so two daemons serialise on it."""
        query = select(Ticket).where(Ticket.number == number)
        if lock and self.is_postgres:
            query = query.with_for_update()
        ticket = self.session.scalars(query).one_or_none()
        if ticket is None:
            raise LookupError(f"ticket {number} does not exist")
        return ticket

    def add_ticket(self, ticket: Ticket) -> Ticket:
        self.session.add(ticket)
        self.session.flush()  # assigns the number from the sequence / autoincrement
        return ticket

    def add_event(self, ticket: Ticket, type_: str, at: datetime, *, from_addr: str | None = None,
                  message_id: str | None = None, inbox_id: int | None = None, text: str | None = None,
                  data: dict | None = None) -> Event:
        event = Event(ticket=ticket.number, type=type_, at=at, from_addr=from_addr, message_id=message_id,
                      inbox_id=inbox_id, text=(text or "")[:MAX_EVENT_TEXT] if text is not None else None,
                      data=data or {})
        self.session.add(event)
        ticket.updated_at = at
        return event

    def add_attachments(self, ticket: Ticket, event: Event, attachments: Iterable[Attachment]) -> None:
        attachments = list(attachments)
        if not attachments:
            return
        self.session.flush()  # the event needs its id
        for item in attachments:
            self.session.add(AttachmentRow(ticket=ticket.number, event_id=event.id, filename=item.filename,
                                           content_type=item.content_type, size=item.size, data=item.data))

    def record_thread(self, message_id: str, ticket_number: int) -> None:
        """Remember that ``message_id`` belongs to the ticket (first writer wins)."""
        if not message_id or message_id in self._threaded:
            return
        self._threaded.add(message_id)
        # Earlier messages of a batch were flushed when their savepoint closed; no need to flush now.
        with self.session.no_autoflush:
            if self.session.get(ThreadMessage, message_id) is not None:
                return
        self.session.add(ThreadMessage(message_id=message_id, ticket=ticket_number))

    def has_event_for_message(self, number: int, message_id: str) -> bool:
        return self.session.scalar(
            select(func.count()).select_from(Event).where(Event.ticket == number, Event.message_id == message_id)
        ) > 0

    # -- knowledge base --------------------------------------------------------

    def find_article(self, slug: str) -> Article | None:
        row = self.session.scalar(select(KbArticle).where(KbArticle.slug == slug))
        if row is None:
            return None
        row.uses += 1
        return Article(slug=row.slug, title=row.title, body=row.body, excerpt=_excerpt(row.body))

    def suggest_articles(self, text: str, limit: int) -> tuple[Article, ...]:
        """Articles whose title shares significant words with ``text``, best first."""
        if limit <= 0:
            return ()
        words = _keywords(text)[:6]
        if not words:
            return ()
        candidates = self.session.scalars(
            select(KbArticle).where(or_(*(func.lower(KbArticle.title).contains(w, autoescape=True) for w in words)))
            .limit(50)
        ).all()
        scored = sorted(candidates, key=lambda a: (-sum(w in a.title.lower() for w in words), -a.uses, a.id))
        return tuple(Article(slug=a.slug, title=a.title, body=a.body, excerpt=_excerpt(a.body)) for a in scored[:limit])

    # -- views -----------------------------------------------------------------

    @staticmethod
    def view(ticket: Ticket) -> TicketView:
        return TicketView(
            number=ticket.number, subject=ticket.subject, status=ticket.status, level=ticket.level,
            urgency=ticket.urgency, category=ticket.category, kind=ticket.kind, application=ticket.application,
            requester=ticket.requester, requester_name=ticket.requester_name or "", assignee=ticket.assignee,
            language=ticket.language, created_at=ticket.created_at, closed_at=ticket.closed_at,
            time_spent=format_duration(ticket.time_spent_s or 0), root_message_id=ticket.root_message_id,
        )


_STOPWORDS = frozenset("""the and for with from that this have not are was but you your our can cannot
please help hello bonjour merci pour avec dans une des les est pas sur vous nous mon mes""".split())


def _keywords(text: str) -> list[str]:
    import re

    words = [w.lower() for w in re.findall(r"\w{4,}", text)]
    return [w for w in dict.fromkeys(words) if w not in _STOPWORDS and not w.isdigit()]


def _excerpt(body: str, length: int = 200) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= length else flat[: length - 1].rsplit(" ", 1)[0] + "…"
