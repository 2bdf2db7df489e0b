"""The command line as scripts see it: filters, formats, JSON shapes (SPEC section 8), exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess

import pytest

from tests.support import MAILDESK, ROOT, Desk, cli_json, db_rows, make_dsn, make_message, run_cli

TICKET_KEYS = {
    "number",
    "subject",
    "status",
    "level",
    "team",
    "urgency",
    "category",
    "kind",
    "application",
    "problem",
    "requester",
    "organisation",
    "assignee",
    "tags",
    "created_at",
    "first_response_at",
    "closed_at",
    "time_spent",
}
EVENT_KEYS = {"type", "at", "from", "message_id", "text"}
QUARANTINE_KEYS = {"id", "received_at", "message_id", "mail_from", "reason", "status"}
OUTBOX_KEYS = {"id", "ticket", "to", "subject", "template", "status", "attempts", "last_error"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def desk(tmp_path_factory) -> Desk:
    """Four tickets of different shapes and one quarantined bounce, made through ``maildesk ingest``."""
    directory = tmp_path_factory.mktemp("cli")
    desk = Desk(directory / "desk")
    messages = [
        make_message(subject="VPN down", sender="Ann@Client.com", message_id="<vpn@client.com>"),
        make_message(
            subject="ERP invoice approval stuck",
            body="The approval button does nothing.\n",
            sender="ben@client.com",
        ),
        make_message(subject="Password reset please", body="I forgot it.\n", sender="cid@client.com"),
        make_message(
            subject="Urgent help", body="Our portal is down.\n", sender="vip@bigcustomer.example.com"
        ),
        make_dsn("<never-sent@example.org>", "stranger@client.com", message_id="<orphan-dsn@mx.client.com>"),
    ]
    paths = []
    for index, data in enumerate(messages):
        path = directory / f"m{index}.eml"
        path.write_bytes(data)
        paths.append(str(path))
    desk.cli("ingest", *paths)
    return desk


def numbers(rows: list[dict]) -> list[int]:
    return [row["number"] for row in rows]


def run(*args: str, cwd, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI without the Desk's ``--config``."""
    return subprocess.run(
        [*MAILDESK, *args],
        capture_output=True,
        cwd=cwd,
        timeout=120,
        env=env or {**os.environ, "PYTHONPATH": str(ROOT)},
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, result.stderr.decode()
    assert "Traceback" not in lines[0]
    return lines[0]


def test_tickets_list_defaults_to_open_tickets_newest_first(desk):
    assert numbers(cli_json(desk.config, "tickets", "list")) == [4, 2, 1]
    assert numbers(cli_json(desk.config, "tickets", "list", "--status", "all")) == [4, 3, 2, 1]
    assert numbers(cli_json(desk.config, "tickets", "list", "--status", "closed")) == [3]
    assert numbers(cli_json(desk.config, "tickets", "list", "--status", "new")) == [4, 2, 1]
    assert numbers(cli_json(desk.config, "tickets", "list", "--status", "all", "--limit", "2")) == [4, 3]


def all_tickets(desk: Desk, *filters: str) -> list[int]:
    return numbers(cli_json(desk.config, "tickets", "list", "--status", "all", *filters))


def test_tickets_list_filters(desk):
    assert all_tickets(desk, "--level", "2") == [4]
    assert all_tickets(desk, "--urgency", "high") == [4]
    assert all_tickets(desk, "--category", "functional") == [2]
    assert all_tickets(desk, "--application", "VPN") == [1]
    assert all_tickets(desk, "--requester", "ANN@client.com") == [1]
    assert all_tickets(desk, "--assignee", "carol@example.org") == [4]
    assert all_tickets(desk, "--level", "1", "--category", "technical") == [3, 1]
    assert all_tickets(desk, "--requester", "nobody@client.com") == []


def test_tickets_list_json_rows_have_the_ticket_shape_without_events(desk):
    for row in cli_json(desk.config, "tickets", "list", "--status", "all"):
        assert set(row) == TICKET_KEYS
        assert ISO_Z.match(row["created_at"])


def test_tickets_list_table_and_csv(desk):
    table = run_cli(desk.config, "tickets", "list", "--status", "all")[1].splitlines()
    assert table[0].split()[:3] == ["NUMBER", "STATUS", "LEVEL"]
    assert len(table) == 5
    assert "VPN down" in table[-1]
    rows = list(csv.DictReader(io.StringIO(run_cli(desk.config, "tickets", "list", "--format", "csv")[1])))
    assert [row["number"] for row in rows] == ["4", "2", "1"]
    assert rows[-1]["subject"] == "VPN down" and rows[-1]["requester"] == "ann@client.com"


def test_tickets_show_json_has_exactly_the_spec_keys(desk):
    shape = cli_json(desk.config, "tickets", "show", "1")
    assert set(shape) == TICKET_KEYS | {"events"}
    assert shape["number"] == 1 and shape["subject"] == "VPN down"
    assert shape["status"] == "new" and shape["level"] == 1 and shape["urgency"] == "normal"
    assert shape["requester"] == "ann@client.com" and shape["tags"] == [] and shape["time_spent"] == "0m"
    assert ISO_Z.match(shape["created_at"])
    assert shape["first_response_at"] is None and shape["closed_at"] is None
    for event in shape["events"]:
        assert EVENT_KEYS <= set(event) <= EVENT_KEYS | {"data"}
        assert ISO_Z.match(event["at"])
    first = shape["events"][0]
    assert (first["type"], first["from"], first["message_id"]) == (
        "message",
        "ann@client.com",
        "<vpn@client.com>",
    )
    assert "rules" in [e["type"] for e in shape["events"]]

    closed = cli_json(desk.config, "tickets", "show", "3")
    assert closed["status"] == "closed" and ISO_Z.match(closed["closed_at"])


def test_tickets_show_text(desk):
    code, text, _err = run_cli(desk.config, "tickets", "show", "1")
    assert code == 0
    assert text.startswith("#1  VPN down")
    assert "ann@client.com" in text


def test_unknown_ticket_is_one_line_and_exit_65(desk):
    result = desk.cli("tickets", "show", "999", check=False)
    assert result.returncode == 65
    assert "999" in one_error_line(result)


def test_quarantine_list_show_and_retry(desk):
    (held,) = cli_json(desk.config, "quarantine", "list")
    assert set(held) == QUARANTINE_KEYS
    assert held["message_id"] == "<orphan-dsn@mx.client.com>"
    assert held["status"] == "rejected"
    assert "delivery report that matches no mail the desk sent" in held["reason"]
    assert ISO_Z.match(held["received_at"])

    shown = cli_json(desk.config, "quarantine", "show", str(held["id"]))
    assert set(shown) >= QUARANTINE_KEYS
    assert "multipart/report" in shown["raw"]
    raw = desk.cli("quarantine", "show", str(held["id"]), "--raw").stdout
    assert (
        raw
        == db_rows(desk.db_url, "SELECT raw FROM inbox WHERE message_key = '<orphan-dsn@mx.client.com>'")[0][
            0
        ]
    )

    code, replay, _err = run_cli(desk.config, "quarantine", "retry", str(held["id"]))
    assert code == 0
    assert ": rejected: delivery report that matches no mail the desk sent" in replay
    (again,) = cli_json(desk.config, "quarantine", "list")
    assert again["id"] == held["id"] and again["status"] == "rejected"

    code, _out, err = run_cli(desk.config, "quarantine", "show", "999")
    assert code == 65
    assert err.strip() == "maildesk: quarantine 999: no such entry"


def test_outbox_list_json_shape(desk):
    rows = cli_json(desk.config, "outbox", "list")
    assert rows and all(set(row) == OUTBOX_KEYS for row in rows)
    acks = [row for row in rows if row["template"] == "ack"]
    assert {row["ticket"] for row in acks} == {1, 2, 4}
    assert all(row["status"] in ("queued", "sent", "failed", "suppressed") for row in rows)
    assert [row["template"] for row in rows if row["ticket"] == 3] == ["closed"]
    assert {row["status"] for row in cli_json(desk.config, "outbox", "list", "--status", "sent")} <= {"sent"}


def test_config_option_before_or_after_the_subcommand_and_from_the_environment(desk):
    expected = numbers(cli_json(desk.config, "tickets", "list"))
    after = run("tickets", "list", "--format", "json", "--config", str(desk.config), cwd=desk.dir.parent)
    assert after.returncode == 0, after.stderr
    assert numbers(json.loads(after.stdout)) == expected
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAILDESK_CONFIG": str(desk.config)}
    from_env = run("tickets", "list", "--format", "json", cwd=desk.dir.parent, env=env)
    assert from_env.returncode == 0, from_env.stderr
    assert numbers(json.loads(from_env.stdout)) == expected


def test_missing_config_exits_78(tmp_path):
    result = run("tickets", "list", cwd=tmp_path)
    assert result.returncode == 78
    assert "config.toml" in one_error_line(result)
    result = run("--config", str(tmp_path / "nope.toml"), "ingest", cwd=tmp_path)
    assert result.returncode == 78
    assert "nope.toml" in one_error_line(result)


def test_bad_config_is_one_line_naming_file_line_and_key(tmp_path):
    desk = Desk(tmp_path / "desk")
    text = desk.config.read_text()
    desk.config.write_text(text.replace('reopen_within = "14d"', 'reopen_within = "fortnight"'))
    result = desk.cli("tickets", "list", check=False)
    assert result.returncode == 78
    line = one_error_line(result)
    expected_line = desk.config.read_text().splitlines().index('reopen_within = "fortnight"') + 1
    assert re.search(
        rf"{re.escape(str(desk.config))}:{expected_line}: desk\.reopen_within: .*fortnight", line
    ), line


def test_db_upgrade_and_an_outdated_schema(tmp_path):
    desk = Desk(tmp_path / "desk")
    upgraded = desk.cli("db", "upgrade")
    head = db_rows(desk.db_url, "SELECT version_num FROM alembic_version")[0][0]
    assert head in upgraded.stdout.decode()
    assert run_cli(desk.config, "db", "upgrade")[0] == 0  # idempotent

    db_rows(desk.db_url, "UPDATE alembic_version SET version_num = '0000'")
    refused = desk.cli("ingest", stdin=make_message(), check=False)
    assert refused.returncode == 78
    assert "maildesk db upgrade" in one_error_line(refused)
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM inbox") == [(0,)]
    daemon = desk.cli("run", check=False)
    assert daemon.returncode == 78
    assert "maildesk db upgrade" in daemon.stderr.decode()
