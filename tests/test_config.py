"""config.toml errors name the file, the line and the key, one line each (SPEC section 3)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from maildesk.config import ConfigError, load_settings
from tests.ingest.certs import OPENSSL, make_certificates, openssl_available

BASE = """\
[desk]
name = "Example Support"
address = "support@example.org"
reopen_within = "14d"

[database]
url = "sqlite:///var/maildesk.db"

[intake.smtp]
listen = "127.0.0.1:2525"
max_message_size = "1MB"
domains = ["example.org"]

[outgoing]
transport = "maildir"
retry = ["1s", "2s"]

[security]
secret_file = "var/secret"

[[levels]]
id = 1
name = "Front desk"
address = "support@example.org"
members = ["alice@example.org"]
escalate_after = "4h"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    for problem in raised.value.problems:
        assert "\n" not in problem
        assert problem.startswith(f"{path}:")
    return raised.value.problems


def line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_the_base_config_loads(tmp_path):
    settings = load_settings(write(tmp_path, BASE))
    assert settings.desk.reopen_within == timedelta(days=14)
    assert settings.smtp[0].port == 2525 and settings.smtp[0].max_message_size == 1_000_000
    assert settings.database_url == f"sqlite:///{tmp_path}/var/maildesk.db"


@pytest.mark.parametrize(
    "old,new,key,words",
    [
        (
            'name = "Example Support"',
            'name = "Example Support"\nmood = "cheerful"',
            "desk.mood",
            "unknown key",
        ),
        ('reopen_within = "14d"', 'reopen_within = "two weeks"', "desk.reopen_within", "two weeks"),
        ('escalate_after = "4h"', "escalate_after = 4", "levels[0].escalate_after", "4"),
        (
            'address = "support@example.org"\nreopen',
            'address = "support-at-example.org"\nreopen',
            "desk.address",
            "support-at-example.org",
        ),
        ('members = ["alice@example.org"]', 'members = ["alice"]', "levels[0].members", "alice"),
        ('listen = "127.0.0.1:2525"', 'listen = "127.0.0.1"', "intake.smtp.listen", "127.0.0.1"),
        ('listen = "127.0.0.1:2525"', 'listen = "127.0.0.1:99999"', "intake.smtp.listen", "99999"),
        ('max_message_size = "1MB"', 'max_message_size = "huge"', "intake.smtp.max_message_size", "huge"),
        ('transport = "maildir"', 'transport = "pigeon"', "outgoing.transport", "pigeon"),
        ('retry = ["1s", "2s"]', 'retry = ["1s", "soon"]', "outgoing.retry", "soon"),
        ('url = "sqlite:///var/maildesk.db"', 'url = "mysql://db/maildesk"', "database.url", "mysql"),
    ],
    ids=[
        "unknown-key",
        "bad-duration",
        "duration-not-a-string",
        "bad-address",
        "bad-member",
        "listen-no-port",
        "listen-port-range",
        "bad-size",
        "bad-choice",
        "bad-retry",
        "bad-database",
    ],
)
def test_error_names_file_line_and_key(tmp_path, old, new, key, words):
    assert old in BASE
    text = BASE.replace(old, new, 1)
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    problem = problems[0]
    wrong_line = line_of(text, new.splitlines()[-1] if "\n" in new and "mood" in new else new.splitlines()[0])
    assert f":{wrong_line}: {key}: " in problem, problem
    assert words in problem


@pytest.mark.parametrize(
    "table,old", [("outgoing", 'transport = "maildir"'), ("intake.smtp", 'listen = "127.0.0.1:2525"')]
)
def test_a_secret_written_in_the_file_is_refused_with_where_it_is(tmp_path, table, old):
    text = BASE.replace(old, f'{old}\npassword = "hunter2"', 1)
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    assert (
        f":{line_of(text, 'hunter2')}: {table}.password: secrets never sit in the config file" in problems[0]
    )
    assert "hunter2" not in problems[0]


def test_a_secret_in_an_imap_account_points_to_password_env(tmp_path):
    text = BASE + '\n[[intake.imap]]\nname = "inbox"\nhost = "imap.example.org"\npassword = "hunter2"\n'
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    assert f":{line_of(text, 'hunter2')}: intake.imap[0].password: " in problems[0]
    assert "password_env" in problems[0] and "hunter2" not in problems[0]


def test_toml_syntax_error_names_file_and_line(tmp_path):
    text = BASE.replace('name = "Example Support"', 'name = "Example Support', 1)
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert f":{line_of(text, 'name = ')}:" in problems[0]


def test_every_problem_is_reported_at_once(tmp_path):
    text = BASE.replace('reopen_within = "14d"', 'reopen_within = "x"').replace(
        'transport = "maildir"', 'transport = "x"'
    )
    assert len(problems_of(tmp_path, text)) == 2


IMAP_ACCOUNT = '\n[[intake.imap]]\nname = "inbox"\nhost = "imap.example.org"\nca_file = "{ca_file}"\n'


def test_missing_ca_file_is_named_with_its_line(tmp_path):
    text = BASE + IMAP_ACCOUNT.format(ca_file="certs/private-ca.pem")
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    assert f":{line_of(text, 'ca_file')}: intake.imap[0].ca_file: " in problems[0]
    assert f"{tmp_path}/certs/private-ca.pem does not exist" in problems[0]


def test_ca_file_without_a_certificate_is_refused(tmp_path):
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    text = BASE + IMAP_ACCOUNT.format(ca_file="ca.pem")
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    assert f":{line_of(text, 'ca_file')}: intake.imap[0].ca_file: " in problems[0]
    assert "no usable PEM CA certificate" in problems[0]


@pytest.mark.skipif(not openssl_available(), reason=f"openssl is not installed ({OPENSSL} not found)")
def test_relative_ca_file_resolves_against_the_config_directory(tmp_path, monkeypatch):
    make_certificates(tmp_path / "certs")
    monkeypatch.chdir("/")
    settings = load_settings(write(tmp_path, BASE + IMAP_ACCOUNT.format(ca_file="certs/ca.pem")))
    assert settings.imap[0].ca_file == str(tmp_path / "certs" / "ca.pem")


@pytest.mark.parametrize("value", ['"lots"', "-1", "99", "true"])
def test_processing_workers_must_be_auto_or_a_small_number(tmp_path, value):
    text = BASE + f"\n[processing]\nworkers = {value}\n"
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    assert f":{line_of(text, 'workers =')}: processing.workers: " in problems[0]


def test_processing_workers_defaults_to_one_per_core(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert load_settings(write(tmp_path, BASE)).workers == 2
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert load_settings(write(tmp_path, BASE)).workers == 0  # one core: nothing to gain from a pool
    assert load_settings(write(tmp_path, BASE + "\n[processing]\nworkers = 3\n")).workers == 3


def test_kb_review_redact_and_self_service_are_read_and_checked(tmp_path):
    settings = load_settings(write(tmp_path, BASE))
    assert (settings.kb.review, settings.kb.redact, settings.kb.self_service) == (True, True, "")
    settings = load_settings(
        write(tmp_path, BASE + '\n[kb]\nreview = false\nredact = false\nself_service = "Help@Example.org"\n')
    )
    assert (settings.kb.review, settings.kb.redact, settings.kb.self_service) == (
        False,
        False,
        "help@example.org",
    )
    with pytest.raises(ConfigError, match=r"kb\.review: must be a boolean"):
        load_settings(write(tmp_path, BASE + '\n[kb]\nreview = "yes"\n'))
