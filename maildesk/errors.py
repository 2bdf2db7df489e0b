"""One error family: every failure the desk reports says what went wrong and carries its exit code.

The codes are sysexits.h (SPEC section 2). Each class names its code once,
here; only the command line (``maildesk.cli.main``) turns an error into an
exit status, so a library function raises what went wrong and never decides
how the process ends.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from maildesk.types import Reason


class ExitCode(IntEnum):
    """sysexits.h, the codes SPEC section 2 documents."""

    OK = 0
    USAGE = 64
    DATAERR = 65
    NOINPUT = 66
    UNAVAILABLE = 69
    SOFTWARE = 70
    CANTCREAT = 73
    TEMPFAIL = 75
    CONFIG = 78


class MaildeskError(Exception):
    """A failure the desk can name in one line; ``exit_code`` is what ``maildesk`` exits with for it."""

    exit_code: ClassVar[ExitCode] = ExitCode.SOFTWARE


class UsageError(MaildeskError):
    """A command line that cannot be carried out as written (a bad option value, a missing argument)."""

    exit_code = ExitCode.USAGE


class NotFound(MaildeskError):
    """The id or number given names nothing (no such ticket, entry, article or mail)."""

    exit_code = ExitCode.DATAERR


class InputRefused(MaildeskError):
    """Input that will never do as it is (too large, empty, not an mbox): nothing is stored."""

    exit_code = ExitCode.DATAERR


class InputMissing(InputRefused):
    """Input that is missing or cannot be read: the MTA (or the user) must give another."""

    exit_code = ExitCode.NOINPUT


class ConfigError(MaildeskError, ValueError):
    """A configuration mistake; ``str()`` is one line per problem: FILE:LINE: key: what is wrong."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StorageError(MaildeskError):
    """The database cannot serve: unreachable, unreadable, or not the schema this code needs."""

    exit_code = ExitCode.UNAVAILABLE


class DatabaseUnavailable(StorageError):
    """The database cannot be reached or opened."""


class SchemaOutdated(StorageError):
    """The database schema is older than this code; ``maildesk db upgrade`` fixes it (a setup step)."""

    exit_code = ExitCode.CONFIG


class CannotStore(StorageError):
    """A message could not be stored durably: the sender (an MTA) must keep it and try again."""

    exit_code = ExitCode.TEMPFAIL


class CannotWrite(MaildeskError):
    """An output file the user named cannot be created or written."""

    exit_code = ExitCode.CANTCREAT


class CannotStart(MaildeskError):
    """The daemon cannot take up its post (a port in use, a folder it may not write)."""

    exit_code = ExitCode.UNAVAILABLE


class CommandRefused(MaildeskError):
    """A mail command that changes nothing; ``reason`` is what the technician is told (``str()``: English)."""

    exit_code = ExitCode.DATAERR

    def __init__(self, code: str, **params: Any) -> None:
        from maildesk.types import Reason  # here: the pipe path imports this module and must start fast

        self.reason: Reason = Reason.of(code, **params)
        super().__init__(self.reason.text)


class DeliveryError(MaildeskError):
    """A mail could not be handed over to its next hop."""

    exit_code = ExitCode.UNAVAILABLE


class TransientDeliveryError(DeliveryError):
    """Try again later: connection trouble, 4xx, relay misconfiguration."""

    exit_code = ExitCode.TEMPFAIL


class PermanentDeliveryError(DeliveryError):
    """The relay refused the mail for good (5xx): retrying will not help."""


class IntakeError(MaildeskError):
    """A mailbox the desk reads cannot be used: its secret cannot be had, or TLS cannot be set up."""

    exit_code = ExitCode.UNAVAILABLE
