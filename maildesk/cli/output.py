"""The JSON shapes of SPEC section 8, and table/CSV rendering of lists of them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from maildesk.durations import format_duration
from maildesk.storage.models import Event, KbArticle, Outbox, Quarantine, Ticket


def iso(moment: datetime | None) -> str | None:
    """UTC, ISO 8601 with Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ticket_json(ticket: Ticket, events: Sequence[Event] | None = None) -> dict:
    shape = {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "level": ticket.level,
        "urgency": ticket.urgency,
        "category": ticket.category,
        "kind": ticket.kind,
        "application": ticket.application,
        "problem": ticket.problem,
        "requester": ticket.requester,
        "assignee": ticket.assignee,
        "tags": list(ticket.tags or []),
        "created_at": iso(ticket.created_at),
        "first_response_at": iso(ticket.first_response_at),
        "closed_at": iso(ticket.closed_at),
        "time_spent": format_duration(ticket.time_spent_s or 0),
    }
    if events is not None:
        shape["events"] = [event_json(e) for e in events]
    return shape


def event_json(event: Event) -> dict:
    shape = {
        "type": event.type,
        "at": iso(event.at),
        "from": event.from_addr,
        "message_id": event.message_id,
        "text": event.text,
    }
    if event.data:
        shape["data"] = event.data
    return shape


def quarantine_json(entry: Quarantine) -> dict:
    return {
        "id": entry.id,
        "received_at": iso(entry.received_at),
        "message_id": entry.message_id,
        "mail_from": entry.mail_from,
        "reason": entry.reason,
        "status": entry.status,
    }


def outbox_json(row: Outbox) -> dict:
    return {
        "id": row.id,
        "ticket": row.ticket,
        "to": row.to_addr,
        "subject": row.subject,
        "template": row.template,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
    }


def article_json(article: KbArticle, *, body: bool = False) -> dict:
    shape = {
        "id": article.id,
        "slug": article.slug,
        "title": article.title,
        "tags": list(article.tags or []),
        "application": article.application,
        "category": article.category,
        "source_ticket": article.source_ticket,
        "uses": article.uses,
        "updated_at": iso(article.updated_at),
    }
    if body:
        shape["body"] = article.body
    return shape


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return " ".join(str(value).split())


def render_table(rows: Sequence[dict], columns: Sequence[str], *, max_width: int = 50) -> str:
    if not rows:
        return "(none)"
    cells = [[_cell(row.get(c))[:max_width] for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def render_csv(rows: Sequence[dict], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue().rstrip("\n")
