"""The frozen values that the pipeline stages hand to one another.

Every stage takes and returns these; a stage that needs a new fact adds a
field here rather than passing free-form dictionaries around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from string import Formatter
from typing import Any


@dataclass(frozen=True)
class RawMessage:
    """Bytes exactly as received, with the envelope that came with them."""

    data: bytes
    mail_from: str | None  # envelope sender; None when unknown (pipe, file import)
    rcpt_tos: tuple[str, ...]  # envelope recipients; empty when unknown
    source: str  # "smtp", "lmtp", "imap:<account>", "pipe", "mbox", "maildir", "file"
    received_at: datetime


@dataclass(frozen=True)
class Attachment:
    """One attached file, decoded; the filename is sanitised (no path parts)."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class DeliveryReport:
    """What a bounce says: which recipients failed, and whether for good."""

    failed: tuple[str, ...]  # lower-case addresses
    permanent: bool
    original_message_id: str | None  # Message-ID of the message that bounced, when the report quotes it
    diagnostic: str  # a short human-readable reason


@dataclass(frozen=True)
class ParsedMessage:
    """A message reduced to the facts the desk acts on.

    Parsing never raises for a malformed message: what could not be decoded
    is replaced (and listed in ``defects``) so that a ticket can still be made.
    """

    message_id: str  # "<...>"; a digest-based "<sha256-...@maildesk>" when the message has none
    has_message_id: bool
    subject: str  # decoded, CR/LF folded to spaces
    from_addr: str  # lower-case address, "" when absent or unparseable
    from_name: str
    to: tuple[str, ...]  # lower-case addresses
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    in_reply_to: tuple[str, ...]  # message ids with angle brackets
    references: tuple[str, ...]
    date: datetime | None  # timezone-aware
    text: str  # the whole plain-text body (HTML converted to text when there is no text part)
    reply_text: str  # text with quoted history and signature stripped
    html: str | None  # the HTML body when there was one
    headers: tuple[tuple[str, str], ...]  # (name, decoded value) in order; names as written
    attachments: tuple[Attachment, ...]
    auto_submitted: str | None  # the Auto-Submitted value, lower-case
    precedence: str | None  # lower-case
    list_id: str | None
    x_loop: tuple[str, ...]  # X-Loop values, lower-case
    delivery_report: DeliveryReport | None  # set when the message is a bounce / DSN
    defects: tuple[str, ...] = ()
    limits: tuple[
        str, ...
    ] = ()  # what the parser's limits left out ("1,999 of 10,000 parts kept"), for the ticket
    # Fallbacks that gave the sender, subject or text (a guessed charset, the requester from
    # Reply-To, a mended header block), for the ticket: nothing is repaired silently.
    repairs: tuple[str, ...] = ()
    from_header: str = (
        "from"  # the header from_addr came from: "from", or "reply-to", "sender", "return-path"
    )

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), decoded, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


class Automation(StrEnum):
    """Why a message counts as automatic (no auto-reply, no state change)."""

    AUTO_SUBMITTED = "auto-submitted"
    BULK = "precedence"
    LIST = "list"
    LOOP = "loop"
    DAEMON_SENDER = "mailer-daemon"
    EMPTY_SENDER = "empty-sender"
    DELIVERY_REPORT = "delivery-report"
    REPORT = "report"  # another multipart/report: a read receipt (MDN) or an abuse report (ARF)
    AUTO_REPLY = "auto-reply"  # no marker, but its subject or headers say so (see message/robots.py)
    NO_REPLY_SENDER = "no-reply-sender"  # from an address that takes no answers (no-reply@)
    BOUNCE_ADDRESS = "bounce-address"  # sent to the envelope sender of a desk mail: only robots write there


class Via(StrEnum):
    """How a message was tied to an existing ticket."""

    SIGNED_ADDRESS = "signed-address"
    SUBJECT_TAG = "subject-tag"
    REFERENCES = "references"
    BOUNCE_ADDRESS = "bounce-address"  # the signed envelope sender of a mail the desk sent about it


@dataclass(frozen=True)
class SignedAddress:
    """A recipient of the form <local>+<N>-<sig>@<domain> addressed to the desk."""

    address: str  # the full address as received, lower-case
    ticket: int
    level_address: str  # <local>@<domain>
    valid_for: str | None  # the recipient the signature was issued to, when it verifies for the sender


@dataclass(frozen=True)
class TicketKeys:
    """What correlation found: the ticket a message belongs to, if any."""

    ticket: int | None
    via: Via | None
    signed: SignedAddress | None = None
    desk_recipients: tuple[str, ...] = ()  # level addresses (unsigned) the message was sent or copied to


