"""No storm: every mail about a ticket counts against an hourly cap; beyond it, the supervisors hear once."""

from __future__ import annotations

import email
import email.policy
import smtplib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from maildesk.config import ConfigError, load_settings
from maildesk.runtime.app import App
from maildesk.runtime.sweep import sweep
from maildesk.storage.models import Outbox, Ticket
from tests.loop_helpers import deliver, events, outbox, ticket
from tests.support import Desk, SmtpSink, clear_tables, db_rows, make_message, wait_until

REQUESTER = "user@client.com"
ALICE = "alice@example.org"
SUPERVISOR = "lead@example.org"
CAP = 20  # the default of security.auto_mail_per_ticket_per_hour


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    desk = Desk(tmp_path_factory.mktemp("storm") / "desk")
    application = App.from_config(desk.config)
    yield desk, application
    application.close()


@pytest.fixture
def app(shared) -> App:
    application = shared[1]
    clear_tables(application.db)
    return application


def about(app: App, number: int) -> list[Outbox]:
    return [row for row in outbox(app) if row.ticket == number]


def follow_up(app: App, number: int, index: int) -> None:
    """The requester writes again: the level's two members are told (two mails)."""
    deliver(app, make_message(subject=f"Re: [Support #{number}] VPN down", body=f"Still broken ({index}).\n"))


def test_mail_about_one_ticket_is_capped_whatever_the_template_and_recipient(app):
    number = deliver(app, make_message(subject="VPN down")).ticket  # ack + 2 notify_level
    for index in range(12):  # 24 notify_level mails more
        follow_up(app, number, index)
    rows = about(app, number)
    going = [row for row in rows if row.status in ("queued", "sent") and row.template != "storm"]
    held = [row for row in rows if row.status == "suppressed"]
    assert len(going) == CAP
    assert {row.template for row in going} == {"ack", "notify_level"}
    assert len(held) == 3 + 24 - CAP
    assert all(row.last_error.startswith("mail storm: hourly cap of 20 mails about ticket") for row in held)
    # The ticket says so, and the supervisors heard of it once.
    assert "storm" in ticket(app, number).tags
    (notice,) = [row for row in rows if row.template == "storm"]
    assert (notice.to_addr, notice.status) == (SUPERVISOR, "queued")
    message = email.message_from_bytes(notice.raw, policy=email.policy.default)
    assert f"[Support #{number}]" in str(message["Subject"]) and "storm" in str(message["Subject"]).lower()
    assert "more than 20 automatic mails" in message.get_content()
    (noted,) = [e for e in events(app, number) if e.type == "notification"]
    assert noted.data["storm"] is True and noted.data["told"] == [SUPERVISOR]


def test_one_storm_is_told_once_and_a_new_one_after_a_quiet_hour(app):
    number = deliver(app, make_message(subject="VPN down")).ticket
    for index in range(20):
        follow_up(app, number, index)
    assert len(outbox(app, template="storm")) == 1
    # An hour later, with nothing held back since, mail goes out again; a new storm is told again.
    with app.db.session() as session:
        session.execute(update(Outbox).values(created_at=datetime.now(UTC) - timedelta(hours=2)))
    follow_up(app, number, 100)
    assert [row.status for row in about(app, number)[-2:]] == ["queued", "queued"]
    for index in range(10):
        follow_up(app, number, 200 + index)
    assert len(outbox(app, template="storm")) == 2


def test_other_tickets_are_not_held_back(app):
    stormy = deliver(app, make_message(subject="VPN down")).ticket
    for index in range(12):
        follow_up(app, stormy, index)
    calm = deliver(
        app, make_message(subject="Printer", sender="other@client.com"), mail_from="other@client.com"
    )
    assert {row.status for row in about(app, calm.ticket)} == {"queued"}


def test_escalations_by_the_timer_count_too(app):
    number = deliver(app, make_message(subject="VPN down")).ticket
    for index in range(9):
        follow_up(app, number, index)  # 3 + 18 = 21: one held back, the storm told
    assert len(outbox(app, template="storm")) == 1
    with app.db.session() as session:
        session.execute(
            update(Ticket)
            .where(Ticket.number == number)
            .values(escalate_due_at=datetime.now(UTC) - timedelta(1))
        )
    assert sweep(app.db, app.pipeline, datetime.now(UTC)) == 1
    (told,) = [row for row in about(app, number) if row.to_addr == "carol@example.org"]
    assert told.status == "suppressed" and told.last_error.startswith("mail storm:")
    assert len(outbox(app, template="storm")) == 1


@pytest.mark.parametrize("value", ["0", "-3", '"20"', "true"])
def test_the_cap_is_validated_like_its_neighbours(tmp_path, value):
    desk = Desk(tmp_path / "desk")
    text = desk.config.read_text().replace(
        "[security]\n", f"[security]\nauto_mail_per_ticket_per_hour = {value}\n"
    )
    desk.config.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(desk.config)
    assert "security.auto_mail_per_ticket_per_hour" in str(raised.value)
    assert f"{desk.config}:" in str(raised.value)


# -- two autoresponders and the real listener ---------------------------------------------------------


