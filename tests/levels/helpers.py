"""Helpers for the level, command and timer tests: technician mail, in-process delivery, sink checks."""

from __future__ import annotations

import email.message
import email.policy
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parseaddr

from sqlalchemy import select

from maildesk.runtime.app import App
from maildesk.storage.models import Event, KbArticle, Outbox, Ticket
from maildesk.types import RawMessage
from tests.support import Desk, make_message

REQUESTER = "user@client.com"
LEVEL1 = "support@example.org"
LEVEL2 = "support-l2@example.org"
ALICE, BOB, CAROL = "alice@example.org", "bob@example.org", "carol@example.org"
SUPERVISOR = "lead@example.org"

REPLY_BODY = (
    "Please restart the VPN client, then sign in again.\n\n"
    "-- \nAlice Martin\nFront desk, Example Support\n\n"
    "On Sun, 22 Nov 2026 at 09:00, Una User <user@client.com> wrote:\n"
    "> Hello,\n> the VPN fails since this morning.\n"
)
RELAYED = "Please restart the VPN client, then sign in again."


def technician_mail(
    desk: Desk,
    number: int,
    technician: str,
    commands: str = "",
    *,
    body: str = REPLY_BODY,
    subject: str = "VPN down",
    to: Sequence[str] | None = None,
    cc: Sequence[str] = (),
    level_address: str = LEVEL1,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, list[str]]:
    """A technician's reply about ticket ``number`` and its envelope recipients.

    By default it goes to the signed reply address the desk issued to that
    technician for ``level_address``, as replying to a notify_level mail does.
    """
    recipients = list(to) if to is not None else [desk.signed(number, technician, level_address)]
    extra = dict(headers or {})
    if cc:
        extra["Cc"] = ", ".join(cc)
    tagged = f"Re: [Support #{number}] {subject}" + (f" {commands}" if commands else "")
    data = make_message(
        subject=tagged,
        body=body,
        sender=technician,
        name=technician.split("@")[0].title(),
        to=", ".join(recipients),
        headers=extra,
    )
    return data, [*recipients, *cc]


def requester_mail(
    number: int | None,
    subject: str = "VPN down",
    *,
    sender: str = REQUESTER,
    body: str = "Hello,\nthe VPN fails since this morning.\n",
    to: str = LEVEL1,
    headers: dict[str, str] | None = None,
) -> bytes:
    tagged = f"Re: [Support #{number}] {subject}" if number is not None else subject
    return make_message(subject=tagged, body=body, sender=sender, to=to, headers=headers)


def mail_new_ticket(desk: Desk) -> int:
    """The requester writes to the running daemon over SMTP; the number of the ticket it opens."""
    desk.send(requester_mail(None), mail_from=REQUESTER)
    (ticket,) = desk.wait_for_tickets(1)
    return ticket["number"]


class Local:
    """The desk run in-process: deliver through the real pipeline, read the database back."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.app = App.from_config(desk.config)

    def deliver(self, data: bytes, to: Sequence[str] = (LEVEL1,), mail_from: str | None = None) -> None:
        if mail_from is None:
            mail_from = _from_header(data)
        self.app.inbox.accept(
            RawMessage(
                data=data,
                mail_from=mail_from,
                rcpt_tos=tuple(to),
                source="smtp",
                received_at=datetime.now(UTC),
            )
        )
        self.app.process_pending()

    def technician(self, number: int, technician: str, commands: str = "", **kwargs) -> None:
        data, recipients = technician_mail(self.desk, number, technician, commands, **kwargs)
        self.deliver(data, recipients, technician)

    def new_ticket(
        self,
        subject: str = "VPN down",
        *,
        sender: str = REQUESTER,
        to: str = LEVEL1,
        headers: dict[str, str] | None = None,
    ) -> int:
        before = {t.number for t in self.tickets()}
        self.deliver(requester_mail(None, subject, sender=sender, to=to, headers=headers), (to,), sender)
        (number,) = {t.number for t in self.tickets()} - before
        return number

    def tickets(self) -> list[Ticket]:
        with self.app.db.session() as session:
            return list(session.scalars(select(Ticket).order_by(Ticket.number)))

    def ticket(self, number: int) -> Ticket:
        with self.app.db.session() as session:
            ticket = session.get(Ticket, number)
            assert ticket is not None
            return ticket

    def events(self, number: int, type_: str | None = None) -> list[Event]:
        with self.app.db.session() as session:
            query = select(Event).where(Event.ticket == number).order_by(Event.id)
            if type_ is not None:
                query = query.where(Event.type == type_)
            return list(session.scalars(query))

    def outbox(self, template: str | None = None, to: str | None = None, *, since: int = 0) -> list[Outbox]:
        with self.app.db.session() as session:
            query = select(Outbox).where(Outbox.id > since).order_by(Outbox.id)
            if template is not None:
                query = query.where(Outbox.template == template)
            if to is not None:
                query = query.where(Outbox.to_addr == to)
            return list(session.scalars(query))

    def last_outbox_id(self) -> int:
        rows = self.outbox()
        return rows[-1].id if rows else 0

    def articles(self) -> list[KbArticle]:
        with self.app.db.session() as session:
            return list(session.scalars(select(KbArticle).order_by(KbArticle.id)))

    def close(self) -> None:
        self.app.close()


def _from_header(data: bytes) -> str:
    return parseaddr(email.message_from_bytes(data)["From"] or "")[1]


def parse(row: Outbox) -> email.message.EmailMessage:
    return email.message_from_bytes(row.raw, policy=email.policy.default)


def body_text(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def unique_id() -> str:
    return f"<{uuid.uuid4().hex}@client.com>"


def dkim_desk(directory, *, sink, trusted: Sequence[str] = ("mx.example.org",), **kwargs) -> Desk:
    """A desk whose ``[security]`` table also has ``dkim_required = true`` and the trusted authserv-ids."""
    desk = Desk(directory, sink=sink, **kwargs)
    text = desk.config.read_text()
    auth_line = f'command_auth = "{kwargs.get("command_auth", "signed")}"\n'
    assert auth_line in text
    ids = ", ".join(f'"{server}"' for server in trusted)
    dkim = f"dkim_required = true\ntrusted_authserv_ids = [{ids}]\n"
    desk.config.write_text(text.replace(auth_line, auth_line + dkim))
    return desk
