"""``maildesk tickets list`` and ``tickets show``, and the ticket and event JSON shapes (SPEC section 8)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from maildesk.cli.common import MAX_ID, count, level_id, open_database
from maildesk.cli.output import dumps, iso, print_rows
from maildesk.durations import format_duration
from maildesk.errors import ExitCode, NotFound, UsageError
from maildesk.states import TicketStatus

if TYPE_CHECKING:
    from maildesk.config import Settings
    from maildesk.storage.models import Event, Ticket
    from maildesk.tickets.queries import TicketHistory

TICKET_COLUMNS = (
    "number",
    "status",
    "level",
    "team",
    "urgency",
    "category",
    "application",
    "requester",
    "organisation",
    "assignee",
    "subject",
)
SHOWN_FIELDS = (
    "status",
    "level",
    "team",
    "urgency",
    "category",
    "kind",
    "application",
    "problem",
    "requester",
    "organisation",
    "assignee",
    "tags",
    "created_at",
    "first_response_at",
    "closed_at",
    "time_spent",
)


def ticket_json(
    ticket: Ticket, events: Sequence[Event] | None = None, settings: Settings | None = None
) -> dict:
    """SPEC section 8; with ``settings``, a ticket stored without a team shows its level's first team."""
    team = ticket.team
    if team is None and settings is not None:
        found = settings.ticket_team(None, ticket.level)
        team = found.name if found is not None else None
    shape: dict[str, object] = {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "level": ticket.level,
        "team": team,
        "urgency": ticket.urgency,
        "category": ticket.category,
        "kind": ticket.kind,
        "application": ticket.application,
        "problem": ticket.problem,
        "requester": ticket.requester,
        "organisation": ticket.organisation,
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
        shape["data"] = event.data  # type: ignore[assignment]  # the one nested value of the shape
    return shape


def cmd_tickets_list(args: argparse.Namespace) -> int:
    from maildesk.tickets.queries import TicketFilter, list_tickets

    settings, db = open_database(args)
    team = None
    if args.team is not None:
        team = settings.team(args.team)
        if team is None:
            known = ", ".join(t.name for t in settings.teams)
            raise UsageError(f"--team {args.team!r}: no such team (teams: {known})")
    wanted = TicketFilter(
        status=args.status,
        level=args.level,
        urgency=args.urgency,
        category=args.category,
        application=args.application,
        requester=args.requester,
        assignee=args.assignee,
        team=team.name if team is not None else None,
        team_default_of_level=team.level
        if team is not None and settings.ticket_team(None, team.level) == team
        else None,
        limit=args.limit,
    )
    rows = [ticket_json(t, settings=settings) for t in list_tickets(db, wanted)]
    print_rows(rows, TICKET_COLUMNS, args.format)
    return ExitCode.OK


def cmd_tickets_show(args: argparse.Namespace) -> int:
    from maildesk.tickets.queries import ticket_history

    if not 0 < args.number <= MAX_ID:
        raise NotFound(f"ticket {args.number}: no such ticket")
    settings, db = open_database(args)
    history = ticket_history(db, args.number)
    if history is None:
        raise NotFound(f"ticket {args.number}: no such ticket")
    shape = ticket_json(history.ticket, history.events, settings=settings)
    if args.format == "json":
        print(dumps(shape))
    else:
        _print_ticket(shape, history)
    return ExitCode.OK


def _print_ticket(shape: dict, history: TicketHistory) -> None:
    print(f"#{shape['number']}  {shape['subject']}")
    for key in SHOWN_FIELDS:
        value = shape[key]
        shown = ", ".join(value) if isinstance(value, list) else ("" if value is None else value)
        print(f"  {key + ':':19}{shown}")
    if history.attachments:
        print("  attachments:")
        for item in history.attachments:
            print(f"    {item.filename} ({item.content_type}, {item.size} bytes)")
    print()
    for event in shape["events"]:
        who = f" {event['from']}" if event["from"] else ""
        print(f"--- {event['at']} {event['type']}{who}")
        if event.get("data"):
            print("    " + ", ".join(f"{k}={v}" for k, v in event["data"].items()))
        if event["text"]:
            print("\n".join("    " + line for line in event["text"].strip().splitlines()[:40]))


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    tickets = sub.add_parser("tickets", parents=[common], help="list and show tickets")
    tsub = tickets.add_subparsers(dest="action", required=True, metavar="ACTION")
    tlist = tsub.add_parser("list", parents=[common])
    tlist.add_argument("--status", choices=(*TicketStatus, "all"))
    tlist.add_argument("--level", type=level_id)
    for name in ("team", "urgency", "category", "application", "requester", "assignee"):
        tlist.add_argument(f"--{name}")
    tlist.add_argument("--limit", type=count, default=100)
    tlist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    tlist.set_defaults(func=cmd_tickets_list)
    tshow = tsub.add_parser("show", parents=[common])
    tshow.add_argument("number", type=int)
    tshow.add_argument("--format", choices=("text", "json"), default="text")
    tshow.set_defaults(func=cmd_tickets_show)