class AutoresponderSink(SmtpSink):
    """The desk's relay, where the requester and a technician each have an auto-responder.

    Each answers every mail it gets, at once, to its Reply-To (as mail clients and vacation
    programs do, so the technician's goes to the signed address), up to ``limit`` answers each.
    ``marked`` says whether the answers say what they are (an "Automatic reply:" subject, an
    X-Autoreply header) or carry nothing but "Re:" and a body.
    """

    def __init__(self, responders: tuple[str, ...], *, marked: bool, limit: int = 60) -> None:
        super().__init__()
        self.responders = responders
        self.marked = marked
        self.limit = limit
        self.desk_port = 0
        self.answered: dict[str, int] = dict.fromkeys(responders, 0)
        self.in_flight = 0
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._count = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        status = await super().handle_DATA(server, session, envelope)
        data = envelope.original_content or envelope.content
        for rcpt in envelope.rcpt_tos:
            with self._count:
                if rcpt not in self.responders or self.answered[rcpt] >= self.limit:
                    continue
                self.answered[rcpt] += 1
                self.in_flight += 1
            self._pool.submit(self._answer, rcpt, data)
        return status

    def _answer(self, robot: str, data: bytes) -> None:
        try:
            received = email.message_from_bytes(data, policy=email.policy.default)
            to = received["Reply-To"].addresses[0].addr_spec
            subject = str(received["Subject"])
            headers = {"In-Reply-To": str(received["Message-ID"])}
            if self.marked:
                subject = f"Automatic reply: {subject}"
                headers["X-Autoreply"] = "yes"
            else:
                subject = f"Re: {subject}"
            answer = make_message(
                subject=subject,
                body="I am away until Monday and will read your message when I am back.\n",
                sender=robot,
                to=to,
                message_id=f"<{uuid.uuid4().hex}@robot.example>",
                headers=headers,
            )
            with smtplib.SMTP("127.0.0.1", self.desk_port, timeout=30) as client:
                client.sendmail(robot, [to], answer)
        finally:
            with self._count:
                self.in_flight -= 1

    def stop(self) -> None:
        super().stop()
        self._pool.shutdown(wait=True)


def _settled(desk: Desk, sink: AutoresponderSink) -> bool:
    """Nothing moves any more: every answer stored and processed, no mail waiting, no answer being written."""
    if sink.in_flight:
        return False
    ((stored, pending),) = db_rows(
        desk.db_url,
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) FROM inbox",
    )
    ((queued,),) = db_rows(desk.db_url, "SELECT COUNT(*) FROM outbox WHERE status = 'queued'")
    return pending == 0 and queued == 0 and stored == 1 + sum(sink.answered.values()) and not sink.in_flight


def _run_desk(tmp_path, sink: AutoresponderSink) -> Desk:
    sink.start()
    desk = Desk(tmp_path / "desk", sink=sink)
    sink.desk_port = desk.port
    desk.start()
    return desk


def test_two_unmarked_autoresponders_produce_at_most_the_cap(tmp_path):
    # Neither robot says it is one: the requester's answers every ack and reply, the technician's every
    # notification, at its signed address (so each is relayed to the requester as an answer).
    sink = AutoresponderSink((REQUESTER, ALICE), marked=False)
    desk = _run_desk(tmp_path, sink)
    try:
        desk.send(make_message(subject="VPN down"))
        wait_until(lambda: _settled(desk, sink), timeout=120, interval=0.2, what="the loop to stop")
        delivered = sink.parsed()
        about_ticket = [m for m in delivered if str(m["X-Maildesk-Ticket"]) == "1"]
        storm = [m for m in about_ticket if "storm" in str(m["Subject"]).lower()]
        assert len(about_ticket) - len(storm) <= CAP
        assert [str(m["To"]) for m in storm] == [SUPERVISOR]
        # The robots ran out of mail to answer long before their own limit: the desk stopped the loop.
        assert max(sink.answered.values()) < sink.limit
        assert min(sink.answered.values()) >= 3  # it was a loop, not a single exchange
        (shown,) = desk.tickets()
        assert "storm" in shown["tags"]
        held = [row for row in desk.json("outbox", "list", "--status", "suppressed")]
        assert held and all(row["last_error"].startswith("mail storm:") for row in held)
    finally:
        desk.stop()
        sink.stop()


def test_marked_autoresponders_end_the_exchange_at_once_and_a_vacation_reply_is_not_relayed(tmp_path):
    sink = AutoresponderSink((REQUESTER, ALICE), marked=True)
    desk = _run_desk(tmp_path, sink)
    try:
        desk.send(make_message(subject="VPN down"))
        wait_until(lambda: _settled(desk, sink), timeout=60, interval=0.2, what="the exchange to end")
        # The ack and the two notifications, one answer from each robot, and nothing else.
        assert sorted(str(m["To"]) for m in sink.parsed()) == sorted([REQUESTER, ALICE, "bob@example.org"])
        assert sink.answered == {REQUESTER: 1, ALICE: 1}
        shown = desk.ticket(1)
        assert shown["status"] == "new" and shown["first_response_at"] is None
        robots = [
            e for e in shown["events"] if e.get("from") in (REQUESTER, ALICE) and e["type"] == "message"
        ]
        assert len(robots) == 3  # the request, and the two automatic replies recorded as messages
        assert [e["type"] for e in shown["events"]].count("reply") == 0
    finally:
        desk.stop()
        sink.stop()
