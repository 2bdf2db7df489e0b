"""Which ticket a message belongs to (SPEC section 5), and replies to closed tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from maildesk.runtime.app import App
from maildesk.security.signing import signed_address
from maildesk.storage.models import Event, Outbox, Ticket
from maildesk.types import RawMessage
from tests.support import Desk, clear_tables, make_message


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory):
    desk = Desk(tmp_path_factory.mktemp("threading") / "desk")
    application = App.from_config(desk.config)
    yield application
    application.close()


@pytest.fixture
def app(shared_app):
    clear_tables(shared_app.db)
    return shared_app


def deliver(
    app: App,
    data: bytes,
    *,
    mail_from: str = "user@client.com",
    to: tuple[str, ...] = ("support@example.org",),
) -> int | None:
    app.inbox.accept(
        RawMessage(data=data, mail_from=mail_from, rcpt_tos=to, source="smtp", received_at=datetime.now(UTC))
    )
    (outcome,) = app.processor.process_pending()
    assert outcome.state == "done", outcome.reason
    return outcome.ticket


def tickets(app: App) -> list[Ticket]:
    with app.db.session() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.number)))


def get(app: App, number: int) -> Ticket:
    with app.db.session() as session:
        return session.get(Ticket, number)


def events(app: App, number: int) -> list[Event]:
    with app.db.session() as session:
        return list(session.scalars(select(Event).where(Event.ticket == number).order_by(Event.id)))


def sent(app: App, number: int, template: str) -> list[Outbox]:
    with app.db.session() as session:
        return list(
            session.scalars(select(Outbox).where(Outbox.ticket == number, Outbox.template == template))
        )


def test_subject_tag_joins_ticket(app):
    number = deliver(app, make_message(subject="VPN down"))
    assert deliver(app, make_message(subject=f"RE: [support #{number}] VPN down")) == number
    assert deliver(app, make_message(subject=f"Fwd: [ Support # {number} ]")) == number
    assert len(tickets(app)) == 1


def test_unknown_tag_opens_a_new_ticket(app):
    number = deliver(app, make_message(subject="[Support #999] old ticket from another desk"))
    assert number != 999
    assert len(tickets(app)) == 1


def test_in_reply_to_a_sent_message_joins_ticket(app):
    number = deliver(app, make_message(subject="VPN down"))
    (ack,) = sent(app, number, "ack")
    assert deliver(app, make_message(subject="Re: your mail", in_reply_to=ack.message_id)) == number
    assert len(tickets(app)) == 1


def test_references_to_a_sent_message_join_ticket(app):
    number = deliver(app, make_message(subject="VPN down"))
    (ack,) = sent(app, number, "ack")
    data = make_message(
        subject="Re: hello",
        headers={
            "In-Reply-To": "<unknown@elsewhere.net>",
            "References": f"{ack.message_id} <unknown@elsewhere.net>",
        },
    )
    assert deliver(app, data) == number
    assert len(tickets(app)) == 1


def test_references_to_a_received_message_join_ticket(app):
    number = deliver(app, make_message(subject="VPN down", message_id="<first@client.com>"))
    data = make_message(
        subject="and another thing",
        sender="colleague@client.com",
        headers={"References": "<first@client.com>"},
    )
    assert deliver(app, data, mail_from="colleague@client.com") == number


def test_signed_address_wins_over_a_conflicting_tag(app):
    first = deliver(app, make_message(subject="VPN down"))
    second = deliver(app, make_message(subject="Printer jammed"))
    signed = signed_address(app.pipeline.secret, "support@example.org", first, "user@client.com")
    joined = deliver(
        app, make_message(subject=f"Re: [Support #{second}] Printer jammed", to=signed), to=(signed,)
    )
    assert joined == first
    assert [e.type for e in events(app, second)].count("message") == 1


def test_signed_address_with_a_bad_signature_still_threads_like_a_tag(app):
    number = deliver(app, make_message(subject="VPN down"))
    forged = f"support+{number}-aaaaaaaaaa@example.org"
    assert deliver(app, make_message(subject="no tag here", to=forged), to=(forged,)) == number


def close(app: App, number: int, days_ago: float = 0) -> None:
    """The requester closes it from the Reply-To of their acknowledgement (their signed address)."""
    signed = signed_address(app.pipeline.secret, "support@example.org", number, "user@client.com")
    deliver(
        app,
        make_message(subject=f"[Support #{number}] [close]", body="Thanks, solved.\n", to=signed),
        to=(signed,),
    )
    assert get(app, number).status == "closed"
    if days_ago:
        with app.db.session() as session:
            session.execute(
                update(Ticket)
                .where(Ticket.number == number)
                .values(closed_at=datetime.now(UTC) - timedelta(days=days_ago))
            )


def test_reply_to_a_closed_ticket_within_reopen_within_reopens_it(app):
    number = deliver(app, make_message(subject="VPN down"))
    close(app, number, days_ago=13)
    assert (
        deliver(app, make_message(subject=f"Re: [Support #{number}] VPN down", body="It is back.\n"))
        == number
    )
    ticket = get(app, number)
    assert ticket.status == "open"
    assert events(app, number)[-1].type == "status"
    assert len(tickets(app)) == 1


def test_reply_to_a_ticket_closed_too_long_ago_opens_a_linked_ticket(app):
    number = deliver(app, make_message(subject="VPN down"))
    close(app, number, days_ago=15)
    newer = deliver(app, make_message(subject=f"Re: [Support #{number}] VPN down", body="It is back.\n"))
    assert newer != number
    assert get(app, number).status == "closed"
    fresh = get(app, newer)
    assert (fresh.status, fresh.linked_to, fresh.requester) == ("new", number, "user@client.com")
    first_event = events(app, newer)[0]
    assert first_event.type == "message" and first_event.data.get("linked_to") == number
    assert len(sent(app, newer, "ack")) == 1
    # Later replies about the new ticket stay with it.
    assert deliver(app, make_message(subject=f"Re: [Support #{newer}] VPN down")) == newer


def test_reply_by_references_to_a_ticket_closed_too_long_ago_opens_a_linked_ticket(app):
    number = deliver(app, make_message(subject="VPN down"))
    (ack,) = sent(app, number, "ack")
    close(app, number, days_ago=30)
    newer = deliver(app, make_message(subject="Re: Request received", in_reply_to=ack.message_id))
    assert newer != number
    assert get(app, newer).linked_to == number
