"""Decide who gets mail about a ticket change, and with which template."""

from __future__ import annotations

from dataclasses import dataclass, field

from maildesk.config import Settings
from maildesk.security.signing import signed_address
from maildesk.states import ArticleStatus
from maildesk.teams.model import Team
from maildesk.types import Article, Notification, Reason, TicketChange, TicketView


def _level_address(settings: Settings, ticket: TicketView) -> str:
    """The address mail about the ticket is signed with: its team's (each team has its own)."""
    team = settings.ticket_team(ticket.team, ticket.level)
    return team.address if team is not None and team.address else settings.desk.address


def _level_context(settings: Settings, level_id: int, team: Team | None, address: str) -> dict:
    level = settings.level(level_id)
    return {
        "id": level_id,
        "name": level.name if level else str(level_id),
        "address": address,
        # The team's name, or None for the one team of a level written without [[levels.teams]].
        "team": team.name if team is not None and not team.implicit else None,
    }


def _article(article: Article | None) -> dict | None:
    if article is None:
        return None
    return {"slug": article.slug, "title": article.title, "body": article.body}


def base_context(settings: Settings, ticket: TicketView | None, change: TicketChange | None = None) -> dict:
    """The template context every mail gets (the contract in maildesk/notify/render.py)."""
    context: dict = {
        "desk": {"name": settings.desk.name, "address": settings.desk.address, "tag": settings.desk.tag}
    }
    if ticket is not None:
        level = settings.level(ticket.level)
        context["ticket"] = {
            "number": ticket.number,
            "subject": ticket.subject,
            "status": ticket.status,
            "level": ticket.level,
            "level_name": level.name if level else str(ticket.level),
            "team": ticket.team,
            "organisation": ticket.organisation,
            "urgency": ticket.urgency,
            "category": ticket.category,
            "kind": ticket.kind,
            "application": ticket.application,
            "requester": ticket.requester,
            "assignee": ticket.assignee,
            "created_at": ticket.created_at,
            "closed_at": ticket.closed_at,
            "time_spent": ticket.time_spent,
            "url": None,
        }
    if change is not None:
        context["message"] = {
            "from_addr": change.author,
            "from_name": change.author_name,
            "text": change.text,
            "subject": ticket.subject if ticket else "",
        }
        context["articles"] = [
            {"slug": a.slug, "title": a.title, "excerpt": a.excerpt} for a in change.articles
        ]
        context["article"] = _article(change.answered_with)
        # Each reason twice: the English sentence (``reason``, ``errors``) and code with parameters
        # (``reasons``, ``refusals``), which the templates' ``reason`` macro says in their language.
        context["reason"] = change.reason
        context["reasons"] = [reason.as_context() for reason in change.reasons]
        context["errors"] = [reason.text for reason in change.command_errors]
        context["refusals"] = [reason.as_context() for reason in change.command_errors]
    return context


@dataclass
class _Mails:
    """The mail of one change as it is planned: who gets what, replying to a signed address."""

    change: TicketChange
    settings: Settings
    secret: bytes
    context: dict
    level_address: str
    mails: list[Notification] = field(default_factory=list)

    def add(
        self,
        template: str,
        to: str,
        *,
        automatic: bool,
        context: dict | None = None,
        language: str | None = None,
        in_reply_to: str | None = None,
        references: tuple[str, ...] | None = None,
        via: str | None = None,
    ) -> None:
        """One mail about the ticket; ``via`` is the address its replies go to (signed for ``to``)."""
        number = self.change.ticket.number
        self.mails.append(
            Notification(
                template=template,
                to=to,
                ticket=number,
                language=language if language is not None else self.settings.desk.language,
                context=context or self.context,
                in_reply_to=in_reply_to,
                references=references if references is not None else (self.change.message_id,),
                reply_to=signed_address(self.secret, via or self.level_address, number, to),
                automatic=automatic,
            )
        )

    def to_requester(self, template: str, automatic: bool, context: dict | None = None) -> None:
        ticket, change = self.change.ticket, self.change
        self.add(
            template,
            ticket.requester,
            automatic=automatic,
            context=context,
            language=ticket.language,
            in_reply_to=change.message_id,
            references=change.references,
        )


def plan(change: TicketChange, settings: Settings, secret: bytes) -> list[Notification]:
    """The mail one ticket change causes (SPEC sections 5 to 7)."""
    ticket = change.ticket
    mails = _Mails(
        change, settings, secret, base_context(settings, ticket, change), _level_address(settings, ticket)
    )
    _requester_mails(mails)
    _team_mails(mails)
    if change.requester_replied:
        replied = Reason.of("requester_replied", requester=change.author or ticket.requester)
        mails.mails.extend(_tell_watchers(change, settings, secret, mails.context, replied, automatic=False))
    elif change.outsider_wrote:
        # Capped like other automatic mail: a stranger writing again and again must not flood the owner.
        outsider = Reason.of("outsider_wrote", sender=change.author or "an unknown sender")
        mails.mails.extend(_tell_watchers(change, settings, secret, mails.context, outsider, automatic=True))
    if change.past_last_level:
        # The escalated template names the level the ticket is stuck at.
        team = settings.ticket_team(ticket.team, ticket.level)
        last = {**mails.context, "level": _level_context(settings, ticket.level, team, mails.level_address)}
        for supervisor in settings.desk.supervisors:
            mails.add("escalated", supervisor, automatic=False, context=last)
    if change.command_errors and change.author:
        mails.add(
            "command_error",
            change.author,
            automatic=True,
            in_reply_to=change.message_id,
            references=change.references,
        )
    mails.mails.extend(_kb_draft_mail(change, settings, secret, mails.context, mails.level_address))
    for address in change.forward:
        mails.add("forward", address, automatic=False)
    return mails.mails


