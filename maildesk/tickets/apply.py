"""Apply one message to the tickets: open, follow up, reopen, run commands, note bounces.

The decisions about *what happened* live here; who gets mail about it is
``notify.plan``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from maildesk.config import Settings
from maildesk.message.notes import said_on_ticket
from maildesk.storage.models import Ticket
from maildesk.teams.model import Team
from maildesk.tickets import figures, self_service, timers
from maildesk.tickets.commands import (
    COMMANDS,
    CommandContext,
    CommandRefused,
    Outcome,
    move_to_level,
    parse_commands,
    set_status,
)
from maildesk.tickets.resolution import file_resolution
from maildesk.tickets.store import TicketStore
from maildesk.types import Automation, Command, Decision, ParsedMessage, Reason, TicketChange, TicketKeys

MAX_SUBJECT = 500
MAX_PARTICIPANTS = 500  # To/Cc of an opening request kept as the ticket's participants
REQUESTER_CLOSE = frozenset({"close", "solved"})  # the only commands a requester has (SPEC section 6)


@dataclass(frozen=True)
class ApplyContext:
    settings: Settings
    now: datetime
    inbox_id: int


def _change(ticket: Ticket, parsed: ParsedMessage, text: str, **facts: Any) -> TicketChange:
    return TicketChange(
        ticket=TicketStore.view(ticket),
        message_id=parsed.message_id,
        references=parsed.references,
        author=parsed.from_addr,
        author_name=parsed.from_name,
        text=text,
        **facts,
    )


def _record_message(
    store: TicketStore,
    ticket: Ticket,
    parsed: ParsedMessage,
    ctx: ApplyContext,
    type_: str,
    text: str,
    data: dict | None = None,
) -> dict:
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
    """A new ticket; ``suggest=False`` when the requester has had the knowledge base's articles already."""
    settings = ctx.settings
    level, team = _placement(keys, decision, settings)
    requester = parsed.from_addr or "unknown@invalid"
    ticket = Ticket(
        subject=(parsed.subject or "(no subject)")[:MAX_SUBJECT],
        status="new",
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
    # Clocks first, so the row is written whole by one INSERT rather than an INSERT and an UPDATE.
    timers.enter_level(ticket, level, settings, ctx.now, team=team)
    timers.start_targets(ticket, settings)
    store.add_ticket(ticket)
    data: dict[str, object] = {"automatic": str(automation)} if automation else {}
    if linked_to:
        data["linked_to"] = linked_to
    _record_message(store, ticket, parsed, ctx, "message", parsed.text, data)
    store.add_event(ticket, "rules", ctx.now, data=decision.event_data())
    answered = None
    if decision.answer and automation is None:
        answered = store.find_article(decision.answer)
        if answered is not None:
            # A level-0 answer: the requester has their answer at once, and the ticket is closed.
            timers.on_technician_reply(ticket, settings, ctx.now)
            figures.note_answer(ticket, settings, ctx.now, None)
            set_status(store, ticket, "closed", settings, ctx.now, by=figures.BY_RULE)
            store.add_event(ticket, "status", ctx.now, data={"status": "closed", "answer": decision.answer})
    articles = (
        store.suggest_articles(f"{parsed.subject}\n{parsed.text}", settings.kb.suggest, ticket.language)
        if automation is None and not answered and suggest
        else ()
    )
    ticket.suggestions = len(articles)
    return _change(
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
    _record_message(
        store,
        ticket,
        parsed,
        ctx,
        "bounce",
        report.diagnostic or parsed.text[:2000],
        {"failed": [failed], "permanent": report.permanent, "via": via},
    )
    return _change(ticket, parsed, "", automatic=True)


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
        return _technician_message(store, ticket, parsed, keys, ctx)
    text = parsed.reply_text or parsed.text
    outsider = not speaks_on(ticket, parsed.from_addr)
    if automation is not None:
        data: dict = {"automatic": str(automation)}
        if outsider:
            data["outsider"] = True
        _record_message(store, ticket, parsed, ctx, "message", text, data)
        return _change(ticket, parsed, text, automatic=True)
    if outsider:
        # Recorded and told to whoever owns the ticket; it reopens nothing, runs no command, moves no clock.
        _record_message(store, ticket, parsed, ctx, "message", text, {"outsider": True})
        return _change(ticket, parsed, text, outsider_wrote=True)
    _record_message(store, ticket, parsed, ctx, "message", text)
    if parsed.from_addr == ticket.requester and requester_closes(parsed, keys, ticket, settings):
        if ticket.status == "closed":
            return _change(ticket, parsed, text)  # asking again to close is no reason to reopen
        set_status(store, ticket, "closed", settings, ctx.now, by=figures.BY_REQUESTER)
        store.add_event(
            ticket,
            "status",
            ctx.now,
            from_addr=parsed.from_addr,
            data={"status": "closed", "by": "requester"},
        )
        return _change(ticket, parsed, text, closed=True)
    if parsed.from_addr == ticket.requester and (
        slug := self_service.requested_article(parsed, ticket, settings)
    ):
        article = store.find_article(slug)  # published only; an unknown slug is a plain reply for a person
        if article is not None:
            store.add_event(
                ticket, "command", ctx.now, from_addr=parsed.from_addr, data={"command": "kb", "value": slug}
            )
            return _change(ticket, parsed, text, article_requested=article)
    if ticket.status in ("pending", "closed"):
        previous = ticket.status
        set_status(store, ticket, "open", settings, ctx.now, by=None)
        store.add_event(
            ticket,
            "status",
            ctx.now,
            from_addr=parsed.from_addr,
            data={"status": "open", "from": previous, "reason": "requester replied"},
        )
    return _change(ticket, parsed, text, requester_replied=True)


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
        ticket.status == "closed"
        and ticket.closed_at is not None
        and now - ticket.closed_at > settings.desk.reopen_within
    )


def authenticate_technician(
    parsed: ParsedMessage, keys: TicketKeys, settings: Settings, ticket: Ticket
) -> Reason | None:
    """None when the technician's mail may act on the ticket; otherwise why not."""
    if settings.security.command_auth == "signed":
        signed = keys.signed
        if signed is None or signed.ticket != ticket.number:
            return Reason.of("not_signed", ticket=ticket.number)
        if signed.valid_for != parsed.from_addr:
            return Reason.of("signed_for_other", sender=parsed.from_addr)
    if settings.security.dkim_required:
        from maildesk.security.dkim import dkim_passes

        if not dkim_passes(parsed, settings.security.trusted_authserv_ids):
            return Reason.of("no_dkim", domain=parsed.from_addr.rpartition("@")[2])
    return None


def _technician_message(
    store: TicketStore, ticket: Ticket, parsed: ParsedMessage, keys: TicketKeys, ctx: ApplyContext
) -> TicketChange:
    settings = ctx.settings
    text = parsed.reply_text or parsed.text
    commands, unknown = parse_commands(parsed.subject, settings.desk.tag, ticket.subject)
    refusal = authenticate_technician(parsed, keys, settings, ticket)
    if refusal is not None:
        _record_message(store, ticket, parsed, ctx, "comment", text, {"refused": refusal.text})
        return _change(ticket, parsed, text, command_errors=(refusal,))
    figures.note_action(ticket, settings, ctx.now)  # any authenticated mail: reply, note, command, routing
    outcome = Outcome(
        errors=[Reason.of("unknown_command", tag=tag) for tag in unknown],
        # A reply to the kb_draft mail is about the article, never an answer to the requester.
        comment=store.answers_template(parsed.in_reply_to, "kb_draft"),
    )
    for tag, reason in zip(unknown, outcome.errors, strict=True):
        _record_refusal(store, ticket, parsed, ctx, tag, None, reason)
    command_ctx = CommandContext(
        store=store,
        ticket=ticket,
        settings=settings,
        now=ctx.now,
        author=parsed.from_addr,
        text=text,
        outcome=outcome,
    )
    held_back = False
    for command in commands:
        label = f"[{command.name}{'=' + command.value if command.value is not None else ''}]"
        try:
            COMMANDS[command.name](command_ctx, command)
        except CommandRefused as refused:
            reason = refused.reason
            if command.name in _DECIDES_THE_ANSWER and text.strip():
                # The text was written to go with this command (an article, a note, silence):
                # sent alone it would say something the technician did not mean to.
                held_back = True
                reason = reason.with_params(held_back=True)
            outcome.errors.append(reason)
            _record_refusal(store, ticket, parsed, ctx, label, command, reason)
            continue
        outcome.applied.append(label)
        store.add_event(
            ticket,
            "command",
            ctx.now,
            from_addr=parsed.from_addr,
            text=label,
            data={"command": command.name, "value": command.value},
        )
    routed = _route_by_address(command_ctx, keys)
    if routed:
        # A hand-off to another level is between technicians: never relay it (a forwarded
        # request would otherwise go back to its own requester).
        outcome.comment = True
    event_type = "comment" if outcome.comment or outcome.silent or held_back else "reply"
    relay = not outcome.comment and not outcome.silent and not held_back and bool(text.strip())
    if ticket.status == "closed" and not outcome.closed and (relay or routed):
        # A technician answering on a closed ticket (or handing it to another level) reopens it, as
        # in RT; a note, or a mail with only commands such as [time=] and no text, does not.
        set_status(store, ticket, "open", settings, ctx.now, by=parsed.from_addr)
        store.add_event(
            ticket,
            "status",
            ctx.now,
            from_addr=parsed.from_addr,
            data={"status": "open", "from": "closed", "reason": "technician replied"},
        )
    _record_message(
        store,
        ticket,
        parsed,
        ctx,
        event_type,
        text,
        {"commands": outcome.applied} if outcome.applied else None,
    )
    _answered(
        store,
        ticket,
        ctx,
        parsed.from_addr,
        answer=relay or outcome.answered_with is not None,
        closing_mail=outcome.closed and not outcome.silent,
    )
    if ticket.status == "new" and outcome.applied:
        set_status(store, ticket, "open", settings, ctx.now, by=parsed.from_addr)
    kb_draft = None
    if outcome.file_in_kb and text.strip():
        kb_draft = file_resolution(store, ticket, parsed, text, settings, ctx.now)
    if outcome.level_reached is not None:
        store.add_event(
            ticket,
            "escalation",
            ctx.now,
            from_addr=parsed.from_addr,
            data={"level": outcome.level_reached, "team": ticket.team, "by": parsed.from_addr},
        )
    if outcome.closed:
        store.add_event(
            ticket,
            "status",
            ctx.now,
            from_addr=parsed.from_addr,
            data={"status": "closed", "silent": outcome.silent},
        )
    return _change(
        ticket,
        parsed,
        text,
        answer_to_requester=relay and not outcome.closed,
        closed=outcome.closed,
        silent=outcome.silent,
        level_reached=outcome.level_reached,
        team_reached=outcome.team_reached,
        command_errors=tuple(outcome.errors),
        answered_with=outcome.answered_with,
        kb_draft=kb_draft,
        notify_exclude=(parsed.from_addr,),
    )


def _answered(
    store: TicketStore, ticket: Ticket, ctx: ApplyContext, author: str, *, answer: bool, closing_mail: bool
) -> None:
    """The requester gets an answer (or the closing mail): the first-response clock stops for good."""
    if answer:
        figures.note_answer(ticket, ctx.settings, ctx.now, author)
    if answer or closing_mail:
        timers.on_technician_reply(ticket, ctx.settings, ctx.now)
        if ticket.status == "new":
            set_status(store, ticket, "open", ctx.settings, ctx.now, by=author)


# Commands that decide what the requester gets; when one is refused, the text is not relayed.
_DECIDES_THE_ANSWER = frozenset({"known", "comment", "spam", "publish"})


def _record_refusal(
    store: TicketStore,
    ticket: Ticket,
    parsed: ParsedMessage,
    ctx: ApplyContext,
    label: str,
    command: Command | None,
    reason: Reason,
) -> None:
    """A refused command changes nothing, but the ticket's history says what was asked and why not (in English)."""
    data = {"command": command.name, "value": command.value} if command is not None else {}
    data["refused"] = reason.text
    store.add_event(ticket, "command", ctx.now, from_addr=parsed.from_addr, text=label, data=data)


def _route_by_address(ctx: CommandContext, keys: TicketKeys) -> bool:
    """A technician who writes to another team's address (of any level) hands the ticket to that team."""
    current = ctx.settings.ticket_team(ctx.ticket.team, ctx.ticket.level)
    for address in keys.desk_recipients:
        team = ctx.settings.team_for_address(address)
        if team is None or (current is not None and team.address == current.address):
            continue  # the ticket's own team's address (or the bare intake address) routes nowhere
        move_to_level(ctx, team.level, team=team.name)
        where = f"level {team.level}" if team.implicit else f"team {team.name} (level {team.level})"
        ctx.outcome.applied.append(f"routed to {where}")
        return True
    return False
