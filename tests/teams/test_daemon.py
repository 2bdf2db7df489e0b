"""Teams through the real daemon: SMTP in, notifications out to a real sink."""

from __future__ import annotations

import pytest

from tests.levels.helpers import REQUESTER, requester_mail, technician_mail
from tests.support import wait_until
from tests.teams.desks import ALICE, CAROL, ERIN, FUNCTIONAL, LEVEL1, TECHNICAL, team_desk

pytestmark = pytest.mark.slow


@pytest.fixture
def running(tmp_path, sink):
    desk = team_desk(tmp_path / "desk", sink=sink)
    desk.start()
    yield desk
    desk.stop()


def _notified(sink, number: int) -> set[str]:
    return {
        message["To"]
        for message in sink.parsed()
        if message["X-Maildesk-Ticket"] == str(number) and message["To"] not in (REQUESTER,)
        and message["Auto-Submitted"] != "auto-replied"
    }  # fmt: skip


def test_mail_to_a_team_address_reaches_that_team_and_only_its_members(running, sink):
    running.send(requester_mail(None, "Need access to the archive", to=FUNCTIONAL), to=[FUNCTIONAL])
    (ticket,) = running.wait_for_tickets(1)
    assert (ticket["level"], ticket["team"], ticket["organisation"]) == (2, "functional", "Client SA")
    sink.wait_for(lambda m: m["To"] == CAROL, what="notify_level to carol")
    ack = sink.wait_for(lambda m: m["To"] == REQUESTER, what="the acknowledgement")[0]
    assert ack["Reply-To"].startswith("support-functional+")
    assert _notified(sink, ticket["number"]) == {CAROL}


def test_a_technician_hands_a_ticket_to_a_team_by_mail(running, sink):
    running.send(requester_mail(None, "Printer jammed"), to=[LEVEL1])
    (ticket,) = running.wait_for_tickets(1)
    number = ticket["number"]
    data, recipients = technician_mail(running, number, ALICE, body="Erin, over to you.\n", cc=[TECHNICAL])
    running.send(data, mail_from=ALICE, to=recipients)
    wait_until(lambda: running.ticket(number)["team"] == "technical", what="the ticket in team technical")
    assert running.ticket(number)["level"] == 2
    mail = sink.wait_for(lambda m: m["To"] == ERIN, what="notify_level to erin")[0]
    assert mail["Reply-To"].startswith("support-l2+")
    # Erin answers through her signed address: accepted as a technician's reply.
    data, recipients = technician_mail(
        running, number, ERIN, "[close]", body="Fixed.\n", level_address=TECHNICAL
    )
    running.send(data, mail_from=ERIN, to=recipients)
    wait_until(lambda: running.ticket(number)["status"] == "closed", what="the ticket closed")
    assert CAROL not in {m["To"] for m in sink.parsed()}
