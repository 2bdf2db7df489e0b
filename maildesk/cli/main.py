"""The ``maildesk`` command line (SPEC section 2): the parser, made of the groups' parsers, and ``main``.

``main`` is the only place that calls sys.exit, and the one place that turns an
error into an exit code: a :mod:`maildesk.errors` error carries its own; under
``ingest`` an unusable desk is 75 instead, so that the MTA keeps the message and
retries; anything else is one line, never a traceback. Each group module parses its
arguments, calls one function of the desk and prints what it returns; its
imports are deferred, since ``maildesk ingest`` runs once per message under
an MTA and must start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from maildesk.cli.common import Parser, one_line, storage_failure
from maildesk.errors import ExitCode, MaildeskError

GROUPS = ("run", "tickets", "rules", "kb", "quarantine", "outbox", "report", "db")  # as ``--help`` lists them
GROUP_OF = {"ingest": "run"}  # a command registered by a group of another name
GLOBAL_WITH_VALUE = ("--config", "--log-level")


def command_of(argv: list[str]) -> str | None:
    """The command word of ``argv`` (None if there is none): the first word that is not a global option."""
    words = iter(argv)
    for word in words:
        if word in GLOBAL_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every group, or of ``command``'s group alone (``ingest`` under an MTA loads one)."""
    group = GROUP_OF.get(command or "", command)
    names = (group,) if group in GROUPS else GROUPS
    common = Parser(add_help=False)
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="config file (default: $MAILDESK_CONFIG or ./config.toml)"
    )
    common.add_argument(
        "--log-level", default=argparse.SUPPRESS, choices=("debug", "info", "warning", "error")
    )
    parser = Parser(prog="maildesk", parents=[common], description="An email-driven help desk.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in names:
        importlib.import_module(f"maildesk.cli.{name}").register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> None:
    umask = os.umask(0o077)  # whatever the desk writes (database, sent mail, secret) is its user's alone
    try:
        _main(argv)
    finally:
        os.umask(umask)  # for callers that run the CLI in their own process (tests)


def _main(argv: list[str] | None) -> None:
    parser = build_parser(command_of(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        sys.exit(ExitCode.USAGE if exc.code not in (0, None) else 0)
    if not hasattr(args, "log_level"):
        args.log_level = "info"
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = ExitCode.OK
    except Exception as exc:  # noqa: BLE001 - every failure is one clear line and its code, never a traceback
        line, code = describe_failure(exc, args)
        print(f"maildesk: {line}", file=sys.stderr)
    sys.exit(code)


def describe_failure(exc: Exception, args: argparse.Namespace) -> tuple[str, int]:
    """The one line and the exit code for what a command raised: the error family's code, in one place."""
    retry = getattr(args, "command", None) == "ingest"  # the MTA keeps the message and tries again on 75
    if isinstance(exc, MaildeskError):
        code = exc.exit_code
        if retry and code in (ExitCode.UNAVAILABLE, ExitCode.SOFTWARE):
            code = ExitCode.TEMPFAIL
        return str(exc), code
    storage = storage_failure(exc, args)
    if storage is not None:
        return storage, ExitCode.TEMPFAIL if retry else ExitCode.UNAVAILABLE
    return f"internal error: {type(exc).__name__}: {one_line(exc)}", (
        ExitCode.TEMPFAIL if retry else ExitCode.SOFTWARE
    )
