"""Timers of SPEC section 7: due times on the ticket, swept by an indexed query, fired once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from maildesk.runtime.app import App
from maildesk.runtime.sweep import sweep
from maildesk.storage.db import Database
from maildesk.storage.models import Event, Ticket
from tests.levels.helpers import (
    ALICE,
    BOB,
    CAROL,
    LEVEL2,
    REQUESTER,
    SUPERVISOR,
    Local,
    body_text,
    mail_new_ticket,
    parse,
    requester_mail,
    technician_mail,
)
from tests.support import FRONT_DESK, Desk, levels_toml, postgres_url

FAST_LEVELS = levels_toml((FRONT_DESK, "2s"), (("carol@example.org", "dave@example.org"), "3s"))
DAVE = "dave@example.org"


def _now() -> datetime:
    return datetime.now(UTC)


def _set(local: Local, number: int, **values) -> None:
    with local.app.db.session() as session:
        session.execute(update(Ticket).where(Ticket.number == number).values(**values))


def _sweep(local: Local, at: datetime) -> int:
    return sweep(local.app.db, local.app.pipeline, at)


# -- in-process, with the clock passed in --------------------------------------------------


def test_escalate_after_moves_the_ticket_once_and_notifies_the_next_level(local):
    number = local.new_ticket()
    due = local.ticket(number).escalate_due_at
    assert due is not None and timedelta(hours=3, minutes=59) < due - _now() <= timedelta(hours=4)
    mark = local.last_outbox_id()

    assert _sweep(local, due - timedelta(seconds=1)) == 0
    assert _sweep(local, due + timedelta(seconds=1)) == 1
    assert _sweep(local, due + timedelta(seconds=2)) == 0

    ticket = local.ticket(number)
    assert ticket.level == 2
    assert ticket.escalate_due_at == due + timedelta(seconds=1) + timedelta(days=1)  # level 2's clock started
    (event,) = local.events(number, "escalation")
    assert (event.data["from"], event.data["to"], event.data["by"]) == (1, 2, "timer")
    (notice,) = local.outbox("notify_level", since=mark)
    assert notice.to_addr == CAROL
    assert parse(notice)["Reply-To"] == local.desk.signed(number, CAROL, LEVEL2)
    assert "no technician reply at level 1" in body_text(parse(notice))
    assert local.outbox(to=REQUESTER, since=mark) == []


def test_past_the_last_level_the_supervisors_are_told_once(local):
    number = local.new_ticket(to=LEVEL2)
    due = local.ticket(number).escalate_due_at
    mark = local.last_outbox_id()

    assert _sweep(local, due + timedelta(seconds=1)) == 1
    assert _sweep(local, due + timedelta(days=30)) == 0

    ticket = local.ticket(number)
    assert ticket.level == 2 and ticket.escalate_due_at is None
    (mail,) = local.outbox(since=mark)
    assert (mail.template, mail.to_addr) == ("escalated", SUPERVISOR)
    text = body_text(parse(mail))
    assert "level," in text and "2 (Back desk)" in text
    (event,) = local.events(number, "escalation")
    assert event.data["to"] is None


def test_a_technician_reply_restarts_the_level_clock(local):
    number = local.new_ticket()
    # The ticket reached level 1 three hours ago: one hour is left on its 4h clock.
    _set(local, number, level_since=_now() - timedelta(hours=3), escalate_due_at=_now() + timedelta(hours=1))

    local.technician(number, ALICE, "[comment]", body="looking\n")  # a note is not a reply: clock unchanged
    assert local.ticket(number).escalate_due_at < _now() + timedelta(hours=1, seconds=5)
    local.technician(number, ALICE, body="Please try again now.\n")
    restarted = local.ticket(number).escalate_due_at
    assert restarted > _now() + timedelta(hours=3, minutes=59)

    assert _sweep(local, _now() + timedelta(hours=2)) == 0
    assert local.ticket(number).level == 1
    assert _sweep(local, restarted + timedelta(seconds=1)) == 1
    assert local.ticket(number).level == 2


def test_first_response_target_escalates_before_escalate_after(local):
    number = local.new_ticket(subject="Everything is down", headers={"Importance": "high"})
    local.technician(number, ALICE, "[urgency=critical] [comment]", body="critical\n")
    ticket = local.ticket(number)
    assert ticket.first_response_due_at == ticket.created_at + timedelta(minutes=30)

    assert _sweep(local, ticket.created_at + timedelta(minutes=31)) == 1

    ticket = local.ticket(number)
    assert ticket.level == 2 and ticket.first_response_due_at is None
    (event,) = local.events(number, "escalation")
    assert "first-response target" in event.data["reason"]
    assert _sweep(local, ticket.created_at + timedelta(minutes=32)) == 0


def test_closed_tickets_never_fire(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[close]")
    ticket = local.ticket(number)
    assert (ticket.escalate_due_at, ticket.first_response_due_at, ticket.resolve_due_at) == (None, None, None)
    assert _sweep(local, _now() + timedelta(days=365)) == 0


def test_pending_pauses_the_resolve_clock_and_reopening_restores_it(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[urgency=critical] [comment]", body="critical\n")
    # Created an hour ago: three of the four hours to resolve are left.
    created = _now() - timedelta(hours=1)
    _set(local, number, created_at=created, resolve_due_at=created + timedelta(hours=4))

    local.technician(number, ALICE, "[pending]", body="Can you send the error message?\n")

    ticket = local.ticket(number)
    assert ticket.status == "pending"
    assert ticket.resolve_due_at is None
    assert abs(ticket.resolve_remaining_s - 3 * 3600) < 60
    assert ticket.escalate_due_at is None  # waiting on the requester: no one to escalate to
    assert _sweep(local, _now() + timedelta(days=3)) == 0  # nothing fires while pending
    assert local.ticket(number).level == 1

    # The requester answers a while later: the clock goes on with what was left.
    local.deliver(requester_mail(number, body="Here it is: error 809.\n"))
    ticket = local.ticket(number)
    assert ticket.status == "open" and ticket.resolve_remaining_s is None
    left = ticket.resolve_due_at - _now()
    assert timedelta(hours=2, minutes=58) < left <= timedelta(hours=3)
    assert ticket.escalate_due_at is not None


def test_open_command_restores_the_paused_resolve_clock(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[urgency=critical] [pending] [comment]", body="x\n")
    remaining = local.ticket(number).resolve_remaining_s
    assert remaining is not None and local.ticket(number).resolve_due_at is None
    local.technician(number, ALICE, "[open] [comment]", body="y\n")
    ticket = local.ticket(number)
    assert ticket.resolve_remaining_s is None
    assert abs((ticket.resolve_due_at - _now()).total_seconds() - remaining) < 60


def test_urgency_change_while_pending_keeps_the_clock_paused(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[pending] [comment]", body="x\n")
    # Normal urgency has no targets here: the critical ones count from creation, an hour ago.
    _set(local, number, created_at=_now() - timedelta(hours=1))
    local.technician(number, ALICE, "[urgency=critical] [comment]", body="y\n")
    ticket = local.ticket(number)
    assert (
        ticket.status == "pending" and ticket.resolve_due_at is None and ticket.first_response_due_at is None
    )
    assert abs(ticket.resolve_remaining_s - 3 * 3600) < 60
    assert ticket.first_response_remaining_s == 0  # 30m target, an hour gone: due as soon as it is open


HIGH_TARGETS = """
[urgency.high]
first_response = "2h"
resolve = "8h"
"""


def test_urgency_change_carries_the_time_used_over_to_the_new_targets(tmp_path, sink):
    local = Local(Desk(tmp_path / "desk", sink=sink, extra=HIGH_TARGETS))
    try:
        number = local.new_ticket()
        local.technician(number, ALICE, "[urgency=high] [comment]", body="x\n")
        created = _now() - timedelta(hours=1)  # one hour used: 1h of 2h and 7h of 8h left
        _set(
            local,
            number,
            created_at=created,
            first_response_due_at=created + timedelta(hours=2),
            resolve_due_at=created + timedelta(hours=8),
        )

        local.technician(number, ALICE, "[pending] [comment]", body="x\n")
        local.technician(number, ALICE, "[urgency=critical] [comment]", body="y\n")

        ticket = local.ticket(number)
        assert ticket.status == "pending" and ticket.resolve_due_at is None
        assert abs(ticket.resolve_remaining_s - 3 * 3600) < 60  # 4h target, 1h used
        assert ticket.first_response_remaining_s == 0  # 30m target, 1h used

        local.technician(number, ALICE, "[urgency=high] [comment]", body="z\n")  # and back: 7h again
        ticket = local.ticket(number)
        assert abs(ticket.resolve_remaining_s - 7 * 3600) < 60

        local.technician(number, ALICE, "[open] [urgency=critical] [comment]", body="w\n")  # running now
        ticket = local.ticket(number)
        assert abs((ticket.resolve_due_at - _now()) - timedelta(hours=3)) < timedelta(minutes=1)
    finally:
        local.close()


def test_pending_pauses_the_first_response_target(local):
    number = local.new_ticket(subject="Everything is down")
    local.technician(number, ALICE, "[urgency=critical] [pending] [comment]", body="Waiting for the logs.\n")
    ticket = local.ticket(number)
    assert ticket.first_response_at is None and ticket.first_response_due_at is None
    assert 29 * 60 < ticket.first_response_remaining_s <= 30 * 60

    # Past the 30 minutes, and long after: nothing fires while the ticket waits on the requester.
    assert _sweep(local, ticket.created_at + timedelta(minutes=31)) == 0
    assert _sweep(local, _now() + timedelta(days=2)) == 0
    assert local.ticket(number).level == 1 and local.events(number, "escalation") == []

    # The requester answers: the first-response clock goes on with what was left.
    local.deliver(requester_mail(number, "Everything is down", body="Here are the logs.\n"))
    ticket = local.ticket(number)
    assert ticket.status == "open" and ticket.first_response_remaining_s is None
    assert timedelta(minutes=29) < ticket.first_response_due_at - _now() <= timedelta(minutes=30)
    assert _sweep(local, ticket.first_response_due_at + timedelta(seconds=1)) == 1
    (event,) = local.events(number, "escalation")
    assert "first-response target" in event.data["reason"]


def _reopen_by_requester(local, number):
    local.deliver(requester_mail(number, body="It is broken again.\n"))


def _reopen_by_command(local, number):
    local.technician(number, BOB, "[reopen] [comment]", body="Not fixed after all.\n")


def _reopen_by_technician_answer(local, number):
    local.technician(number, BOB, body="One more thing: please update the client too.\n")


@pytest.mark.parametrize("reopen", [_reopen_by_requester, _reopen_by_command, _reopen_by_technician_answer])
def test_reopening_an_old_ticket_runs_its_clocks_on_from_where_they_stopped(local, reopen):
    number = local.new_ticket()
    local.technician(number, ALICE, "[urgency=critical] [comment]", body="critical\n")
    # Three days old, paused most of that time: one hour of its 4h resolve target was left at closing.
    _set(local, number, created_at=_now() - timedelta(days=3), resolve_due_at=_now() + timedelta(hours=1))
    local.technician(number, ALICE, "[close]")
    closed = local.ticket(number)
    assert closed.resolve_due_at is None and abs(closed.resolve_remaining_s - 3600) < 60

    reopen(local, number)

    ticket = local.ticket(number)
    assert ticket.status == "open" and ticket.resolve_remaining_s is None
    assert timedelta(minutes=59) < ticket.resolve_due_at - _now() <= timedelta(hours=1)
    assert ticket.escalate_due_at is not None
    assert _sweep(local, _now() + timedelta(minutes=5)) == 0  # not escalated at the next sweep
    assert local.ticket(number).level == 1
    assert _sweep(local, ticket.resolve_due_at + timedelta(seconds=1)) == 1


def test_a_reopened_ticket_gets_back_the_first_response_time_left_at_closing(local):
    number = local.new_ticket()
    local.technician(number, ALICE, "[urgency=critical] [comment]", body="critical\n")
    _set(
        local,
        number,
        created_at=_now() - timedelta(days=1),
        first_response_due_at=_now() + timedelta(minutes=20),
    )
    signed = local.desk.signed(number, REQUESTER)  # the Reply-To of the acknowledgement
    local.deliver(requester_mail(number, "VPN down [close]", body="Works again.\n", to=signed), to=(signed,))
    # closed, never answered
    assert local.ticket(number).status == "closed"

    local.deliver(requester_mail(number, body="No, it does not.\n"))

    ticket = local.ticket(number)
    assert ticket.status == "open"
    assert timedelta(minutes=19) < ticket.first_response_due_at - _now() <= timedelta(minutes=20)
    assert _sweep(local, _now() + timedelta(minutes=5)) == 0


# -- several sweepers ---------------------------------------------------------------------


def _many_due_tickets(local: Local, count: int) -> datetime:
    for index in range(count):
        local.new_ticket(subject=f"Printer {index} jammed")
    return max(t.escalate_due_at for t in local.tickets()) + timedelta(seconds=1)


def _race(url: str, settings_path, at: datetime, sweepers: int = 2) -> list[int]:
    apps = [App.from_config(settings_path) for _ in range(sweepers)]
    dbs = [Database(url) for _ in range(sweepers)]
    counts: list[int] = [0] * sweepers
    start = threading.Barrier(sweepers)

    def run(index: int) -> None:
        start.wait()
        for _ in range(3):
            counts[index] += sweep(dbs[index], apps[index].pipeline, at, batch=7)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(sweepers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for db in dbs:
        db.dispose()
    for app in apps:
        app.close()
    return counts


def _escalations_per_ticket(local: Local) -> dict[int, int]:
    with local.app.db.session() as session:
        return dict(
            session.execute(
                select(Event.ticket, func.count()).where(Event.type == "escalation").group_by(Event.ticket)
            ).all()
        )


def test_two_sweepers_on_sqlite_escalate_each_ticket_once(local):
    at = _many_due_tickets(local, 20)
    counts = _race(local.desk.db_url, local.desk.config, at)
    assert sum(counts) == 20
    assert _escalations_per_ticket(local) == {t.number: 1 for t in local.tickets()}


@pytest.mark.postgres
def test_two_daemons_on_postgresql_escalate_each_ticket_once(tmp_path, sink):
    with postgres_url() as url:
        local = Local(Desk(tmp_path / "desk", sink=sink, db_url=url))
        try:
            at = _many_due_tickets(local, 40)
            counts = _race(url, local.desk.config, at, sweepers=3)
            assert sum(counts) == 40
            assert _escalations_per_ticket(local) == {t.number: 1 for t in local.tickets()}
            assert len(local.outbox("notify_level", CAROL)) == 40
        finally:
            local.close()


# -- end to end: a 2s timer across a restart -----------------------------------------------------


def _tickets_in(db_url: str) -> list[Ticket]:
    db = Database(db_url)
    try:
        with db.session() as session:
            return list(session.scalars(select(Ticket)))
    finally:
        db.dispose()


@pytest.mark.slow
def test_timer_fires_once_across_a_restart_then_reaches_the_supervisors(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink, levels=FAST_LEVELS, check_every="1s")
    desk.start()
    try:
        desk.send(requester_mail(None), mail_from=REQUESTER)
        deadline = time.monotonic() + 20
        while not _tickets_in(desk.db_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        desk.stop()  # well before the 2s level clock runs out
        (ticket,) = _tickets_in(desk.db_url)
        assert ticket.level == 1, "escalated before the daemon could be stopped"

        wait = (ticket.escalate_due_at - _now()).total_seconds() + 0.5
        time.sleep(max(0.0, wait))  # the timer comes due while no daemon runs
        desk.start()

        sink.wait_for(lambda m: m["To"] == CAROL, timeout=20, what="level 2 notice after the restart")
        sink.wait_for(lambda m: m["To"] == SUPERVISOR, timeout=20, what="supervisors' escalated mail")
        desk.stop()
        _nothing_fires_later(desk)  # a day of sweeps on the clock: nothing may fire again

        shown = desk.ticket(ticket.number)
        assert shown["level"] == 2
        steps = [(e["data"]["from"], e["data"]["to"]) for e in shown["events"] if e["type"] == "escalation"]
        assert steps == [(1, 2), (2, None)]
        received = [(str(m["To"]), str(m["Subject"])) for m in sink.parsed()]
        assert len([r for r in received if r[0] == CAROL]) == 1
        assert len([r for r in received if r[0] == DAVE]) == 1
        assert len([r for r in received if r[0] == SUPERVISOR]) == 1
        assert len([r for r in received if r[0] == ALICE]) == 1  # only the new-ticket notice
        (lead,) = [m for m in sink.parsed() if m["To"] == SUPERVISOR]
        assert "2 (Back desk)" in body_text(lead)
    finally:
        desk.stop()


def _nothing_fires_later(desk: Desk, *, up_to: timedelta = timedelta(days=1)) -> None:
    """The desk's own sweep, in this process with its clock driven on (a minute, then ``up_to``): nothing is due.

    Stands in for sleeping through real sweeps: the daemon runs this same sweep with the time of day.
    """
    local = Local(desk)
    try:
        for later in (timedelta(minutes=1), up_to):
            assert _sweep(local, _now() + later) == 0
    finally:
        local.close()


def _escalations(shown: dict) -> list[tuple]:
    steps = [e.get("data") or {} for e in shown["events"] if e["type"] == "escalation"]
    return [(data.get("from"), data.get("to", data.get("level")), data.get("by")) for data in steps]


ONE_FAST_LEVEL = levels_toml((FRONT_DESK, "2s"), (("carol@example.org",), "1h"))


@pytest.mark.slow
def test_a_timer_that_fired_does_not_fire_again_after_a_restart(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink, levels=ONE_FAST_LEVEL, check_every="1s")
    desk.start()
    try:
        number = mail_new_ticket(desk)
        sink.wait_for(lambda m: m["To"] == CAROL, timeout=20, what="level 2 notice from the 2s timer")
        desk.stop()
        assert len(sink.to(CAROL)) == 1
        assert _escalations(desk.ticket(number)) == [(1, 2, "timer")]

        desk.start()
        desk.stop()
        # The restarted desk's sweeps, up to half an hour on (level 2's own clock is 1h): the fired timer
        # stays spent.
        _nothing_fires_later(desk, up_to=timedelta(minutes=30))

        assert len(sink.to(CAROL)) == 1
        assert sink.to(SUPERVISOR) == []
        shown = desk.ticket(number)
        assert shown["level"] == 2
        assert _escalations(shown) == [(1, 2, "timer")]
    finally:
        desk.stop()


# Level 2's clock is the short one: the technician who hands the ticket there and puts it pending in the
# same mail leaves no moment in which the 2s clock could run out before the ticket is pending.
PENDING_LEVELS = levels_toml(
    (FRONT_DESK, "1h"), (("carol@example.org",), "2s"), (("dave@example.org",), "1h")
)


@pytest.mark.slow
def test_pending_pauses_the_escalation_clock_end_to_end_and_the_requesters_reply_restarts_it(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink, levels=PENDING_LEVELS, check_every="1s")
    desk.start()
    try:
        number = mail_new_ticket(desk)

        data, recipients = technician_mail(
            desk, number, ALICE, "[level=2] [pending]", body="Which error message do you see?\n"
        )
        desk.send(data, mail_from=ALICE, to=recipients)
        sink.wait_for(lambda m: m["To"] == CAROL, what="level 2 notice")
        (question,) = sink.wait_for(
            lambda m: m["To"] == REQUESTER and "Which error message" in body_text(m),
            what="the question relayed to the requester",
        )
        shown = desk.ticket(number)
        assert (shown["status"], shown["level"]) == ("pending", 2)

        _nothing_fires_later(desk)  # far past the 2s clock: nothing fires while pending
        shown = desk.ticket(number)
        assert (shown["status"], shown["level"]) == ("pending", 2)
        assert sink.to(DAVE) == []
        assert [step for step in _escalations(shown) if step[2] == "timer"] == []

        desk.send(
            requester_mail(number, body="Here it is: error 809.\n"),
            mail_from=REQUESTER,
            to=[str(question["Reply-To"])],
        )
        (notice,) = sink.wait_for(
            lambda m: m["To"] == DAVE, timeout=20, what="level 3 notice once the clock ran"
        )
        assert "Ticket for Experts" in str(notice["Subject"])
        assert "no technician reply at level 2 within 2s" in body_text(notice)
        shown = desk.ticket(number)
        assert shown["level"] == 3 and shown["status"] == "open"
        assert [step for step in _escalations(shown) if step[2] == "timer"] == [(2, 3, "timer")]
        kinds = [
            (e["type"], (e.get("data") or {}).get("status"), (e.get("data") or {}).get("by"))
            for e in shown["events"]
        ]  # in the order they happened
        assert kinds.index(("status", "open", None)) < kinds.index(("escalation", None, "timer"))
    finally:
        desk.stop()
