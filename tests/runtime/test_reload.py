"""Hot reload of config, rules and templates: SIGHUP and ``run --watch``; a broken new version is refused."""

from __future__ import annotations

import json
import re
import signal
import threading
import uuid
from datetime import UTC, datetime

import pytest

from tests.support import Desk, SmtpSink, cli_json, make_message, wait_until

pytestmark = pytest.mark.slow

OLD_RULES = """
[[rule]]
name = "printers"
if.subject = '(?i)printer'
set.category = "technical"
set.application = "Printing"
"""

NEW_RULES = """
[[rule]]
name = "printers are urgent now"
if.subject = '(?i)printer'
set.category = "functional"
set.urgency = "high"
set.application = "Print service"
set.tags = ["printing"]
"""

BROKEN_RULES = """
[[rule]]
name = "printers"
if.subject = '(?i)printer'
set.urgency = "critical"

[[rule]]
name = "broken regex"
if.subject = '(?i)(unclosed'
set.urgency = "low"
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory, shared_sink):
    """One daemon for the SIGHUP tests; each test puts back the files it changed."""
    desk = Desk(tmp_path_factory.mktemp("reload") / "desk", sink=shared_sink, rules=OLD_RULES)
    desk.start()
    yield desk
    code = desk.stop()
    assert code == 0, desk.log()


def log_events(desk: Desk, name: str) -> list[dict]:
    """The daemon's JSON log lines for event ``name``."""
    found = []
    for line in desk.log().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == name:
                found.append(entry)
    return found


def reload(desk: Desk) -> str:
    """Send SIGHUP and wait for the verdict: "config_reloaded" or "reload_refused"."""
    before = {name: len(log_events(desk, name)) for name in ("config_reloaded", "reload_refused")}
    desk.process.send_signal(signal.SIGHUP)
    verdict = wait_until(
        lambda: next((name for name, count in before.items() if len(log_events(desk, name)) > count), None),
        timeout=15,
        what="the reload's verdict in the log",
    )
    assert desk.process.poll() is None, desk.log()
    return verdict


def request(desk: Desk, sink: SmtpSink, subject: str = "The printer is jammed") -> tuple[dict, object]:
    """Send a request from a fresh requester; its ticket (with events) and its acknowledgement."""
    sender = f"user-{uuid.uuid4().hex[:8]}@client.com"
    desk.send(make_message(subject=subject, sender=sender), mail_from=sender)
    (ack,) = sink.wait_for(lambda m: sender in str(m["To"]).lower(), what=f"ack to {sender}")
    number = int(ack["X-Maildesk-Ticket"])
    return cli_json(desk.config, "tickets", "show", str(number)), ack


def decision(ticket: dict) -> dict:
    (data,) = [event["data"] for event in ticket["events"] if event["type"] == "rules"]
    return data


def test_sighup_with_a_good_rules_file_applies_to_the_next_message(running, shared_sink):
    rules = running.dir / "rules.toml"
    rules.write_text(NEW_RULES)
    try:
        before, _ack = request(running, shared_sink)  # written, but not in force until the signal
        assert decision(before)["matched"] == ["printers"]
        assert reload(running) == "config_reloaded"

        after, _ack = request(running, shared_sink)
        assert decision(after)["matched"] == ["printers are urgent now"]
        assert (after["category"], after["urgency"], after["application"], after["tags"]) == (
            "functional",
            "high",
            "Print service",
            ["printing"],
        )
    finally:
        rules.write_text(OLD_RULES)
        assert reload(running) == "config_reloaded"


def test_sighup_with_a_broken_rules_file_keeps_config_and_rules_and_logs_the_fault(running, shared_sink):
    rules, config = running.dir / "rules.toml", running.config
    good_config = config.read_text()
    rules.write_text(BROKEN_RULES)
    # a good config change in the same reload must not slip in alone: config, rules and templates go together
    config.write_text(good_config.replace('name = "Example Support"', 'name = "Renamed Support"'))
    try:
        assert reload(running) == "reload_refused"
        refused = log_events(running, "reload_refused")[-1]
        error = re.escape(str(_regex_error("(?i)(unclosed")))
        assert [
            p
            for p in refused["problems"]
            if re.fullmatch(
                rf'{re.escape(str(rules))}:9: rule "broken regex": if\.subject: bad regex: {error}', p
            )
        ], refused
        assert refused["level"] == "error"

        ticket, ack = request(running, shared_sink)
        assert decision(ticket)["matched"] == ["printers"]
        assert (ticket["urgency"], ticket["application"]) == ("normal", "Printing")
        assert "Example Support" in str(ack["From"]) and "Renamed" not in str(ack["From"])
    finally:
        rules.write_text(OLD_RULES)
        config.write_text(good_config)


