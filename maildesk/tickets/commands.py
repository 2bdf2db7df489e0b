"""Technician commands from subject tags (SPEC section 6): parsing and the COMMANDS registry.

Each handler validates its value and applies itself to the ticket, or
raises ``CommandRefused`` with the reason the technician is mailed: a code and
parameters (:class:`maildesk.types.Reason`), so that the mail can say it in
its own language; the English sentence goes into the ticket's events.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from maildesk.addresses import is_address
from maildesk.config import CATEGORIES, KINDS, URGENCIES, Settings
from maildesk.durations import parse_duration
from maildesk.errors import CommandRefused
from maildesk.states import CLOCK_STOPPED, TicketStatus
from maildesk.storage.models import Ticket
from maildesk.tickets import figures, timers
from maildesk.tickets.resolution import publish_ticket_draft
from maildesk.tickets.store import TicketStore
from maildesk.types import Article, Command, Reason

_BRACKETED = re.compile(r"\[\s*([A-Za-z][A-Za-z_-]*)\s*(?:=\s*([^\]\r\n]*?))?\s*\]")


@dataclass
class Outcome:
    """What the commands of one mail did, gathered for the ticket change."""

    comment: bool = False
    closed: bool = False
    silent: bool = False
    file_in_kb: bool = False
    answered_with: Article | None = None
    published: str | None = None  # the slug of the article a [publish] put in use
    level_reached: int | None = None
    team_reached: str | None = None  # the team the ticket moved to (its members are told)
    past_last_level: bool = False
    applied: list[str] = field(default_factory=list)
    errors: list[Reason] = field(default_factory=list)


@dataclass
class CommandContext:
    store: TicketStore
    ticket: Ticket
    settings: Settings
    now: datetime
    author: str
    text: str
    outcome: Outcome


def parse_commands(
    subject: str, tag: str, ticket_subject: str = "", known: Collection[str] | None = None
) -> tuple[list[Command], list[str]]:
    """Bracketed words of a subject: (known commands, names of unknown ``[word=value]`` tags).

    A bare unknown ``[word]`` is ordinary subject text (``[EXTERNAL]``, ``[URGENT]``);
    an unknown ``[word=value]`` is a mistake the technician should hear about.

    Bracketed words the ticket's own subject already has are subject text too:
    "How do I [close] my account?" comes back in every ``Re:`` and must not close
    the ticket each time. They are counted, so a ``[close]`` added to such a
    subject (two in the reply, one in the ticket's subject) still counts once.
    ``known`` is the set of command names (default: every technician command).
    """
    known = COMMANDS if known is None else known
    already = Counter(_key(match) for match in _BRACKETED.finditer(ticket_subject or ""))
    commands: list[Command] = []
    unknown: list[str] = []
    for match in _BRACKETED.finditer(subject):
        name, value = match.group(1).lower(), match.group(2)
        if name == tag.lower():
            continue
        key = _key(match)
        if already[key]:
            already[key] -= 1
            continue
        if name in known:
            commands.append(Command(name, value.strip() if value is not None else None))
        elif value is not None:
            unknown.append(f"[{match.group(1)}={value}]")
    return commands, unknown


def _key(match: re.Match) -> tuple[str, str | None]:
    value = match.group(2)
    return match.group(1).lower(), " ".join(value.split()).lower() if value is not None else None


# -- handlers -----------------------------------------------------------------


def _needs_value(command: Command) -> str:
    if not command.value:
        raise CommandRefused("needs_value", name=command.name)
    return command.value


def _no_value(command: Command) -> None:
    if command.value is not None:
        raise CommandRefused("takes_no_value", name=command.name)


def _close(ctx: CommandContext, command: Command) -> None:
    _no_value(command)
    _set_status(ctx, TicketStatus.CLOSED)
    ctx.outcome.closed = True
    if ctx.settings.kb.auto_update:
        ctx.outcome.file_in_kb = True


def _spam(ctx: CommandContext, command: Command) -> None:
    _no_value(command)
    _set_status(ctx, TicketStatus.CLOSED)
    ctx.outcome.closed = True
    ctx.outcome.silent = True


def _pending(ctx: CommandContext, command: Command) -> None:
    _no_value(command)
    _set_status(ctx, TicketStatus.PENDING)


def _open(ctx: CommandContext, command: Command) -> None:
    _no_value(command)
    _set_status(ctx, TicketStatus.OPEN)


def _comment(ctx: CommandContext, command: Command) -> None:
    _no_value(command)
    ctx.outcome.comment = True


def _take(ctx: CommandContext, command: Command) -> None:
    _no_value(command)
    ctx.ticket.assignee = ctx.author


def _assign(ctx: CommandContext, command: Command) -> None:
    value = _needs_value(command).strip("<> ").lower()
    if not is_address(value):
        raise CommandRefused("not_an_address", value=command.value)
    if value not in ctx.settings.technicians:
        raise CommandRefused("not_a_member", value=command.value, address=value)
    ctx.ticket.assignee = value


def _escalate(ctx: CommandContext, command: Command) -> None:
    _no_value(command)
    nxt = ctx.settings.next_level(ctx.ticket.level)
    if nxt is None:
        raise CommandRefused("last_level", level=ctx.ticket.level)
    move_to_level(ctx, nxt.id)


def _level(ctx: CommandContext, command: Command) -> None:
    value = _needs_value(command)
    if not value.isdigit() or ctx.settings.level(int(value)) is None:
        known = ", ".join(str(level.id) for level in ctx.settings.levels)
        raise CommandRefused("no_such_level", value=value, levels=known)
    if int(value) != ctx.ticket.level:
        move_to_level(ctx, int(value))


def _team(ctx: CommandContext, command: Command) -> None:
    value = _needs_value(command)
    team = ctx.settings.team(value)
    if team is None:
        known = ", ".join(team.name for team in ctx.settings.teams)
        raise CommandRefused("no_such_team", value=value, teams=known)
    if team.name != ctx.ticket.team or team.level != ctx.ticket.level:
        move_to_level(ctx, team.level, team=team.name)


def _choice(field_name: str, allowed: tuple[str, ...]) -> Callable[[CommandContext, Command], None]:
    def handler(ctx: CommandContext, command: Command) -> None:
        value = _needs_value(command).lower()
        if value not in allowed:
            raise CommandRefused(
                "not_one_of", name=command.name, value=command.value, allowed=", ".join(allowed)
            )
        previous = getattr(ctx.ticket, field_name)
        setattr(ctx.ticket, field_name, value)
        figures.note_change(ctx.store.figures, ctx.ticket, field_name, previous, value, ctx.now)
        if field_name == "urgency" and value != previous:
            timers.change_urgency(ctx.ticket, previous, ctx.settings, ctx.now)

    return handler


def _application(ctx: CommandContext, command: Command) -> None:
    _requalify(ctx, "application", _needs_value(command)[:200])


def _problem(ctx: CommandContext, command: Command) -> None:
    _requalify(ctx, "problem", _needs_value(command)[:200])


def _requalify(ctx: CommandContext, name: str, value: str) -> None:
    figures.note_change(ctx.store.figures, ctx.ticket, name, getattr(ctx.ticket, name), value, ctx.now)
    setattr(ctx.ticket, name, value)


def _time(ctx: CommandContext, command: Command) -> None:
    value = _needs_value(command)
    try:
        spent = parse_duration(value)
    except ValueError:
        raise CommandRefused("not_a_duration", value=value) from None
    if spent.total_seconds() > 7 * 86400:
        raise CommandRefused("too_long", value=value)
    ctx.ticket.time_spent_s = (ctx.ticket.time_spent_s or 0) + int(spent.total_seconds())
    figures.note_time(ctx.store.figures, ctx.ticket, int(spent.total_seconds()), ctx.now, ctx.author)


def _known(ctx: CommandContext, command: Command) -> None:
    slug = _needs_value(command)
    article = ctx.store.find_article(slug)
    if article is None:
        status = ctx.store.article_status(slug)
        if status is not None:  # a draft holds a requester's text; a retired article is out of use
            raise CommandRefused("not_published", slug=slug, status=status)
        raise CommandRefused("no_such_article", slug=slug)
    ctx.outcome.answered_with = article
    _set_status(ctx, TicketStatus.CLOSED)
    ctx.outcome.closed = True


def _kb(ctx: CommandContext, command: Command) -> None:
    _no_value(command)
    if not ctx.text.strip():
        raise CommandRefused("nothing_to_file")
    ctx.outcome.file_in_kb = True


def _publish(ctx: CommandContext, command: Command) -> None:
    """In a reply to the ``kb_draft`` mail: the draft goes live; the mail's text (if any) is the article."""
    _no_value(command)
    article = publish_ticket_draft(ctx.store, ctx.ticket, ctx.text, ctx.settings, ctx.now)
    if article is None:
        raise CommandRefused("no_draft", ticket=ctx.ticket.number)
    ctx.outcome.comment = True  # the text was written for the article, never for the requester
    ctx.outcome.published = article.slug


COMMANDS: dict[str, Callable[[CommandContext, Command], None]] = {
    "close": _close,
    "pending": _pending,
    "open": _open,
    "reopen": _open,
    "comment": _comment,
    "take": _take,
    "assign": _assign,
    "escalate": _escalate,
    "level": _level,
    "team": _team,
    "urgency": _choice("urgency", URGENCIES),
    "category": _choice("category", CATEGORIES),
    "kind": _choice("kind", KINDS),
    "application": _application,
    "time": _time,
    "problem": _problem,
    "known": _known,
    "kb": _kb,
    "publish": _publish,
    "spam": _spam,
}


# -- shared transitions ---------------------------------------------------------


def _set_status(ctx: CommandContext, status: str) -> None:
    set_status(ctx.store, ctx.ticket, status, ctx.settings, ctx.now, by=ctx.author)


def set_status(
    store: TicketStore, ticket: Ticket, status: str, settings: Settings, now: datetime, *, by: str | None
) -> None:
    """Change status and move the clocks with it; ``by`` closes (a technician, requester or rule).

    Pending and closed both stop the first-response and resolve clocks and keep
    the time left; open again (a reopen, or back from pending) runs them on
    from there, so the time a ticket spent waiting or closed never counts
    against its targets. The level's escalate_after clock restarts in full.
    The report figures (pending time, closings, reopenings) are noted first,
    while the clocks still say whether the resolve target was met.
    """
    figures.note_status(store.figures, ticket, status, settings, now, by)
    previous = ticket.status
    ticket.status = status
    if status == TicketStatus.CLOSED:
        ticket.closed_at = now
        timers.pause(ticket, settings, now)
        return
    if previous == TicketStatus.CLOSED:
        ticket.closed_at = None
    if status == TicketStatus.PENDING:
        timers.pause(ticket, settings, now)
    elif previous in CLOCK_STOPPED:
        timers.resume(ticket, settings, now)


def move_to_level(ctx: CommandContext, level_id: int, team: str | None = None) -> None:
    """To level ``level_id``, in ``team`` or else the level's team that handles the ticket."""
    previous = ctx.ticket.level, ctx.ticket.team
    timers.enter_level(ctx.ticket, level_id, ctx.settings, ctx.now, team=team)
    figures.note_move(ctx.store.figures, ctx.ticket, previous, ctx.settings, ctx.now, by_timer=False)
    ctx.outcome.level_reached = level_id
    ctx.outcome.team_reached = ctx.ticket.team
