"""Reading an IMAP account's secret: password variable or file, or an OAuth2 token from a command."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from maildesk.config import ImapIntake
from maildesk.ingest.imap_auth import CredentialsError, read_oauth2_token, read_password


def account(**settings: str) -> ImapIntake:
    return ImapIntake(name="inbox", host="imap.example.org", username="support", **settings)  # type: ignore[arg-type]


def python_command(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


def test_password_from_the_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_IMAP_PW", "s3cret with spaces ")
    assert read_password(account(password_env="DESK_IMAP_PW")) == "s3cret with spaces "


def test_unset_password_variable_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESK_IMAP_PW", raising=False)
    with pytest.raises(CredentialsError, match="DESK_IMAP_PW"):
        read_password(account(password_env="DESK_IMAP_PW"))


def test_password_file_loses_only_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(" pass word \n")
    assert read_password(account(password_file=str(secret))) == " pass word "


def test_unreadable_password_file_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="password_file .*missing"):
        read_password(account(password_file=str(tmp_path / "missing")))


def test_no_secret_configured_is_an_error() -> None:
    with pytest.raises(CredentialsError, match="no password_env"):
        read_password(account())


def test_oauth2_token_is_the_stripped_stdout_of_the_command() -> None:
    assert read_oauth2_token(python_command("print('  ya29.token-value  ')")) == "ya29.token-value"


def test_failing_token_command_reports_status_and_stderr_but_not_stdout() -> None:
    command = python_command("import sys; print('half-token'); sys.exit('refresh token expired')")
    with pytest.raises(CredentialsError, match="status 1: refresh token expired") as caught:
        read_oauth2_token(command)
    assert "half-token" not in str(caught.value)


def test_token_command_that_prints_nothing_is_an_error() -> None:
    with pytest.raises(CredentialsError, match="printed no token"):
        read_oauth2_token(python_command("pass"))


def test_missing_token_program_is_named() -> None:
    with pytest.raises(CredentialsError, match="not found"):
        read_oauth2_token("/nonexistent/get-token --account support")


def test_unbalanced_quotes_in_the_token_command_are_an_error() -> None:
    with pytest.raises(CredentialsError, match="cannot be split"):
        read_oauth2_token("get-token 'unterminated")
