"""Deliver composed mail: through an SMTP relay, or as .eml files in a directory."""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import os
import re
import smtplib
import ssl
import threading
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import Protocol

from maildesk.config import OutgoingSettings
from maildesk.errors import ConfigError, DeliveryError, PermanentDeliveryError, TransientDeliveryError
from maildesk.storage.fsutil import PRIVATE_FILE, fsync_directory, make_private_dir

SECURITY_MODES = ("tls", "starttls", "none")


class Transport(Protocol):
    """Hands one composed mail to its next hop; raises Transient/PermanentDeliveryError."""

    def deliver(self, mail_from: str, to: str, data: bytes, message_id: str) -> None: ...

    def close(self) -> None: ...


# -- files -----------------------------------------------------------------------------

_DATE_HEADER = re.compile(rb"^Date:[ \t]*(.+?)\r?$", re.IGNORECASE | re.MULTILINE)


class MaildirTransport:
    """Writes each mail as ``<dir>/<YYYYmmddTHHMMSS>-<sha1(message id)[:16]>.eml``.

    The name depends only on the mail, so delivering the same message twice
    (a retry after a crash) leaves one file. Files appear whole: written under
    a temporary name in the same directory, synced, then renamed. The
    envelope sender is written first as ``Return-Path``, as a delivering MTA
    would, so whatever relays the files knows where reports must go.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"MaildirTransport({str(self.directory)!r})"

    def path_for(self, data: bytes, message_id: str) -> Path:
        return self.directory / f"{_date_prefix(data)}{_digest(message_id)}.eml"

    def deliver(self, mail_from: str, to: str, data: bytes, message_id: str) -> None:
        target = self.path_for(data, message_id)
        return_path = _return_path(mail_from)
        try:
            make_private_dir(self.directory)
            if target.exists():
                return  # already delivered (the name is derived from the mail itself)
            temporary = self.directory / f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp"
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(return_path)
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
            self._unsynced_directory = True
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write {target}: {exc}") from exc

    def sync(self) -> None:
        """Make the renames of a burst durable with one directory sync (the sender calls this
        before it records the burst as sent)."""
        if getattr(self, "_unsynced_directory", False):
            fsync_directory(self.directory)
            self._unsynced_directory = False

    def close(self) -> None:
        self.sync()

    def __enter__(self) -> MaildirTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _return_path(mail_from: str) -> bytes:
    """``Return-Path: <...>`` for the envelope sender (the desk's own address: never holds CR or LF)."""
    if any(char in mail_from for char in "\r\n<>"):
        raise PermanentDeliveryError(f"{mail_from!r} cannot be an envelope sender")
    return f"Return-Path: <{mail_from}>\r\n".encode()


def _digest(message_id: str) -> str:
    return hashlib.sha1(message_id.strip().encode("utf-8", "replace")).hexdigest()[:16]


def _date_prefix(data: bytes) -> str:
    """``YYYYmmddTHHMMSS-`` from the mail's own Date header (UTC), so that the name stays deterministic."""
    header_end = data.find(b"\r\n\r\n")
    match = _DATE_HEADER.search(data[: header_end if header_end >= 0 else len(data)])
    if match is None:
        return ""
    try:
        moment = email.utils.parsedate_to_datetime(match.group(1).decode("ascii", "replace"))
    except (TypeError, ValueError):
        return ""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y%m%dT%H%M%S-")


# -- SMTP ------------------------------------------------------------------------------


class SmtpTransport:
    """Sends through an SMTP relay, keeping one connection open across a burst of mails.

    The connection is opened on first use (or by :meth:`open`) and reused;
    a connection the server dropped meanwhile is reopened once. Use as a
    context manager, or call :meth:`close` when the burst is over.
    """

    def __init__(
        self,
        host: str,
        port: int,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
        *,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {', '.join(SECURITY_MODES)}, not {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.username = username or None
        self._password = password
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self.connections = 0  # how many connections were opened (for tests and logs)

    def __repr__(self) -> str:  # never shows the password
        return (
            f"SmtpTransport(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r})"
        )

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def open(self) -> None:
        """Connect (and log in) now, unless a connection is already open."""
        with self._lock:
            self._connect()

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        where = f"{self.host}:{self.port}"
        smtp: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout,
                    local_hostname=self.local_hostname,
                    context=self._context(),
                )
            else:
                smtp = smtplib.SMTP(
                    self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
                )
            smtp.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            _quit(smtp)
            # A relay configuration problem, not the message's: keep it for a retry once fixed.
            raise TransientDeliveryError(
                f"{where}: login as {self.username!r} refused: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPResponseException as exc:
            _quit(smtp)
            raise TransientDeliveryError(f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            _quit(smtp)
            raise TransientDeliveryError(f"{where}: cannot connect: {exc}") from None
        self._smtp = smtp
        self.connections += 1
        return smtp

    def deliver(self, mail_from: str, to: str, data: bytes, message_id: str) -> None:
        with self._lock:
            reused = self._smtp is not None
            smtp = self._connect()
            try:
                self._send(smtp, mail_from, to, data, message_id)
            except smtplib.SMTPServerDisconnected:
                self._drop()
                if not reused:
                    raise TransientDeliveryError(
                        f"{message_id}: {self.host}:{self.port} closed the connection"
                    ) from None
                # The relay closed an idle connection: nothing was accepted, try once on a fresh one.
                smtp = self._connect()
                try:
                    self._send(smtp, mail_from, to, data, message_id)
                except smtplib.SMTPServerDisconnected:
                    self._drop()
                    raise TransientDeliveryError(
                        f"{message_id}: {self.host}:{self.port} closed the connection"
                    ) from None

    def _send(self, smtp: smtplib.SMTP, mail_from: str, to: str, data: bytes, message_id: str) -> None:
        try:
            envelope_from, envelope_to = _ascii_address(mail_from), _ascii_address(to)
        except UnicodeError:
            raise PermanentDeliveryError(
                f"{message_id}: {to!r} or {mail_from!r} cannot be sent without SMTPUTF8"
            ) from None
        try:
            refused = smtp.sendmail(envelope_from, [envelope_to], data)
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(envelope_to, next(iter(exc.recipients.values()), (0, b"")))
            self._reset(smtp)
            raise _response_error(message_id, f"recipient {to} refused", code, reply) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, 421 ...
            if exc.smtp_code == 421 or exc.smtp_code < 400:
                self._drop()
            else:
                self._reset(smtp)
            raise _response_error(message_id, "refused", exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TransientDeliveryError(f"{message_id}: {self.host}:{self.port}: {exc}") from None
        if refused:  # only possible with several recipients; kept for completeness
            code, reply = next(iter(refused.values()))
            raise _response_error(message_id, f"recipient {to} refused", code, reply)

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.close()

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        with self._lock:
            smtp, self._smtp = self._smtp, None
            _quit(smtp)

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _ascii_address(address: str) -> str:
    """The address with an internationalised domain in its xn-- form; UnicodeError for a non-ASCII local part."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    local.encode("ascii")
    return f"{local}{at}{domain.encode('idna').decode('ascii')}"


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _response_error(message_id: str, what: str, code: int, reply: bytes | str) -> DeliveryError:
    text = f"{message_id}: {what}: {code} {_text(reply)}"
    if 500 <= code < 600:
        return PermanentDeliveryError(text)
    return TransientDeliveryError(text)


def _quit(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        with contextlib.suppress(OSError):
            smtp.close()


# -- from settings ---------------------------------------------------------------------


def resolve_password(outgoing: OutgoingSettings, base_dir: Path | None = None) -> str | None:
    """The relay password from ``password_env`` or ``password_file``; None when neither is set."""
    if outgoing.password_env:
        value = os.environ.get(outgoing.password_env)
        if value is None:
            raise ConfigError(
                [f"outgoing.password_env: environment variable {outgoing.password_env} is not set"]
            )
        return value
    if outgoing.password_file:
        path = Path(outgoing.password_file).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"outgoing.password_file: cannot read {path}: {exc}"]) from None
    return None


def make_transport(
    outgoing: OutgoingSettings, base_dir: Path | None = None
) -> MaildirTransport | SmtpTransport:
    """The transport ``[outgoing]`` describes; ``base_dir`` resolves a relative password_file."""
    if outgoing.transport == "maildir":
        return MaildirTransport(outgoing.maildir)
    if outgoing.transport == "smtp":
        password = resolve_password(outgoing, base_dir)
        if outgoing.username and password is None:
            raise ConfigError(["outgoing.username: set password_env or password_file for the relay login"])
        return SmtpTransport(
            outgoing.host, outgoing.port, outgoing.security, outgoing.username or None, password
        )
    raise ConfigError([f"outgoing.transport: {outgoing.transport!r} is not one of: smtp, maildir"])