def _requester_mails(mails: _Mails) -> None:
    """The acknowledgement, the answer or closing, or a technician's reply."""
    change = mails.change
    if change.acknowledge:
        mails.to_requester("ack", automatic=True)
    if change.created and change.answered_with is not None:
        # A rule's level-0 answer: the message is the request itself, not an answer to quote and sign with the
        # requester's name; and the mail stands in for the acknowledgement, so it counts against the same cap.
        mails.to_requester("closed", automatic=True, context={**mails.context, "message": None})
    elif change.answered_with is not None or (change.closed and not change.silent and not change.automatic):
        mails.to_requester("closed", automatic=False)
    elif change.answer_to_requester:
        mails.to_requester("reply", automatic=False)
    if change.article_requested is not None:
        # The requester's [kb=SLUG]: the article alone, as an automatic answer (capped like one).
        article = _article(change.article_requested)
        mails.to_requester(
            "reply", automatic=True, context={**mails.context, "message": None, "article": article}
        )


def _team_mails(mails: _Mails) -> None:
    """The members of the team the ticket reached are told, and no one else."""
    change, settings = mails.change, mails.settings
    if change.level_reached is None:
        return
    team = settings.ticket_team(change.team_reached or change.ticket.team, change.level_reached)
    if team is None:
        return
    level_context = {**mails.context, "level": _level_context(settings, team.level, team, team.address)}
    for member in team.members:
        if member not in change.notify_exclude:
            mails.add("notify_level", member, automatic=False, context=level_context, via=team.address)


def _kb_draft_mail(
    change: TicketChange, settings: Settings, secret: bytes, context: dict, level_address: str
) -> list[Notification]:
    """The draft filed from a technician's closing answer, to that technician: ``[publish]`` in the reply."""
    draft = change.kb_draft
    if draft is None or draft.status != ArticleStatus.DRAFT or not change.author:
        return []
    article = {"slug": draft.slug, "title": draft.title, "body": draft.body}
    updates = {"slug": draft.updates_slug, "title": draft.updates_title} if draft.updates_slug else None
    return [
        Notification(
            template="kb_draft",
            to=change.author,
            ticket=change.ticket.number,
            language=settings.desk.language,
            context={**context, "article": article, "updates": updates},
            references=(change.message_id,),
            reply_to=signed_address(secret, level_address, change.ticket.number, change.author),
            automatic=False,
        )
    ]


def _tell_watchers(
    change: TicketChange, settings: Settings, secret: bytes, context: dict, reason: Reason, *, automatic: bool
) -> list[Notification]:
    """As in RT: the owner hears of mail on the ticket, or the whole team when nobody owns it."""
    ticket = change.ticket
    level_address = _level_address(settings, ticket)
    team = settings.ticket_team(ticket.team, ticket.level)
    watchers = (ticket.assignee,) if ticket.assignee else (team.members if team else ())
    watched_context = {
        **context,
        "reason": reason.text,
        "reasons": [reason.as_context()],
        "level": _level_context(settings, ticket.level, team, level_address),
    }
    return [
        Notification(
            template="notify_level",
            to=watcher,
            ticket=ticket.number,
            language=settings.desk.language,
            context=watched_context,
            references=(change.message_id,),
            reply_to=signed_address(secret, level_address, ticket.number, watcher),
            automatic=automatic,
        )
        for watcher in watchers
    ]


def plan_storm(
    change: TicketChange, ticket: TicketView, settings: Settings, secret: bytes, storm: Reason
) -> list[Notification]:
    """The one mail to each supervisor saying that mail about a ticket has been held back (a storm)."""
    context = base_context(settings, ticket, change)
    level = settings.level(ticket.level)
    level_address = _level_address(settings, ticket)
    context.update(
        reason=storm.text,
        reasons=[storm.as_context()],
        level={
            "id": ticket.level,
            "name": level.name if level else str(ticket.level),
            "address": level_address,
        },
    )
    return [
        Notification(
            template="storm",
            to=supervisor,
            ticket=ticket.number,
            language=settings.desk.language,
            context=context,
            references=(change.message_id,) if change.message_id else (),
            reply_to=signed_address(secret, level_address, ticket.number, supervisor),
            automatic=False,
        )
        for supervisor in settings.desk.supervisors
    ]
