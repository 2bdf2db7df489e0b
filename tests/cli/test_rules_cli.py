"""``maildesk rules check`` and ``rules test``: FILE:LINE problems with exit 78, and a dry run with no side effect."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest

from tests.support import MAILDESK, ROOT, Desk, db_rows, free_port, make_message, run_cli

RULE_KEYS = "name, if, set, forward, answer, drop, stop"
CONDITION_NAMES = "body, from, from_domain, has_attachment, header, subject, to"

BROKEN_RULES = """\
[[rule]]
name = "bad regex"
if.subject = '(?i)(vpn|remote'
set.kind = "incident"

[[rule]]
name = "unknown keys"
iff.subject = "vpn"
if.subjekt = "vpn"
set.kind = "incident"

[[rule]]
name = "unknown level"
if.subject = "escalate me"
set.level = 3

[[rule]]
name = "unknown article"
if.subject = "password"
answer = "no-such-article"

[[rule]]
name = "bad urgency"
if.subject = "urgent"
set.urgency = "urgent"

[[rule]]
name = "bad header regex"
if.header."X-Mailer" = '[unclosed'
"""

DRY_RUN_RULES = """\
[[rule]]
name = "VPN"
if.subject = '(?i)\\bvpn\\b'
set.category = "technical"
set.kind = "incident"
set.application = "VPN"
set.tags = ["network"]

[[rule]]
name = "French client"
if.from_domain = "client.fr"
set.language = "fr"
set.urgency = "high"
set.level = 2
set.assignee = "carol@example.org"
set.tags = ["fr", "network"]
forward = "cert@example.org"

[[rule]]
name = "password"
if.subject = '(?i)password'
answer = "password-reset"

[[rule]]
name = "spam"
if.subject = '(?i)lottery'
drop = true
stop = true

[[rule]]
name = "after spam"
if.subject = '(?i)lottery'
set.tags = ["never-reached"]
"""


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` that contains ``needle``."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def regex_error(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        return str(exc)
    raise AssertionError(f"{pattern!r} compiles")


def problems(stderr: str) -> list[str]:
    return stderr.splitlines()


# -- rules check ------------------------------------------------------------------------------


def test_shipped_config_rules_and_templates_pass_the_check(tmp_path):
    for name in ("config.toml", "rules.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("templates", "kb"):
        shutil.copytree(ROOT / name, tmp_path / name)
    result = subprocess.run(
        [*MAILDESK, "--config", str(tmp_path / "config.toml"), "rules", "check"],
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert (result.returncode, result.stderr) == (0, b""), result.stderr.decode()
    assert result.stdout.decode() == f"{tmp_path / 'config.toml'}: config, rules and templates are valid\n"


def test_each_rule_problem_is_one_line_naming_file_line_rule_and_key(tmp_path):
    desk = Desk(tmp_path / "desk", rules=BROKEN_RULES)
    path = desk.dir / "rules.toml"

    def at(needle: str) -> str:
        return f"{path}:{line_of(BROKEN_RULES, needle)}"

    code, out, err = run_cli(desk.config, "rules", "check")
    assert (code, out) == (78, "")
    assert problems(err) == [
        f'{at("(vpn|remote")}: rule "bad regex": if.subject: bad regex: {regex_error("(?i)(vpn|remote")}',
        f'{at("iff.subject")}: rule "unknown keys": iff: unknown key (expected one of: {RULE_KEYS})',
        f'{at("if.subjekt")}: rule "unknown keys": if.subjekt: unknown condition '
        f"(expected one of: {CONDITION_NAMES})",
        f'{at("set.level = 3")}: rule "unknown level": set.level: 3 is not a configured level (levels: 1, 2)',
        f'{at("no-such-article")}: rule "unknown article": answer: '
        'no knowledge-base article with slug "no-such-article"',
        f'{at("set.urgency")}: rule "bad urgency": set.urgency: "urgent" is not one of: critical, high, normal, low',
        f'{at("X-Mailer")}: rule "bad header regex": if.header.X-Mailer: bad regex: {regex_error("[unclosed")}',
    ]


def test_rule_files_of_a_directory_are_checked_in_order_and_other_files_ignored(tmp_path):
    desk = Desk(tmp_path / "desk")
    desk.config.write_text(desk.config.read_text().replace('files = ["rules.toml"]', 'files = ["rules.d"]'))
    folder = desk.dir / "rules.d"
    folder.mkdir()
    (folder / "10-levels.toml").write_text('[[rule]]\nname = "too far"\n\nset.level = 9\n')
    (folder / "20-syntax.toml").write_text('[[rule]]\nname = "unfinished\nset.kind = "incident"\n')
    (folder / "README.txt").write_text("[[rule]] not TOML at all = =\n")

    code, out, err = run_cli(desk.config, "rules", "check")
    assert (code, out) == (78, "")
    first, second = problems(err)
    assert first == (
        f'{folder / "10-levels.toml"}:4: rule "too far": set.level: '
        "9 is not a configured level (levels: 1, 2)"
    )
    assert second.startswith(f"{folder / '20-syntax.toml'}:2: TOML syntax: ")


def test_a_template_syntax_error_is_reported_with_its_file_and_line(tmp_path):
    desk = Desk(tmp_path / "desk")
    template = desk.dir / "templates" / "fr" / "closed.txt.j2"
    template.write_text("Bonjour,\n\n{% if article %}\n{{ article.title }}\n")

    code, out, err = run_cli(desk.config, "rules", "check")
    assert (code, out) == (78, "")
    assert len(problems(err)) == 1, err
    assert re.fullmatch(rf"{re.escape(str(template))}:\d+: .*endif.*", problems(err)[0]), err


def test_a_config_error_is_reported_as_file_line_key_with_exit_78(tmp_path):
    desk = Desk(tmp_path / "desk")
    text = desk.config.read_text().replace('reopen_within = "14d"', 'reopen_within = "two weeks"')
    desk.config.write_text(text)

    result = desk.cli("rules", "check", check=False)
    assert (result.returncode, result.stdout) == (78, b"")
    assert problems(result.stderr.decode()) == [
        f"{desk.config}:{line_of(text, 'reopen_within')}: desk.reopen_within: "
        '\'two weeks\' is not a duration like "90s", "30m", "4h" or "2d"'
    ]


def test_an_assignee_outside_the_levels_and_a_forward_to_the_desk_itself_are_refused(tmp_path):
    rules = """\
