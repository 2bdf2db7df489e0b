"""Apply one message to the tickets: open, follow up, reopen, run commands, note bounces.

The decisions about *what happened* live here; who gets mail about it is
``notify.plan``'s job.
"""

from __future__ import annotations

from datetime import datetime

from maildesk.config import Settings
from maildesk.states import TicketStatus
from maildesk.storage.models import Ticket
from maildesk.teams.model import Team
from maildesk.tickets import figures, self_service, timers
from maildesk.tickets.commands import (
    parse_commands,
    set_status,
)
from maildesk.tickets.record import ApplyContext, change_of, record_message
from maildesk.tickets.store import TicketStore
from maildesk.tickets.technician import technician_message
from maildesk.types import Automation, Decision, ParsedMessage, TicketChange, TicketKeys

MAX_SUBJECT = 500
MAX_PARTICIPANTS = 500  # To/Cc of an opening request kept as the ticket's participants
REQUESTER_CLOSE = frozenset({"close", "solved"})  # the only commands a requester has (SPEC section 6)


def addressed_team(keys: TicketKeys, settings: Settings) -> Team | None:
    """The team whose address the request was sent to, if any (first in level order)."""
    for address in keys.desk_recipients:
        team = settings.team_for_address(address)
        if team is not None:
            return team
    return None


def default_level(keys: TicketKeys, settings: Settings) -> int:
    """The level of the address the request was sent to, else the first level."""
    team = addressed_team(keys, settings)
    return team.level if team is not None else settings.levels[0].id


def _placement(keys: TicketKeys, decision: Decision, settings: Settings) -> tuple[int, str | None]:
    """(level, team) of a new ticket: a rule's set.team, else set.level or the address's level.

    Within the level, a request sent to a team's own address goes to that team; otherwise
    ``None`` lets the level's teams' ``handles`` (and the catalogue) choose.
    """
    chosen = settings.team(decision.team)
    if chosen is not None:
        return chosen.level, chosen.name
    level = decision.level if decision.level is not None else default_level(keys, settings)
    addressed = addressed_team(keys, settings)
    return level, addressed.name if addressed is not None and addressed.level == level else None


def open_ticket(
    store: TicketStore,
    parsed: ParsedMessage,
    keys: TicketKeys,
    decision: Decision,
    automation: Automation | None,
    ctx: ApplyContext,
    *,
    linked_to: int | None = None,
    suggest: bool = True,
) -> TicketChange:
    """A new ticket for a request, placed by the rules and the address it was sent to.

    ``suggest=False`` when the requester has had the knowledge base's articles already.
    """
    settings = ctx.settings
    level, team = _placement(keys, decision, settings)
    ticket = _new_ticket(parsed, decision, ctx, level, linked_to)
    # Clocks first, so the row is written whole by one INSERT rather than an INSERT and an UPDATE.
    timers.enter_level(ticket, level, settings, ctx.now, team=team)
    timers.start_targets(ticket, settings)
    store.add_ticket(ticket)
    data: dict[str, object] = {"automatic": str(automation)} if automation else {}
    if linked_to:
        data["linked_to"] = linked_to
    record_message(store, ticket, parsed, ctx, "message", parsed.text, data)
    store.add_event(ticket, "rules", ctx.now, data=decision.event_data())
    answered = None
    if decision.answer and automation is None:
        answered = store.find_article(decision.answer)
        if answered is not None:
            # A level-0 answer: the requester has their answer at once, and the ticket is closed.
            timers.on_technician_reply(ticket, settings, ctx.now)
            figures.note_answer(ticket, settings, ctx.now, None)
            set_status(store, ticket, TicketStatus.CLOSED, settings, ctx.now, by=figures.BY_RULE)
            store.add_event(
                ticket, "status", ctx.now, data={"status": TicketStatus.CLOSED, "answer": decision.answer}
            )
    articles = (
        store.suggest_articles(f"{parsed.subject}\n{parsed.text}", settings.kb.suggest, ticket.language)
        if automation is None and not answered and suggest
        else ()
    )
    ticket.suggestions = len(articles)
    return change_of(
        ticket,
        parsed,
        parsed.text,
        created=True,
        automatic=automation is not None,
        acknowledge=automation is None and answered is None,
        closed=answered is not None,
        answered_with=answered,
        level_reached=None if answered else level,
        team_reached=None if answered else ticket.team,
        forward=decision.forward if automation is None else (),  # never relay a robot: it could answer back
        articles=articles,
    )


def _new_ticket(
    parsed: ParsedMessage, decision: Decision, ctx: ApplyContext, level: int, linked_to: int | None
) -> Ticket:
    settings = ctx.settings
    requester = parsed.from_addr or "unknown@invalid"
    return Ticket(
        subject=(parsed.subject or "(no subject)")[:MAX_SUBJECT],
        status=TicketStatus.NEW,
        level=level,
        urgency=decision.urgency,
        category=decision.category,
        kind=decision.kind,
        application=decision.application,
        requester=requester,
        requester_name=parsed.from_name[:500],
        organisation=settings.organisation_for(requester),
        assignee=decision.assignee,
        tags=list(decision.tags),
        language=decision.language or settings.desk.language,
        linked_to=linked_to,
        created_at=ctx.now,
        updated_at=ctx.now,
        time_spent_s=0,
        root_message_id=parsed.message_id,
        participants=participants_of(parsed, requester, settings),
    )


