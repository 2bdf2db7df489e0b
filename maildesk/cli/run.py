"""``maildesk run`` (the daemon) and ``maildesk ingest`` (stdin, files, an mbox or a maildir)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from maildesk.cli.common import load_settings, open_app
from maildesk.errors import CannotStart, CannotStore, ExitCode, UsageError

if TYPE_CHECKING:
    from maildesk.config import Settings
    from maildesk.ingest.pipe_config import PipeSettings
    from maildesk.runtime.backlog import BacklogImport


def cmd_run(args: argparse.Namespace) -> int:
    from maildesk.runtime.daemon import run_daemon
    from maildesk.runtime.logs import configure_logging
    from maildesk.runtime.pool import daemon_settings

    configure_logging(args.log_level)
    app = open_app(args, daemon_settings(load_settings(args)))
    try:
        return run_daemon(app, watch=args.watch)
    except OSError as exc:
        raise CannotStart(f"cannot start: {exc}") from None


def cmd_ingest(args: argparse.Namespace) -> int:
    """Exit 0 once every message is durably stored (as a ticket, a follow-up or in quarantine), 75 when
    one could not be, so that the MTA keeps it and retries; 65/66 for input that will never do."""
    from maildesk.ingest.read import check_backlog, check_message_file, read_message

    sources = [args.mbox is not None, args.maildir is not None, bool(args.files)]
    if sum(sources) > 1:
        raise UsageError("give FILEs, --mbox or --maildir, not several")
    for path in args.files or []:
        check_message_file(path)
    if args.mbox or args.maildir:
        check_backlog(args.mbox or args.maildir, "mbox" if args.mbox else "maildir")
    settings, light = _ingest_settings(args)
    limit = light.max_message_size
    messages: list[tuple[bytes, str]] = []
    if not args.mbox and not args.maildir:
        messages = (
            [(read_message(f, limit), "file") for f in args.files]
            if args.files
            else [(read_message(None, limit), "pipe")]
        )
    if messages and _hand_to_daemon(light, messages, args):
        return ExitCode.OK
    settings = settings or load_settings(args)
    from maildesk.runtime.backlog import deliver_messages, import_backlog
    from maildesk.runtime.logs import configure_logging

    configure_logging(args.log_level)
    app = open_app(args, settings)
    try:
        if not (args.mbox or args.maildir):
            stored = deliver_messages(app, messages, args.mail_from, tuple(args.rcpt or ()))
            return ExitCode.OK if stored else ExitCode.TEMPFAIL
        kind = "mbox" if args.mbox else "maildir"
        done = import_backlog(
            app, args.mbox or args.maildir, kind, progress=not args.no_progress, max_size=limit
        )
    finally:
        app.close()
    return _backlog_verdict(done, kind, limit)


def _backlog_verdict(done: BacklogImport, kind: str, limit: int) -> int:
    """One line on stderr for what a backlog import could not do, and its exit code."""
    if done.failed:
        print(
            f"maildesk: {done.failed} message(s) could not be stored; import again to retry them "
            "(already stored ones are skipped)",
            file=sys.stderr,
        )
        return ExitCode.TEMPFAIL
    if done.too_large:
        shown = ", ".join(done.too_large[:5]) + (", ..." if len(done.too_large) > 5 else "")
        print(
            f"maildesk: {len(done.too_large)} message(s) larger than max_message_size ({limit:,} bytes) "
            f"were not imported: {kind} key(s) {shown}",
            file=sys.stderr,
        )
        return ExitCode.DATAERR
    return ExitCode.OK


def _ingest_settings(args: argparse.Namespace) -> tuple[Settings | None, PipeSettings]:
    """What storing needs, and the full settings (None when config.toml is unchanged since it was noted)."""
    from maildesk.cli.common import config_path
    from maildesk.ingest import pipe_config
    from maildesk.ingest.read import max_message_size

    path = config_path(args)
    light = pipe_config.remembered(path) if path.exists() else None
    if light is not None:
        args.database_url = light.database_url  # named by a database error
        return None, light
    before = pipe_config.identity(path) if path.exists() else []
    settings = load_settings(args)
    return settings, pipe_config.remember(path, before, settings, max_message_size(settings))


def _hand_to_daemon(
    settings: PipeSettings, messages: list[tuple[bytes, str]], args: argparse.Namespace
) -> bool:
    """The light path: store with a light driver; the daemon, or a drainer started now, processes.

    A message piped by an MTA always goes this way; FILEs only when a daemon
    runs (without one they are processed here, and the command says how it went).
    """
    from maildesk.cli.common import config_path
    from maildesk.ingest.drain_lock import start_drainer
    from maildesk.ingest.handoff import daemon_running, send_wake, sqlite_file
    from maildesk.ingest.pipe import StoreFailed, open_store

    database = sqlite_file(settings.database_url)
    piped = [source for _data, source in messages] == ["pipe"]
    if not piped and (database is None or not database.exists() or not daemon_running(database)):
        return False
    try:
        store = open_store(settings.database_url)
        if store is None:
            return False
        try:
            if not store.current():
                return False  # the full path creates the schema, or refuses an old one (78)
            for data, source in messages:
                store.store(data, args.mail_from, list(args.rcpt or ()), source)
            if database is not None and daemon_running(database):
                send_wake(database)
            else:
                start_drainer(
                    settings.database_url,
                    config_path(args).resolve(),
                    args.log_level,
                    getattr(store, "connection", None),
                )
        finally:
            store.close()
    except StoreFailed as exc:
        raise CannotStore(f"could not store the message, the MTA should retry: {exc}") from None
    return True


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    run = sub.add_parser("run", parents=[common], help="the daemon")
    run.add_argument("--watch", action="store_true", help="reload when config, rule or template files change")
    run.set_defaults(func=cmd_run)

    ingest = sub.add_parser(
        "ingest", parents=[common], help="process messages from stdin, files, an mbox or a maildir"
    )
    ingest.add_argument("files", nargs="*", metavar="FILE")
    ingest.add_argument("--mbox", metavar="PATH")
    ingest.add_argument("--maildir", metavar="PATH")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar for backlogs")
    ingest.add_argument(
        "--mail-from", metavar="ADDRESS", help="envelope sender, as the MTA knows it (e.g. ${sender})"
    )
    ingest.add_argument(
        "--rcpt",
        action="append",
        metavar="ADDRESS",
        help="envelope recipient (repeatable), as the MTA knows it (e.g. ${recipient})",
    )
    ingest.set_defaults(func=cmd_ingest)