@dataclass(frozen=True)
class RuleEffect:
    """What one matching rule said, for the trace on the ticket: only what that rule itself set."""

    rule: str
    settings: tuple[tuple[str, object], ...] = ()  # set.* other than tags, as (Decision field, value)
    tags: tuple[str, ...] = ()
    forward: tuple[str, ...] = ()
    answer: str | None = None  # None: this rule does not say
    drop: bool | None = None  # None: this rule does not say
    stop: bool = False

    def as_dict(self) -> dict:
        said = dict(self.settings)
        if self.tags:
            said["tags"] = list(self.tags)
        return {
            "rule": self.rule,
            "set": said,
            "forward": list(self.forward),
            "answer": self.answer,
            "drop": self.drop,
            "stop": self.stop,
        }


@dataclass(frozen=True)
class Decision:
    """What the rules decided for a new request."""

    category: str | None = None
    kind: str = "request"
    urgency: str = "normal"
    application: str | None = None
    level: int | None = None  # None: the level of the address it was sent to
    team: str | None = None  # set.team: the ticket goes to this team (and its level); None: routed by handles
    assignee: str | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()
    forward: tuple[str, ...] = ()
    answer: str | None = None
    drop: bool = False
    # each matching rule in order with what it set; not part of the decision itself (nor of equality)
    trace: tuple[RuleEffect, ...] = field(default=(), compare=False)

    def as_dict(self) -> dict:
        """The JSON shape of ``rules test --format json`` (SPEC section 8)."""
        return {
            "set": {
                "category": self.category,
                "kind": self.kind,
                "urgency": self.urgency,
                "application": self.application,
                "level": self.level,
                "assignee": self.assignee,
                "language": self.language,
                "tags": list(self.tags),
            },
            "matched": list(self.matched),
            "forward": list(self.forward),
            "answer": self.answer,
            "drop": self.drop,
        }

    def event_data(self) -> dict:
        """The ``rules`` event on a new ticket: the decision, and which rule set what (``trace``).

        A setting no rule in the trace names is a default.
        """
        return {**self.as_dict(), "trace": [effect.as_dict() for effect in self.trace]}


@dataclass(frozen=True)
class Command:
    """One bracketed technician command from a subject, e.g. ``[time=20m]``."""

    name: str
    value: str | None = None


#: The English sentence for each reason code, with its parameters in braces. It is the text of events and logs,
#: and what a template prints for a code it has no sentence for. The templates of each language say the same
#: in their own words: the ``reason`` macro of ``templates/<language>/_common.j2``.
REASON_TEXTS: dict[str, str] = {
    # command refusals (command_error)
    "unknown_command": "{tag}: unknown command",
    "needs_value": "[{name}=...] needs a value",
    "takes_no_value": "[{name}] takes no value",
    "not_an_address": "[assign={value}]: not an email address",
    "not_a_member": "[assign={value}]: {address} is not a member of any level",
    "last_level": "[escalate]: ticket is already at the last level ({level})",
    "no_such_level": "[level={value}]: no such level (levels are {levels})",
    "no_such_team": "[team={value}]: no such team (teams are {teams})",
    "not_one_of": "[{name}={value}]: must be one of {allowed}",
    "not_a_duration": "[time={value}]: not a duration like 20m or 1h",
    "too_long": "[time={value}]: more than a week in one mail looks like a mistake",
    "no_such_article": "[known={slug}]: no knowledge-base article has that slug",
    "nothing_to_file": "[kb]: the mail has no text to file",
    "not_published": "[known={slug}]: that article is {status}, not published",
    "no_draft": "[publish]: ticket #{ticket} has no draft article waiting to be published",
    # authentication refusals (command_error)
    "not_signed": (
        "commands and answers for ticket #{ticket} are only accepted when you reply to the "
        "signed reply address the desk gave you"
    ),
    "signed_for_other": "the reply address you wrote to was not issued to {sender}",
    "no_dkim": "no trusted DKIM pass for {domain} in Authentication-Results",
    # why a ticket moved or a level is told (notify_level, escalated)
    "no_reply_at_level": "no technician reply at level {level} within {after}",
    "first_response_passed": "first-response target for {urgency} urgency passed",
    "resolve_passed": "resolution target for {urgency} urgency passed",
    "requester_replied": "{requester} replied",
    # why the supervisors are told of a ticket (storm)
    "mail_storm": (
        "more than {cap} automatic mails about ticket #{ticket} within an hour; "
        "the desk holds back the rest and has tagged the ticket storm"
    ),
    "outsider_wrote": "{sender}, who is not a party to this ticket, wrote; nothing was changed",
}
#: Added to any reason whose ``held_back`` parameter is true (a refused command the text was written for).
HELD_BACK_TEXT = "; your text was not sent to the requester"