[[rule]]
name = "to dave"
if.subject = "(?i)printer"
set.assignee = "dave@example.org"

[[rule]]
name = "loop"
if.subject = "(?i)vpn"
forward = ["cert@example.org", "support-l2@example.org"]

[[rule]]
name = "fine"
set.assignee = "carol@example.org"
forward = "cert@example.org"
"""
    desk = Desk(tmp_path / "desk", rules=rules)
    path = desk.dir / "rules.toml"

    code, out, err = run_cli(desk.config, "rules", "check")
    assert (code, out) == (78, "")
    assert problems(err) == [
        f'{path}:{line_of(rules, "dave@")}: rule "to dave": set.assignee: dave@example.org is not a member of '
        "any level",
        f'{path}:{line_of(rules, "support-l2@")}: rule "loop": forward: support-l2@example.org is one of the '
        "desk's own addresses (the desk would mail itself)",
    ]


def _unreachable_database(desk: Desk) -> str:
    """Point the desk at a PostgreSQL server that is not there; the URL the check may show."""
    port = free_port()
    desk.config.write_text(
        desk.config.read_text().replace(
            f'url = "{desk.db_url}"', f'url = "postgresql+psycopg://admin:s3cret@127.0.0.1:{port}/desk"'
        )
    )
    return f"postgresql+psycopg://admin:***@127.0.0.1:{port}/desk"


def test_without_a_database_the_check_says_so_and_checks_answers_against_the_article_files(tmp_path):
    rules = '[[rule]]\nname = "pw"\nif.subject = "(?i)password"\nanswer = "password-reset"\n'
    desk = Desk(tmp_path / "desk", rules=rules)
    shown = _unreachable_database(desk)

    code, out, err = run_cli(desk.config, "rules", "check")
    assert code == 0, err  # password-reset is a file in kb/: the daemon will load it
    (warning,) = problems(err)
    assert warning.startswith(f"maildesk: warning: cannot open database {shown}: "), warning
    assert warning.endswith("; rule answers were checked against the article files only"), warning
    assert "s3cret" not in err
    assert out == f"{desk.config}: config, rules and templates are valid\n"


def test_without_a_database_an_answer_that_cannot_be_verified_fails_the_check(tmp_path):
    rules = '[[rule]]\nname = "pw"\nif.subject = "(?i)password"\nanswer = "stored-only"\nset.level = 3\n'
    desk = Desk(tmp_path / "desk", rules=rules)
    shown = _unreachable_database(desk)
    path = desk.dir / "rules.toml"

    code, out, err = run_cli(desk.config, "rules", "check")
    assert (code, out) == (78, "")
    warning, *found = problems(err)
    assert warning.startswith(f"maildesk: warning: cannot open database {shown}: "), warning
    assert found == [  # and the rest is still checked
        f'{path}:5: rule "pw": set.level: 3 is not a configured level (levels: 1, 2)',
        f'{path}:4: rule "pw": answer: cannot verify article slug "stored-only": '
        "no such article file, and the database cannot be read",
    ]
    assert "s3cret" not in err


# -- rules test ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dry(tmp_path_factory) -> Desk:
    """A desk with the rules above and one real ticket in its database."""
    desk = Desk(tmp_path_factory.mktemp("rules-test") / "desk", rules=DRY_RUN_RULES)
    first = desk.dir / "first.eml"
    first.write_bytes(make_message(subject="Printer jammed", sender="ann@client.com"))
    desk.cli("ingest", str(first))
    messages = {
        "vpn.eml": make_message(subject="VPN down", sender="jean@client.fr"),
        "spam.eml": make_message(subject="Lottery: reset your password to claim", sender="win@spam.example"),
        "l2.eml": make_message(subject="Printer jammed", to="support-l2@example.org"),
        "auto.eml": make_message(
            subject="Out of office: VPN down", headers={"Auto-Submitted": "auto-replied"}
        ),
    }
    for name, data in messages.items():
        (desk.dir / name).write_bytes(data)
    return desk


def dry_run(desk: Desk, name: str, *args: str) -> tuple[int, str, str]:
    return run_cli(desk.config, "rules", "test", str(desk.dir / name), *args)


def test_rules_test_json_is_exactly_the_spec_shape(dry):
    code, out, err = dry_run(dry, "vpn.eml", "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "set": {
            "category": "technical",
            "kind": "incident",
            "urgency": "high",
            "application": "VPN",
            "level": 2,
            "assignee": "carol@example.org",
            "language": "fr",
            "tags": ["network", "fr"],
        },
        "matched": ["VPN", "French client"],
        "forward": ["cert@example.org"],
        "answer": None,
        "drop": False,
    }


def test_rules_test_shows_answer_drop_and_stop(dry):
    code, out, _err = dry_run(dry, "spam.eml", "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "set": {
            "category": None,
            "kind": "request",
            "urgency": "normal",
            "application": None,
            "level": 1,
            "assignee": None,
            "language": None,
            "tags": [],
        },
        "matched": ["password", "spam"],
        "forward": [],
        "answer": "password-reset",
        "drop": True,
    }


def test_rules_test_defaults_to_the_level_of_the_address_written_to(dry):
    code, out, _err = dry_run(dry, "l2.eml", "--format", "json")
    assert code == 0
    shape = json.loads(out)
    assert shape["matched"] == [] and shape["set"]["level"] == 2
    assert (shape["set"]["kind"], shape["set"]["urgency"], shape["set"]["category"]) == (
        "request",
        "normal",
        None,
    )


def test_rules_test_text_is_readable(dry):
    code, out, err = dry_run(dry, "vpn.eml")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "matched: VPN, French client",
        "  category:    technical",
        "  kind:        incident",
        "  urgency:     high",
        "  application: VPN",
        "  level:       2",
        "  team:        Back desk",
        "  assignee:    carol@example.org",
        "  language:    fr",
        "  tags:        network, fr",
        "forward:       cert@example.org",
        "answer:        -",
        "drop:          False",
    ]
    code, out, _err = dry_run(dry, "auto.eml")
    assert code == 0
    assert out.splitlines()[0] == "automatic message (auto-submitted): no acknowledgement would be sent"
    assert "matched: VPN" in out.splitlines()


def snapshot(directory) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_rules_test_has_no_side_effect(dry):
    counts = (
        "SELECT (SELECT COUNT(*) FROM tickets), (SELECT COUNT(*) FROM outbox), (SELECT COUNT(*) FROM inbox)"
    )
    before_rows = db_rows(dry.db_url, counts)
    assert before_rows[0][0] == 1
    before = snapshot(dry.dir)
    for name in ("vpn.eml", "spam.eml"):  # a forward, an answer and a drop: none of them may happen
        for fmt in ("text", "json"):
            result = dry.cli("rules", "test", str(dry.dir / name), "--format", fmt)
            assert result.returncode == 0
    assert snapshot(dry.dir) == before
    assert db_rows(dry.db_url, counts) == before_rows


def test_rules_test_of_a_missing_file_exits_66(dry):
    missing = dry.dir / "no-such.eml"
    code, out, err = run_cli(dry.config, "rules", "test", str(missing))
    assert (code, out) == (66, "")
    assert err == f"maildesk: {missing}: no such file\n"
