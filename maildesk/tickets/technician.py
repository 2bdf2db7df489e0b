"""A technician's mail on a ticket: authenticated, its commands run, its text relayed or kept as a note."""

from __future__ import annotations

from typing import Any

from maildesk.config import Settings
from maildesk.states import TicketStatus
from maildesk.storage.models import Ticket
from maildesk.tickets import figures, timers
from maildesk.tickets.commands import (
    COMMANDS,
    CommandContext,
    CommandRefused,
    Outcome,
    move_to_level,
    parse_commands,
    set_status,
)
from maildesk.tickets.record import ApplyContext, change_of, record_message
from maildesk.tickets.resolution import file_resolution
from maildesk.tickets.store import TicketStore
from maildesk.types import Command, ParsedMessage, Reason, TicketChange, TicketKeys


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


def technician_message(
    store: TicketStore, ticket: Ticket, parsed: ParsedMessage, keys: TicketKeys, ctx: ApplyContext
) -> TicketChange:
    """Authenticated, its commands run; relayed to the requester unless it is a note or held back."""
    settings = ctx.settings
    text = parsed.reply_text or parsed.text
    commands, unknown = parse_commands(parsed.subject, settings.desk.tag, ticket.subject)
    refusal = authenticate_technician(parsed, keys, settings, ticket)
    if refusal is not None:
        record_message(store, ticket, parsed, ctx, "comment", text, {"refused": refusal.text})
        return change_of(ticket, parsed, text, command_errors=(refusal,))
    figures.note_action(ticket, settings, ctx.now)  # any authenticated mail: reply, note, command, routing
    outcome = _outcome(store, ticket, parsed, ctx, unknown)
    command_ctx = CommandContext(
        store=store,
        ticket=ticket,
        settings=settings,
        now=ctx.now,
        author=parsed.from_addr,
        text=text,
        outcome=outcome,
    )
    held_back = _run_commands(command_ctx, commands, parsed, ctx)
    routed = _route_by_address(command_ctx, keys)
    if routed:
        # A hand-off to another level is between technicians: never relay it (a forwarded
        # request would otherwise go back to its own requester).
        outcome.comment = True
    event_type = "comment" if outcome.comment or outcome.silent or held_back else "reply"
    relay = not outcome.comment and not outcome.silent and not held_back and bool(text.strip())
    if ticket.status == TicketStatus.CLOSED and not outcome.closed and (relay or routed):
        # A technician answering on a closed ticket (or handing it to another level) reopens it, as
        # in RT; a note, or a mail with only commands such as [time=] and no text, does not.
        _reopen(store, ticket, ctx, parsed.from_addr)
    record_message(
        store,
        ticket,
        parsed,
        ctx,
        event_type,
        text,
        {"commands": outcome.applied} if outcome.applied else None,
    )
    kb_draft = _record_outcome(store, ticket, parsed, ctx, text, outcome, relay=relay)
    return change_of(
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


def _outcome(
    store: TicketStore, ticket: Ticket, parsed: ParsedMessage, ctx: ApplyContext, unknown: list[str]
) -> Outcome:
    """What the mail will have done, begun with its unknown commands (each refused on the history)."""
    outcome = Outcome(
        errors=[Reason.of("unknown_command", tag=tag) for tag in unknown],
        # A reply to the kb_draft mail is about the article, never an answer to the requester.
        comment=store.answers_template(parsed.in_reply_to, "kb_draft"),
    )
    for tag, reason in zip(unknown, outcome.errors, strict=True):
        _record_refusal(store, ticket, parsed, ctx, tag, None, reason)
    return outcome


def _reopen(store: TicketStore, ticket: Ticket, ctx: ApplyContext, technician: str) -> None:
    set_status(store, ticket, TicketStatus.OPEN, ctx.settings, ctx.now, by=technician)
    store.add_event(
        ticket,
        "status",
        ctx.now,
        from_addr=technician,
        data={"status": TicketStatus.OPEN, "from": TicketStatus.CLOSED, "reason": "technician replied"},
    )


def _run_commands(
    command_ctx: CommandContext, commands: list[Command], parsed: ParsedMessage, ctx: ApplyContext
) -> bool:
    """Each command applied or refused, in order, each on the history; True when the text is held back."""
    store, ticket, text, outcome = (
        command_ctx.store,
        command_ctx.ticket,
        command_ctx.text,
        command_ctx.outcome,
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
    return held_back


def _record_outcome(
    store: TicketStore,
    ticket: Ticket,
    parsed: ParsedMessage,
    ctx: ApplyContext,
    text: str,
    outcome: Outcome,
    *,
    relay: bool,
) -> Any:
    """What the mail did as a whole: answered, opened, filed in the knowledge base, moved, closed.

    Returns the knowledge-base draft the closure filed, if any."""
    settings = ctx.settings
    _answered(
        store,
        ticket,
        ctx,
        parsed.from_addr,
        answer=relay or outcome.answered_with is not None,
        closing_mail=outcome.closed and not outcome.silent,
    )
    if ticket.status == TicketStatus.NEW and outcome.applied:
        set_status(store, ticket, TicketStatus.OPEN, settings, ctx.now, by=parsed.from_addr)
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
            data={"status": TicketStatus.CLOSED, "silent": outcome.silent},
        )
    return kb_draft


def _answered(
    store: TicketStore, ticket: Ticket, ctx: ApplyContext, author: str, *, answer: bool, closing_mail: bool
) -> None:
    """The requester gets an answer (or the closing mail): the first-response clock stops for good."""
    if answer:
        figures.note_answer(ticket, ctx.settings, ctx.now, author)
    if answer or closing_mail:
        timers.on_technician_reply(ticket, ctx.settings, ctx.now)
        if ticket.status == TicketStatus.NEW:
            set_status(store, ticket, TicketStatus.OPEN, ctx.settings, ctx.now, by=author)


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
