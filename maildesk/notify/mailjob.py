"""Render and compose outgoing mail from picklable jobs: the same code runs here or in a worker process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from maildesk.notify.compose import compose, compose_body
from maildesk.notify.render import Renderer
from maildesk.states import OutboxStatus

if TYPE_CHECKING:  # kept import-free of the outbox and the config at run time (a worker imports this)
    from maildesk.config import Settings
    from maildesk.storage.outbox import DraftMail


@dataclass(frozen=True)
class DeskIdentity:
    """Who the desk's mail comes from: all ``compose`` needs of the settings."""

    address: str
    name: str

    @property
    def message_id_domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class MailJob:
    """One drafted mail to render (and compose unless it cannot be sent)."""

    template: str
    language: str
    context: dict
    to: str
    reply_to: str | None
    ticket: int | None
    in_reply_to: str | None
    references: tuple[str, ...]
    message_id: str
    created_at: datetime
    sendable: bool  # False for a mail recorded as failed: only its subject is wanted

    @classmethod
    def of(cls, draft: DraftMail) -> MailJob:
        n = draft.notification
        return cls(
            template=n.template,
            language=n.language,
            context=n.context,
            to=n.to,
            reply_to=n.reply_to,
            ticket=n.ticket,
            in_reply_to=n.in_reply_to,
            references=tuple(n.references),
            message_id=draft.message_id,
            created_at=draft.created_at,
            sendable=draft.status != OutboxStatus.FAILED,
        )

    @staticmethod
    def desk_of(settings: Settings) -> DeskIdentity:
        return DeskIdentity(address=settings.desk.address, name=settings.desk.name)


def render_mails(renderer: Renderer, desk: DeskIdentity, jobs: Sequence[MailJob]) -> list[tuple[str, bytes]]:
    """``(subject, bytes)`` for each job, in order.

    Jobs that share one context object (a level's members told of the same
    ticket) are rendered and MIME-encoded once; only their headers differ.
    The jobs of one call stay alive throughout, so ``id(context)`` is a safe key.
    """
    done: dict[tuple[int, str, str], tuple] = {}
    results: list[tuple[str, bytes]] = []
    for job in jobs:
        key = (id(job.context), job.template, job.language)
        if key not in done:
            rendered = renderer.render(job.template, job.language, job.context)
            done[key] = (rendered, None)
        rendered, body = done[key]
        if not job.sendable:
            results.append((rendered.subject, b""))
            continue
        if body is None:
            body = compose_body(rendered)
            done[key] = (rendered, body)
        _message_id, data = compose(
            rendered,
            from_addr=desk.address,
            from_name=desk.name,
            to=job.to,
            reply_to=job.reply_to,
            ticket=job.ticket,
            loop_address=desk.address,
            in_reply_to=job.in_reply_to,
            references=job.references,
            message_id_domain=desk.message_id_domain,
            now=job.created_at,
            message_id=job.message_id,
            body=body,
        )
        results.append((rendered.subject, data))
    return results