def note_bounce(
    store: TicketStore,
    ticket: Ticket,
    parsed: ParsedMessage,
    ctx: ApplyContext,
    *,
    failed: str,
    via: str | None,
) -> TicketChange:
    """A delivery report about a mail the desk sent to ``failed`` (proved ``via`` bounce address or id)."""
    report = parsed.delivery_report
    assert report is not None
    record_message(
        store,
        ticket,
        parsed,
        ctx,
        "bounce",
        report.diagnostic or parsed.text[:2000],
        {"failed": [failed], "permanent": report.permanent, "via": via},
    )
    return change_of(ticket, parsed, "", automatic=True)


def participants_of(parsed: ParsedMessage, requester: str, settings: Settings) -> list[str]:
    """The To/Cc of an opening request besides the requester and the desk: they speak on the ticket too."""
    found: list[str] = []
    for address in (*parsed.to, *parsed.cc):
        local, _at, domain = address.partition("@")
        base = f"{local.partition('+')[0]}@{domain}"  # a desk address with a +suffix is the desk
        if address != requester and base not in settings.desk_addresses and address not in found:
            found.append(address)
    return found[:MAX_PARTICIPANTS]


def speaks_on(ticket: Ticket, address: str) -> bool:
    """Whether mail from ``address`` may change the ticket: requester and participants (technicians aside)."""
    return bool(address) and (address == ticket.requester or address in (ticket.participants or ()))


def add_follow_up(
    store: TicketStore,
    ticket: Ticket,
    parsed: ParsedMessage,
    keys: TicketKeys,
    automation: Automation | None,
    ctx: ApplyContext,
) -> TicketChange:
    """A message about an existing ticket: from a technician, the requester, a participant or an outsider."""
    settings = ctx.settings
    # Only a From names a technician (not a Reply-To or Sender taken for want of a From address).
    if automation is None and parsed.from_header == "from" and parsed.from_addr in settings.technicians:
        return technician_message(store, ticket, parsed, keys, ctx)
    text = parsed.reply_text or parsed.text
    outsider = not speaks_on(ticket, parsed.from_addr)
    if automation is not None:
        data: dict = {"automatic": str(automation)}
        if outsider:
            data["outsider"] = True
        record_message(store, ticket, parsed, ctx, "message", text, data)
        return change_of(ticket, parsed, text, automatic=True)
    if outsider:
        # Recorded and told to whoever owns the ticket; it reopens nothing, runs no command, moves no clock.
        record_message(store, ticket, parsed, ctx, "message", text, {"outsider": True})
        return change_of(ticket, parsed, text, outsider_wrote=True)
    record_message(store, ticket, parsed, ctx, "message", text)
    if parsed.from_addr == ticket.requester and requester_closes(parsed, keys, ticket, settings):
        if ticket.status == TicketStatus.CLOSED:
            return change_of(ticket, parsed, text)  # asking again to close is no reason to reopen
        set_status(store, ticket, TicketStatus.CLOSED, settings, ctx.now, by=figures.BY_REQUESTER)
        store.add_event(
            ticket,
            "status",
            ctx.now,
            from_addr=parsed.from_addr,
            data={"status": TicketStatus.CLOSED, "by": "requester"},
        )
        return change_of(ticket, parsed, text, closed=True)
    if parsed.from_addr == ticket.requester and (
        slug := self_service.requested_article(parsed, ticket, settings)
    ):
        article = store.find_article(slug)  # published only; an unknown slug is a plain reply for a person
        if article is not None:
            store.add_event(
                ticket, "command", ctx.now, from_addr=parsed.from_addr, data={"command": "kb", "value": slug}
            )
            return change_of(ticket, parsed, text, article_requested=article)
    if ticket.status in (TicketStatus.PENDING, TicketStatus.CLOSED):
        previous = ticket.status
        set_status(store, ticket, TicketStatus.OPEN, settings, ctx.now, by=None)
        store.add_event(
            ticket,
            "status",
            ctx.now,
            from_addr=parsed.from_addr,
            data={"status": TicketStatus.OPEN, "from": previous, "reason": "requester replied"},
        )
    return change_of(ticket, parsed, text, requester_replied=True)


def requester_closes(parsed: ParsedMessage, keys: TicketKeys, ticket: Ticket, settings: Settings) -> bool:
    """A requester's ``[close]``/``[solved]``; under ``command_auth = "signed"`` only at their signed address.

    Elsewhere (the plain desk address with the subject tag) it is plain
    subject text: a forged From cannot close someone's ticket.
    """
    commands, _unknown = parse_commands(parsed.subject, settings.desk.tag, ticket.subject, REQUESTER_CLOSE)
    if not any(c.value is None for c in commands):
        return False
    if settings.security.command_auth != "signed":
        return True
    signed = keys.signed
    return signed is not None and signed.ticket == ticket.number and signed.valid_for == ticket.requester


def is_closed_too_long(ticket: Ticket, settings: Settings, now: datetime) -> bool:
    """A reply to a ticket closed longer than ``reopen_within`` ago opens a new, linked ticket."""
    return (
        ticket.status == TicketStatus.CLOSED
        and ticket.closed_at is not None
        and now - ticket.closed_at > settings.desk.reopen_within
    )