def test_a_refused_reload_leaves_the_knowledge_base_alone(running, shared_sink):
    rules, article = running.dir / "rules.toml", running.dir / "kb" / "password-reset.md"
    shipped = article.read_text()
    stored = cli_json(running.config, "kb", "show", "password-reset")
    edited = shipped.replace("How to reset your password", "How to reset your password (edited)", 1)
    assert edited != shipped
    article.write_text(edited)
    rules.write_text(BROKEN_RULES)
    try:
        assert reload(running) == "reload_refused"
        assert cli_json(running.config, "kb", "show", "password-reset") == stored

        rules.write_text(OLD_RULES)  # once everything is valid, the edited article is loaded
        assert reload(running) == "config_reloaded"
        shown = cli_json(running.config, "kb", "show", "password-reset")
        assert shown["title"] == "How to reset your password (edited)" and shown["body"] == stored["body"]
    finally:
        rules.write_text(OLD_RULES)
        article.write_text(shipped)
        assert reload(running) == "config_reloaded"
    assert cli_json(running.config, "kb", "show", "password-reset")["title"] == stored["title"]


def test_sighup_with_a_broken_template_keeps_the_old_templates(running, shared_sink):
    ack_txt = running.dir / "templates" / "en" / "ack.txt.j2"
    shipped = ack_txt.read_text()
    try:
        ack_txt.write_text(shipped.replace("Thank you for contacting", "Reloaded: thanks for writing to"))
        assert reload(running) == "config_reloaded"
        _ticket, ack = request(running, shared_sink)
        assert "Reloaded: thanks for writing to" in ack.get_body(("plain",)).get_content()

        ack_txt.write_text("Hello,\n{% if ticket %}\nno end to this block\n")
        assert reload(running) == "reload_refused"
        problems = log_events(running, "reload_refused")[-1]["problems"]
        assert problems and all(p.startswith(f"{ack_txt}:") for p in problems), problems

        _ticket, ack = request(running, shared_sink)  # the templates in force are the last good ones
        assert "Reloaded: thanks for writing to" in ack.get_body(("plain",)).get_content()
    finally:
        ack_txt.write_text(shipped)
        assert reload(running) == "config_reloaded"


def test_run_watch_applies_an_edited_rules_file_without_a_signal(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink, rules=OLD_RULES)
    desk.start("--watch")
    try:
        rules = desk.dir / "rules.toml"
        rules.write_text(NEW_RULES)
        wait_until(lambda: log_events(desk, "config_reloaded"), timeout=10, what="config_reloaded in the log")
        ticket, _ack = request(desk, sink)
        assert decision(ticket)["matched"] == ["printers are urgent now"]

        rules.write_text(BROKEN_RULES)
        wait_until(lambda: log_events(desk, "reload_refused"), timeout=10, what="reload_refused in the log")
        ticket, _ack = request(desk, sink)
        assert decision(ticket)["matched"] == ["printers are urgent now"]
        assert desk.process.poll() is None
    finally:
        assert desk.stop() == 0, desk.log()


def test_a_message_in_flight_finishes_with_the_rules_it_started_with(tmp_path, monkeypatch):
    from maildesk import pipeline as pipeline_module
    from maildesk.runtime.app import App
    from maildesk.types import RawMessage

    desk = Desk(tmp_path / "desk", rules=OLD_RULES)
    app = App.from_config(desk.config)
    evaluate = pipeline_module.evaluate

    reloader = threading.Thread(target=app.reload)

    def evaluate_while_reloading(*args, **kwargs):
        (desk.dir / "rules.toml").write_text(NEW_RULES)
        reloader.start()  # as SIGHUP does: another thread reloads while this message is being processed
        reloader.join(0.5)
        return evaluate(*args, **kwargs)

    try:
        for _ in range(2):
            app.inbox.accept(
                RawMessage(
                    data=make_message(subject="Printer jammed"),
                    mail_from="user@client.com",
                    rcpt_tos=("support@example.org",),
                    source="smtp",
                    received_at=datetime.now(UTC),
                )
            )
        monkeypatch.setattr(pipeline_module, "evaluate", evaluate_while_reloading)
        in_flight = app.processor.process_next()
        monkeypatch.undo()
        reloader.join(30)
        assert not reloader.is_alive()
        next_one = app.processor.process_next()
    finally:
        app.close()
    assert decision(cli_json(desk.config, "tickets", "show", str(in_flight.ticket)))["matched"] == [
        "printers"
    ]
    assert decision(cli_json(desk.config, "tickets", "show", str(next_one.ticket)))["matched"] == [
        "printers are urgent now"
    ]


def _regex_error(pattern: str) -> Exception:
    try:
        re.compile(pattern)
    except re.error as exc:
        return exc
    raise AssertionError(f"{pattern!r} compiles")
