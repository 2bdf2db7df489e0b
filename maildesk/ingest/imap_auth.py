"""Open and log in an IMAP connection for one account: TLS mode and trust, password or XOAUTH2 token.

Secrets are read at each login (never cached, never logged): a rotated
password file or a fresh OAuth2 access token is picked up on reconnect.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import ssl
import subprocess
from pathlib import Path

from imapclient import IMAPClient

from maildesk.config import ImapIntake
from maildesk.errors import IntakeError

TOKEN_COMMAND_TIMEOUT = 30.0


class CredentialsError(IntakeError):
    """The account's secret cannot be had: unset variable, unreadable file, failing token command."""


class TlsSetupError(IntakeError):
    """TLS cannot be set up: the ca_file cannot be loaded, or the server does not offer STARTTLS."""


def read_password(account: ImapIntake) -> str:
    """The password from ``password_env`` or ``password_file`` (trailing newline dropped)."""
    if account.password_env:
        value = os.environ.get(account.password_env)
        if value is None:
            raise CredentialsError(f"environment variable {account.password_env} (password_env) is not set")
        return value
    if account.password_file:
        try:
            return Path(account.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise CredentialsError(
                f"cannot read password_file {account.password_file}: {exc.strerror}"
            ) from None
    raise CredentialsError("no password_env, password_file or oauth2_token_command is configured")


def read_oauth2_token(command: str) -> str:
    """Run ``oauth2_token_command`` (split like a shell would, no shell) and return its stdout, stripped."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise CredentialsError(f"oauth2_token_command cannot be split: {exc}") from None
    if not argv:
        raise CredentialsError("oauth2_token_command is empty")
    try:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=TOKEN_COMMAND_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise CredentialsError(f"oauth2_token_command: program {argv[0]!r} not found") from None
    except PermissionError:
        raise CredentialsError(f"oauth2_token_command: program {argv[0]!r} is not executable") from None
    except subprocess.TimeoutExpired:
        raise CredentialsError(
            f"oauth2_token_command did not finish within {TOKEN_COMMAND_TIMEOUT:.0f}s"
        ) from None
    if result.returncode != 0:
        # stderr says why (expired refresh token, ...); stdout might hold a token, so it is never shown.
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = f": {lines[0][:200]}" if lines else ""
        raise CredentialsError(f"oauth2_token_command exited with status {result.returncode}{detail}")
    token = result.stdout.decode("utf-8", "replace").strip()
    if not token:
        raise CredentialsError("oauth2_token_command printed no token")
    return token


def tls_context(account: ImapIntake) -> ssl.SSLContext | None:
    """The context that checks the server's certificate and name: trusting ``ca_file`` if set, else the system."""
    if account.security not in ("tls", "starttls"):
        return None
    try:
        # The default context verifies the chain and the host name; nothing here turns that off.
        return ssl.create_default_context(cafile=account.ca_file or None)
    except OSError as exc:  # ssl.SSLError included; the file changed since the config was checked
        raise TlsSetupError(f"cannot load ca_file {account.ca_file}: {exc.strerror or exc}") from None


def open_client(account: ImapIntake, *, timeout: float) -> IMAPClient:
    """A connected, logged-in client in the account's security mode; raises on any failure."""
    context = tls_context(account)
    client = IMAPClient(
        account.host, account.port, ssl=account.security == "tls", ssl_context=context, timeout=timeout
    )
    try:
        if account.security == "starttls":
            # Never fall back to logging in over plain text. (imaplib would raise an abort that
            # reads as a lost connection; this says what is wrong.)
            if not client.has_capability("STARTTLS"):
                raise TlsSetupError('the server does not offer STARTTLS (security = "starttls")')
            client.starttls(context)
        if account.oauth2_token_command:
            client.oauth2_login(account.username, read_oauth2_token(account.oauth2_token_command))
        else:
            client.login(account.username, read_password(account))
    except BaseException:
        close_client(client)
        raise
    return client


def close_client(client: IMAPClient) -> None:
    """Log out, or at least close the socket; never raises."""
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        with contextlib.suppress(Exception):
            client.shutdown()
