"""The ``maildesk`` command line (SPEC section 2). The only place that calls sys.exit.

Imports are deferred into each command: ``maildesk ingest`` runs once per
message under an MTA and must start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# sysexits.h
EX_OK, EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_SOFTWARE, EX_TEMPFAIL, EX_CONFIG = (
    0,
    64,
    65,
    66,
    69,
    70,
    75,
    78,
)


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _config_path(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "config", None) or os.environ.get("MAILDESK_CONFIG") or "config.toml")


def _settings(args: argparse.Namespace):
    from maildesk.config import ConfigError, load_settings

    path = _config_path(args)
    if not path.exists():
        raise CliError(f"{path}: config file not found (use --config PATH or set MAILDESK_CONFIG)", EX_CONFIG)
    try:
        return load_settings(path)
    except ConfigError as exc:
        raise CliError(str(exc), EX_CONFIG) from None


def _database(args: argparse.Namespace, *, allow_upgrade: bool = False):
    from maildesk.storage.db import Database, DatabaseUnavailable, SchemaOutdated

    settings = _settings(args)
    db = Database(settings.database_url)
    try:
        db.ensure_schema(allow_upgrade=allow_upgrade)
    except SchemaOutdated as exc:
        raise CliError(str(exc), EX_CONFIG) from None
    except DatabaseUnavailable as exc:
        raise CliError(str(exc), EX_UNAVAILABLE) from None
    return settings, db


def _app(args: argparse.Namespace, settings=None):
    from maildesk.config import ConfigError
    from maildesk.runtime.app import App
    from maildesk.storage.db import DatabaseUnavailable, SchemaOutdated

    settings = settings or _settings(args)
    try:
        return App.from_settings(settings)
    except SchemaOutdated as exc:
        raise CliError(str(exc), EX_CONFIG) from None
    except DatabaseUnavailable as exc:
        raise CliError(str(exc), EX_TEMPFAIL if args.command == "ingest" else EX_UNAVAILABLE) from None
    except ConfigError as exc:
        raise CliError(str(exc), EX_CONFIG) from None


# -- run / ingest ------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from maildesk.runtime.daemon import run_daemon
    from maildesk.runtime.logs import configure_logging

    configure_logging(args.log_level)
    app = _app(args)
    try:
        return run_daemon(app, watch=args.watch)
    except OSError as exc:
        raise CliError(f"cannot start: {exc}", EX_UNAVAILABLE) from None


def cmd_ingest(args: argparse.Namespace) -> int:
    sources = [args.mbox is not None, args.maildir is not None, bool(args.files)]
    if sum(sources) > 1:
        raise CliError("give FILEs, --mbox or --maildir, not several", EX_USAGE)
    for path in [
        *(args.files or []),
        *([args.mbox] if args.mbox else []),
        *([args.maildir] if args.maildir else []),
    ]:
        if not Path(path).exists():
            raise CliError(f"{path}: no such file or directory", EX_NOINPUT)
    settings = _settings(args)
    messages: list[tuple[bytes, str]] | None = None
    if not args.mbox and not args.maildir:
        messages = (
            [(Path(f).read_bytes(), "file") for f in args.files]
            if args.files
            else [(sys.stdin.buffer.read(), "pipe")]
        )
        if _hand_to_daemon(settings, messages, args):
            return EX_OK
    from maildesk.runtime.backlog import ingest_command
    from maildesk.runtime.logs import configure_logging

    configure_logging(args.log_level)
    app = _app(args, settings)
    try:
        return ingest_command(
            app,
            messages=messages,
            mbox=args.mbox,
            maildir=args.maildir,
            mail_from=args.mail_from,
            rcpt_tos=tuple(args.rcpt or ()),
            progress=not args.no_progress,
        )
    finally:
        app.close()


def _hand_to_daemon(settings, messages: list[tuple[bytes, str]], args: argparse.Namespace) -> bool:
    """The fast path: durably store for a running daemon without loading the pipeline."""
    import sqlite3

    from maildesk.ingest.pipe import store_for_daemon

    try:
        return all(
            [
                store_for_daemon(
                    settings, data, mail_from=args.mail_from, rcpt_tos=list(args.rcpt or ()), source=source
                )
                for data, source in messages
            ]
        )
    except sqlite3.Error as exc:
        raise CliError(f"could not store the message, the MTA should retry: {exc}", EX_TEMPFAIL) from None


# -- tickets -----------------------------------------------------------------------------

TICKET_COLUMNS = (
    "number",
    "status",
    "level",
    "urgency",
    "category",
    "application",
    "requester",
    "assignee",
    "subject",
)


def cmd_tickets_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from maildesk.cli.output import ticket_json
    from maildesk.storage.models import Ticket

    _settings_, db = _database(args)
    query = select(Ticket).order_by(Ticket.number.desc()).limit(args.limit)
    if args.status == "all":
        pass
    elif args.status:
        query = query.where(Ticket.status == args.status)
    else:
        query = query.where(Ticket.status != "closed")
    filters = {
        "level": Ticket.level,
        "urgency": Ticket.urgency,
        "category": Ticket.category,
        "application": Ticket.application,
        "requester": Ticket.requester,
        "assignee": Ticket.assignee,
    }
    for name, column in filters.items():
        value = getattr(args, name)
        if value is not None:
            query = query.where(column == (value.lower() if name in ("requester", "assignee") else value))
    with db.session() as session:
        rows = [ticket_json(t) for t in session.scalars(query)]
    _print_rows(rows, TICKET_COLUMNS, args.format)
    return EX_OK


def _print_rows(rows: list[dict], columns: tuple[str, ...], fmt: str) -> None:
    from maildesk.cli.output import dumps, render_csv, render_table

    if fmt == "json":
        print(dumps(rows))
    elif fmt == "csv":
        print(render_csv(rows, columns))
    else:
        print(render_table(rows, columns))


def cmd_tickets_show(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from maildesk.cli.output import dumps, ticket_json
    from maildesk.storage.models import AttachmentRow, Event, Ticket

    _s, db = _database(args)
    with db.session() as session:
        ticket = session.get(Ticket, args.number)
        if ticket is None:
            raise CliError(f"ticket {args.number}: no such ticket", EX_DATAERR)
        events = list(session.scalars(select(Event).where(Event.ticket == args.number).order_by(Event.id)))
        attachments = list(
            session.execute(
                select(
                    AttachmentRow.event_id,
                    AttachmentRow.filename,
                    AttachmentRow.size,
                    AttachmentRow.content_type,
                ).where(AttachmentRow.ticket == args.number)
            )
        )
        shape = ticket_json(ticket, events)
    if args.format == "json":
        print(dumps(shape))
        return EX_OK
    print(f"#{shape['number']}  {shape['subject']}")
    for key in (
        "status",
        "level",
        "urgency",
        "category",
        "kind",
        "application",
        "problem",
        "requester",
        "assignee",
        "tags",
        "created_at",
        "first_response_at",
        "closed_at",
        "time_spent",
    ):
        value = shape[key]
        print(
            f"  {key + ':':19}{', '.join(value) if isinstance(value, list) else ('' if value is None else value)}"
        )
    if attachments:
        print("  attachments:")
        for _event, name, size, content_type in attachments:
            print(f"    {name} ({content_type}, {size} bytes)")
    print()
    for event in shape["events"]:
        who = f" {event['from']}" if event["from"] else ""
        print(f"--- {event['at']} {event['type']}{who}")
        if event.get("data"):
            print("    " + ", ".join(f"{k}={v}" for k, v in event["data"].items()))
        if event["text"]:
            print("\n".join("    " + line for line in event["text"].strip().splitlines()[:40]))
    return EX_OK


# -- quarantine / outbox ----------------------------------------------------------------


def cmd_quarantine(args: argparse.Namespace) -> int:
    from sqlalchemy import select, update

    from maildesk.cli.output import dumps, quarantine_json
    from maildesk.storage.models import InboxMessage, Quarantine

    if args.action == "list":
        _s, db = _database(args)
        with db.session() as session:
            rows = [
                quarantine_json(q) for q in session.scalars(select(Quarantine).order_by(Quarantine.id.desc()))
            ]
        _print_rows(rows, ("id", "received_at", "status", "mail_from", "message_id", "reason"), args.format)
        return EX_OK
    if args.action == "show":
        _s, db = _database(args)
        with db.session() as session:
            entry = session.get(Quarantine, _int_id(args.id))
            if entry is None:
                raise CliError(f"quarantine {args.id}: no such entry", EX_DATAERR)
            shape = quarantine_json(entry)
            raw = session.get(InboxMessage, entry.inbox_id).raw
        if args.format == "json":
            shape["raw"] = raw.decode("utf-8", "replace")
            print(dumps(shape))
        elif args.raw:
            sys.stdout.buffer.write(raw)
        else:
            for key, value in shape.items():
                print(f"{key + ':':13}{'' if value is None else value}")
            print()
            print(raw[:4000].decode("utf-8", "replace"))
        return EX_OK
    # retry: put the stored message back in the inbox and process it again now
    app = _app(args)
    try:
        with app.db.session() as session:
            query = select(Quarantine).where(Quarantine.status != "retried")
            if not args.all:
                if args.id is None:
                    raise CliError("quarantine retry: give an ID or --all", EX_USAGE)
                query = select(Quarantine).where(Quarantine.id == _int_id(args.id))
            entries = list(session.scalars(query))
            if not args.all and not entries:
                raise CliError(f"quarantine {args.id}: no such entry", EX_DATAERR)
            if not args.all and entries[0].status == "retried":
                # Replayed already: its message is applied (or pending for the daemon); again would apply it twice.
                print(f"quarantine {args.id}: already retried, nothing to do")
                return EX_OK
            inbox_ids = [e.inbox_id for e in entries]
            entry_of = {e.inbox_id: e.id for e in entries}
            session.execute(
                update(InboxMessage).where(InboxMessage.id.in_(inbox_ids)).values(state="pending")
            )
            session.execute(
                update(Quarantine).where(Quarantine.id.in_([e.id for e in entries])).values(status="retried")
            )
        outcomes = app.process(inbox_ids)
        app.sender.send_due()
        for outcome in outcomes:
            verdict = (
                f"ticket #{outcome.ticket}"
                if outcome.state == "done"
                else f"{outcome.state}: {outcome.reason}"
            )
            print(f"quarantine {entry_of.get(outcome.inbox_id, '?')}: {verdict}")
        return EX_OK
    finally:
        app.close()


def _int_id(value: str | None) -> int:
    if value is None or not str(value).isdigit():
        raise CliError(f"{value!r} is not an id", EX_USAGE)
    return int(value)


def cmd_outbox(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from maildesk.cli.output import outbox_json
    from maildesk.storage.models import Outbox
    from maildesk.storage.outbox import retry

    _s, db = _database(args)
    if args.action == "list":
        query = select(Outbox).order_by(Outbox.id.desc()).limit(args.limit)
        if args.status:
            query = query.where(Outbox.status == args.status)
        with db.session() as session:
            rows = [outbox_json(o) for o in session.scalars(query)]
        _print_rows(
            rows,
            ("id", "ticket", "status", "attempts", "template", "to", "subject", "last_error"),
            args.format,
        )
        return EX_OK
    if not args.all and args.id is None:
        raise CliError("outbox retry: give an ID or --all", EX_USAGE)
    count = retry(db, None if args.all else _int_id(args.id))
    if not args.all and count == 0:
        raise CliError(f"outbox {args.id}: no such mail", EX_DATAERR)
    print(f"{count} mail(s) queued again; the running daemon sends them")
    return EX_OK


# -- rules / kb / db -------------------------------------------------------------------------


def cmd_rules(args: argparse.Namespace) -> int:
    from maildesk.config import ConfigError, load_settings
    from maildesk.runtime.checks import check_everything, dry_run

    if args.action == "check":
        path = _config_path(args)
        try:
            settings = load_settings(path) if path.exists() else _settings(args)
        except ConfigError as exc:  # listed like rule problems: one bare FILE:LINE: line each, for editors
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return EX_CONFIG
        problems = check_everything(settings, warn=lambda line: print(f"maildesk: {line}", file=sys.stderr))
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            return EX_CONFIG
        print(f"{settings.path}: config, rules and templates are valid")
        return EX_OK
    settings = _settings(args)
    message = Path(args.message)
    if not message.is_file():
        raise CliError(f"{message}: no such file", EX_NOINPUT)
    try:
        decision, automation = dry_run(settings, message.read_bytes())
    except ValueError as exc:
        raise CliError(str(exc), EX_CONFIG) from None
    if args.format == "json":
        from maildesk.cli.output import dumps

        print(dumps(decision.as_dict()))
        return EX_OK
    shape = decision.as_dict()

    def shown(value: object) -> str:
        if value is None or value == []:
            return "-"
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

    if automation:
        print(f"automatic message ({automation}): no acknowledgement would be sent")
    print("matched: " + (", ".join(shape["matched"]) or "(no rule)"))
    for key, value in shape["set"].items():
        print(f"  {key + ':':13}{shown(value)}")
    for key in ("forward", "answer", "drop"):
        print(f"{key + ':':15}{shown(shape[key])}")
    return EX_OK


def cmd_kb(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from maildesk.cli.output import article_json, dumps, render_table
    from maildesk.storage.models import KbArticle

    _s, db = _database(args)
    with db.session() as session:
        if args.action == "show":
            query = select(KbArticle).where(KbArticle.slug == args.id)
            if args.id.isdigit():
                query = select(KbArticle).where(KbArticle.id == int(args.id))
            article = session.scalar(query)
            if article is None:
                raise CliError(f"kb {args.id}: no such article", EX_DATAERR)
            shape = article_json(article, body=True)
            if args.format == "json":
                print(dumps(shape))
            else:
                print(f"{shape['title']}  ({shape['slug']}, #{shape['id']})\n\n{shape['body']}")
            return EX_OK
        articles = list(session.scalars(select(KbArticle).order_by(KbArticle.updated_at.desc())))
        if args.action == "search":
            from maildesk.kb.articles import rank

            rows = [
                {**article_json(h.article), "score": h.score, "excerpt": h.excerpt}
                for h in rank(articles, args.query)
            ]
        else:
            rows = [article_json(a) for a in articles]
    if args.format == "json":
        print(dumps(rows))
    else:
        print(
            render_table(
                rows,
                ("id", "slug", "title", "uses", "updated_at")
                + (("score",) if args.action == "search" else ()),
            )
        )
    return EX_OK


def cmd_db(args: argparse.Namespace) -> int:
    from maildesk.storage.db import HEAD_REVISION

    _settings_, db = _database(args, allow_upgrade=True)
    print(f"database schema is at revision {HEAD_REVISION}")
    return EX_OK


# -- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="config file (default: $MAILDESK_CONFIG or ./config.toml)"
    )
    common.add_argument(
        "--log-level", default=argparse.SUPPRESS, choices=("debug", "info", "warning", "error")
    )
    parser = argparse.ArgumentParser(
        prog="maildesk", parents=[common], description="An email-driven help desk."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    tickets = sub.add_parser("tickets", parents=[common], help="list and show tickets")
    tsub = tickets.add_subparsers(dest="action", required=True, metavar="ACTION")
    tlist = tsub.add_parser("list", parents=[common])
    tlist.add_argument("--status", choices=("new", "open", "pending", "closed", "all"))
    tlist.add_argument("--level", type=int)
    for name in ("urgency", "category", "application", "requester", "assignee"):
        tlist.add_argument(f"--{name}")
    tlist.add_argument("--limit", type=int, default=100)
    tlist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    tlist.set_defaults(func=cmd_tickets_list)
    tshow = tsub.add_parser("show", parents=[common])
    tshow.add_argument("number", type=int)
    tshow.add_argument("--format", choices=("text", "json"), default="text")
    tshow.set_defaults(func=cmd_tickets_show)

    rules = sub.add_parser("rules", parents=[common], help="check and dry-run the rules")
    rsub = rules.add_subparsers(dest="action", required=True, metavar="ACTION")
    rsub.add_parser("check", parents=[common]).set_defaults(func=cmd_rules)
    rtest = rsub.add_parser("test", parents=[common])
    rtest.add_argument("message", metavar="MESSAGE.eml")
    rtest.add_argument("--format", choices=("text", "json"), default="text")
    rtest.set_defaults(func=cmd_rules)

    kb = sub.add_parser("kb", parents=[common], help="the knowledge base")
    ksub = kb.add_subparsers(dest="action", required=True, metavar="ACTION")
    ksearch = ksub.add_parser("search", parents=[common])
    ksearch.add_argument("query")
    klist = ksub.add_parser("list", parents=[common])
    kshow = ksub.add_parser("show", parents=[common])
    kshow.add_argument("id", metavar="ID")
    for p in (ksearch, klist, kshow):
        p.add_argument("--format", choices=("table", "text", "json"), default="table")
        p.set_defaults(func=cmd_kb)

    quarantine = sub.add_parser("quarantine", parents=[common], help="messages that could not be processed")
    qsub = quarantine.add_subparsers(dest="action", required=True, metavar="ACTION")
    qlist = qsub.add_parser("list", parents=[common])
    qlist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    qshow = qsub.add_parser("show", parents=[common])
    qshow.add_argument("id", metavar="ID")
    qshow.add_argument("--format", choices=("text", "json"), default="text")
    qshow.add_argument("--raw", action="store_true", help="write the stored message bytes to stdout")
    qretry = qsub.add_parser("retry", parents=[common])
    qretry.add_argument("id", nargs="?", metavar="ID")
    qretry.add_argument("--all", action="store_true")
    for p in (qlist, qshow, qretry):
        p.set_defaults(func=cmd_quarantine)

    outbox = sub.add_parser("outbox", parents=[common], help="outgoing mail and its delivery state")
    osub = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    olist = osub.add_parser("list", parents=[common])
    olist.add_argument("--status", choices=("queued", "sent", "failed", "suppressed"))
    olist.add_argument("--limit", type=int, default=100)
    olist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    oretry = osub.add_parser("retry", parents=[common])
    oretry.add_argument("id", nargs="?", metavar="ID")
    oretry.add_argument("--all", action="store_true")
    for p in (olist, oretry):
        p.set_defaults(func=cmd_outbox)

    db = sub.add_parser("db", parents=[common], help="database schema")
    dsub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    dsub.add_parser("upgrade", parents=[common]).set_defaults(func=cmd_db)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        sys.exit(EX_USAGE if exc.code not in (0, None) else 0)
    if not hasattr(args, "log_level"):
        args.log_level = "info"
    try:
        code = args.func(args)
    except CliError as exc:
        print(f"maildesk: {exc}", file=sys.stderr)
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = EX_OK
    except Exception as exc:  # noqa: BLE001 - one clear line, never a traceback
        print(f"maildesk: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = EX_TEMPFAIL if getattr(args, "command", None) == "ingest" else EX_SOFTWARE
    sys.exit(code)


if __name__ == "__main__":
    main()
