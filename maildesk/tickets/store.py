"""Ticket storage inside one transaction: lookups, events, thread ids, views."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from maildesk.durations import format_duration
from maildesk.kb.search import search
from maildesk.security.bounces import SentMail
from maildesk.states import ArticleStatus, OutboxStatus
from maildesk.storage.models import AttachmentRow, Event, KbArticle, Outbox, ThreadMessage, Ticket
from maildesk.tickets.figures import FigureRows
from maildesk.types import Article, Attachment, TicketView

MAX_EVENT_TEXT = 200_000
SUGGEST_WORDS = 12  # the first distinct words of subject then text: what a request is about

# The per-message lookups, built once: building a statement costs more than running it on an index.
_THREAD_TICKETS = select(ThreadMessage.message_id, ThreadMessage.ticket).where(
    ThreadMessage.message_id.in_(bindparam("ids", expanding=True))
)
_EVENTS_FOR_MESSAGE = (
    select(func.count())
    .select_from(Event)
    .where(Event.ticket == bindparam("ticket"), Event.message_id == bindparam("message_id"))
)
_SENT_MAIL = select(Outbox.id, Outbox.ticket, Outbox.to_addr, Outbox.message_id).where(
    Outbox.status != OutboxStatus.SUPPRESSED  # a suppressed mail never left: no report can be about it
)


class TicketStore:
    """The pipeline's window on the database, bound to the current transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._threaded: set[str] = set()
        self._events: list[dict] = []  # history rows not yet written (see flush)
        self._threads: list[dict] = []  # thread ids not yet written
        self.figures = FigureRows()  # report facts not yet written (maildesk.tickets.figures)
        self.is_postgres = session.get_bind().dialect.name == "postgresql"

    @property
    def _connection(self) -> Connection:
        """The transaction's connection, for Core statements (they skip the ORM's per-row bookkeeping)."""
        return self.session.connection()

    # -- lookups used by correlation --------------------------------------

    def ticket_exists(self, number: int) -> bool:
        return self.session.get(Ticket, number) is not None

    def find_ticket_by_message_ids(self, message_ids: Iterable[str]) -> int | None:
        ids = [mid for mid in dict.fromkeys(message_ids) if mid][:50]
        if not ids:
            return None
        found = dict(self._connection.execute(_THREAD_TICKETS, {"ids": ids}).all())
        return next((found[mid] for mid in ids if mid in found), None)

    # -- mail the desk sent, for delivery reports ------------------------------

    def find_sent_mail(self, outbox_id: int) -> SentMail | None:
        row = self._connection.execute(_SENT_MAIL.where(Outbox.id == outbox_id)).first()
        return SentMail(*row) if row is not None else None

    def find_sent_mail_by_message_id(self, message_id: str) -> SentMail | None:
        row = self._connection.execute(_SENT_MAIL.where(Outbox.message_id == message_id).limit(1)).first()
        return SentMail(*row) if row is not None else None

    def answers_template(self, message_ids: Iterable[str], template: str) -> bool:
        """Whether one of ``message_ids`` (a mail's In-Reply-To) is a mail the desk sent with ``template``."""
        ids = list(message_ids)[:20]
        if not ids:
            return False
        found = select(Outbox.id).where(Outbox.message_id.in_(ids), Outbox.template == template).limit(1)
        return self._connection.execute(found).first() is not None

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

    def add_event(
        self,
        ticket: Ticket,
        type_: str,
        at: datetime,
        *,
        from_addr: str | None = None,
        message_id: str | None = None,
        inbox_id: int | None = None,
        text: str | None = None,
        data: dict | None = None,
    ) -> dict:
        """Append an event to the ticket's history (written by :meth:`flush`); returns its row.

        History rows are never changed afterwards, so they skip the ORM and
        go out as one multi-row INSERT per message.
        """
        row = {
            "ticket": ticket.number,
            "type": type_,
            "at": at,
            "from_addr": from_addr,
            "message_id": message_id,
            "inbox_id": inbox_id,
            "text": (text or "")[:MAX_EVENT_TEXT] if text is not None else None,
            "data": data or {},
        }
        self._events.append(row)
        ticket.updated_at = at
        return row

    def add_attachments(self, ticket: Ticket, event: dict, attachments: Iterable[Attachment]) -> None:
        """Store files attached to the message of ``event`` (which is written now: they need its id)."""
        attachments = list(attachments)
        if not attachments:
            return
        position = self._events.index(event)
        self._write_events(self._events[:position])
        del self._events[: position + 1]
        inserted = self._connection.execute(insert(Event).values(**event)).inserted_primary_key
        assert inserted is not None  # an INSERT of one row has its key
        event_id = inserted[0]
        self._connection.execute(
            insert(AttachmentRow),
            [
                {
                    "ticket": ticket.number,
                    "event_id": event_id,
                    "filename": item.filename,
                    "content_type": item.content_type,
                    "size": item.size,
                    "data": item.data,
                }
                for item in attachments
            ],
        )

    def record_thread(self, message_id: str, ticket_number: int) -> None:
        """Remember that ``message_id`` (received, or minted for a mail the desk sends) belongs to the ticket.

        First writer wins; written by :meth:`flush`.
        """
        if message_id and message_id not in self._threaded:
            self._threaded.add(message_id)
            self._threads.append({"message_id": message_id, "ticket": ticket_number})

    def flush(self) -> None:
        """Write the buffered history and thread ids; the pipeline and the sweep call it before they finish."""
        self._write_events(self._events)
        self._events.clear()
        if self._threads:
            dialect_insert = postgresql_insert if self.is_postgres else sqlite_insert
            self._connection.execute(
                dialect_insert(ThreadMessage).on_conflict_do_nothing(index_elements=["message_id"]),
                self._threads,
            )
            self._threads.clear()
        self.figures.write(self._connection)

    def _write_events(self, rows: list[dict]) -> None:
        if rows:
            self._connection.execute(insert(Event), rows)

    def has_event_for_message(self, number: int, message_id: str) -> bool:
        return bool(
            self._connection.scalar(_EVENTS_FOR_MESSAGE, {"ticket": number, "message_id": message_id})
        )

    # -- knowledge base --------------------------------------------------------

    def find_article(self, slug: str) -> Article | None:
        """The published article ``slug`` (its use count grows); None for a draft, retired or unknown one."""
        row = self.session.scalar(
            select(KbArticle).where(KbArticle.slug == slug, KbArticle.status == ArticleStatus.PUBLISHED)
        )
        if row is None:
            return None
        row.uses += 1
        return Article(slug=row.slug, title=row.title, body=row.body, excerpt=_excerpt(row.body))

    def article_status(self, slug: str) -> str | None:
        """The status of article ``slug`` (draft, published, retired), None when there is none."""
        return self.session.scalar(select(KbArticle.status).where(KbArticle.slug == slug))

    def suggest_articles(self, text: str, limit: int, language: str | None = None) -> tuple[Article, ...]:
        """Published articles matching any word of ``text`` (subject and request), best first.

        In the ticket's ``language`` (or of no known language); the full-text
        index answers, so the cost does not grow with the knowledge base.
        """
        hits = search(
            self.session, text, limit=limit, every_word=False, language=language, max_words=SUGGEST_WORDS
        )
        return tuple(
            Article(slug=h.article.slug, title=h.article.title, body=h.article.body, excerpt=h.excerpt)
            for h in hits
        )

    # -- views -----------------------------------------------------------------

    @staticmethod
    def view(ticket: Ticket) -> TicketView:
        return TicketView(
            number=ticket.number,
            subject=ticket.subject,
            status=ticket.status,
            level=ticket.level,
            urgency=ticket.urgency,
            category=ticket.category,
            kind=ticket.kind,
            application=ticket.application,
            requester=ticket.requester,
            requester_name=ticket.requester_name or "",
            team=ticket.team,
            organisation=ticket.organisation,
            assignee=ticket.assignee,
            language=ticket.language,
            created_at=ticket.created_at,
            closed_at=ticket.closed_at,
            time_spent=format_duration(ticket.time_spent_s or 0),
            root_message_id=ticket.root_message_id,
        )


def _excerpt(body: str, length: int = 200) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= length else flat[: length - 1].rsplit(" ", 1)[0] + "…"