@dataclass(frozen=True)
class Reason:
    """Why something happened or was refused, as a code and parameters, so each language can say it.

    ``text`` is the English sentence (events, logs); :meth:`as_context` is the
    plain dictionary templates get: ``{"code", "params", "text"}``.
    """

    code: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, code: str, **params: Any) -> Reason:
        return cls(code, tuple(params.items()))

    def with_params(self, **params: Any) -> Reason:
        return Reason(self.code, tuple({**dict(self.params), **params}.items()))

    @property
    def text(self) -> str:
        params = dict(self.params)
        pattern = REASON_TEXTS.get(self.code)
        try:
            text = pattern.format(**params) if pattern is not None else None
        except (KeyError, IndexError, ValueError):
            text = None
        if text is None:  # an unknown code, or parameters that do not fit: say what there is
            shown = ", ".join(f"{key}={value}" for key, value in params.items() if key != "held_back")
            text = f"{self.code} ({shown})" if shown else self.code
        return text + (HELD_BACK_TEXT if params.get("held_back") else "")

    def as_context(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params), "text": self.text}

    def __str__(self) -> str:
        return self.text


def reason_parameters(code: str) -> tuple[str, ...]:
    """The parameter names the English sentence of ``code`` uses."""
    return tuple(name for _text, name, _spec, _conv in Formatter().parse(REASON_TEXTS.get(code, "")) if name)


@dataclass(frozen=True)
class Notification:
    """A mail the desk decided to send; rendered and queued in the outbox."""

    template: str  # ack, closed, reply, notify_level, escalated, command_error, forward, report, storm
    to: str
    ticket: int | None
    language: str
    context: dict = field(default_factory=dict, hash=False, compare=False)
    in_reply_to: str | None = None  # Message-ID this mail answers (threads it, and makes it "auto-replied")
    references: tuple[str, ...] = ()
    reply_to: str | None = None  # the signed reply address for this recipient
    automatic: bool = True  # counts against the per-recipient hourly cap and bounce suppression


@dataclass(frozen=True)
class TicketView:
    """A snapshot of a ticket after a change, for planning and rendering mail."""

    number: int
    subject: str
    status: str
    level: int
    urgency: str
    category: str | None
    kind: str
    application: str | None
    requester: str
    requester_name: str
    team: str | None = field(
        default=None, kw_only=True
    )  # None: the level's first team (tickets made before teams)
    organisation: str | None = field(default=None, kw_only=True)
    assignee: str | None
    language: str
    created_at: datetime
    closed_at: datetime | None
    time_spent: str
    root_message_id: str | None


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    body: str
    excerpt: str = ""


@dataclass(frozen=True)
class KbDraft:
    """The article a closure (or ``[kb]``) filed: the closing technician is mailed it to publish."""

    slug: str
    title: str
    body: str
    status: str  # "draft", or "published" with kb.review = false
    updates_slug: str | None = None  # the published article it proposes to update
    updates_title: str | None = None


@dataclass(frozen=True)
class TicketChange:
    """What applying one message did to one ticket; ``plan`` turns it into mail."""

    ticket: TicketView
    message_id: str  # the message that caused the change
    references: tuple[str, ...]  # its References, for threading replies
    author: str  # From of that message
    author_name: str
    text: str  # the author's text (reply stripped)
    created: bool = False
    automatic: bool = False  # no acknowledgement, no state change
    acknowledge: bool = False  # send the requester an acknowledgement
    answer_to_requester: bool = False  # relay ``text`` to the requester as a reply
    closed: bool = False
    silent: bool = False  # closed as spam: nothing to the requester
    level_reached: int | None = None  # a level the ticket was created at or moved to
    team_reached: str | None = None  # the team of level_reached it went to; None: the level's first team
    past_last_level: bool = False  # an escalation ran out of levels: tell the supervisors
    reasons: tuple[Reason, ...] = ()  # why an escalation happened
    command_errors: tuple[Reason, ...] = ()  # why commands were refused
    forward: tuple[str, ...] = ()
    articles: tuple[Article, ...] = ()  # suggestions for the acknowledgement
    answered_with: Article | None = None  # a knowledge-base article sent as the answer
    kb_draft: KbDraft | None = None  # the draft filed from this message (mailed to its author to publish)
    article_requested: Article | None = None  # a requester's [kb=SLUG]: the article, sent alone
    notify_exclude: tuple[str, ...] = ()  # level members not to notify (e.g. the technician who escalated)
    requester_replied: bool = False  # tell the assignee (else the level) that the requester wrote
    outsider_wrote: bool = False  # someone who does not speak on the ticket wrote: tell, change nothing

    @property
    def reason(self) -> str | None:
        """The reasons as one English sentence, or None."""
        return "; ".join(reason.text for reason in self.reasons) or None
