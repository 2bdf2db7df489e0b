"""A desk driven in-process on a clock the test sets: tickets at controlled times, the report read back."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from maildesk.runtime.sweep import sweep
from tests.levels.helpers import REQUESTER, Local, requester_mail
from tests.support import Desk, levels_toml, run_cli

ALICE, BOB, CAROL = "alice@example.org", "bob@example.org", "carol@example.org"
NOVEMBER = ("--since", "2026-11-01", "--until", "2026-12-01")
DECEMBER = ("--since", "2026-12-01", "--until", "2027-01-01")
LEVELS = levels_toml(
    (("alice@example.org", "bob@example.org"), "4h"),
    (("carol@example.org",), "1d"),
    (("dave@example.org",), "2d"),
)
RULES = """
[[rule]]
name = "ERP"
if.subject = '(?i)\\berp\\b'
set.application = "ERP"
set.category = "functional"

[[rule]]
name = "VPN"
if.subject = '(?i)\\bvpn\\b'
set.application = "VPN"
set.category = "technical"

[[rule]]
name = "password"
if.subject = '(?i)password'
set.application = "Mail"
answer = "password-reset"
"""
TARGETS = """
[urgency.normal]
first_response = "1h"
resolve = "8h"
"""


class Timeline(Local):
    """The desk's pipeline applies each message at the moment the test says (``at``)."""

    def __init__(self, directory: Path, *, extra: str = "", levels: str = LEVELS, desk: str = "") -> None:
        super().__init__(Desk(directory, levels=levels, rules=RULES, extra=TARGETS + extra, desk=desk))
        self.now = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
        self.app.processor.clock = lambda: self.now

    def at(self, moment: str) -> Timeline:
        self.now = datetime.fromisoformat(moment)
        return self

    def opens(self, subject: str, sender: str = REQUESTER, body: str | None = None) -> int:
        if body is None:
            return self.new_ticket(subject, sender=sender)
        before = {ticket.number for ticket in self.tickets()}
        self.deliver(requester_mail(None, subject, sender=sender, body=body), mail_from=sender)
        (number,) = {ticket.number for ticket in self.tickets()} - before
        return number

    def requester(
        self,
        number: int,
        subject: str,
        commands: str = "",
        body: str = "Any news?\n",
        sender: str = REQUESTER,
    ) -> None:
        # To the signed Reply-To the desk's mail gave them, as a reply does (a [close] counts only there).
        signed = self.desk.signed(number, sender)
        tagged = f"{subject} {commands}".strip()
        self.deliver(requester_mail(number, tagged, body=body, sender=sender, to=signed), (signed,), sender)

    def tech(
        self, number: int, who: str, commands: str = "", body: str = "Please try again now.\n", **kw
    ) -> None:
        self.technician(number, who, commands, body=body, **kw)

    def sweep(self) -> int:
        return sweep(self.app.db, self.app.pipeline, self.now)

    def report(self, *args: str) -> dict:
        code, out, err = run_cli(self.desk.config, "report", *args, "--format", "json")
        assert code == 0, err
        return json.loads(out)


def by_key(report: dict) -> dict:
    return {group["key"]: group for group in report["groups"]}


def duration(count: int, median, p90, mean) -> dict:  # numbers or None
    return {"count": count, "median_s": median, "p90_s": p90, "mean_s": mean}


NO_DURATION = duration(0, None, None, None)
