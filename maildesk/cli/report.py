"""``maildesk report``: the figures of a period (SPEC sections 2 and 12) as a table, CSV, JSON or HTML."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from maildesk.cli.common import load_settings, open_database
from maildesk.errors import CannotWrite, ExitCode

if TYPE_CHECKING:
    from maildesk.config import Settings
    from maildesk.reports.period import Period
    from maildesk.storage.db import Database


def cmd_report(args: argparse.Namespace) -> int:
    """Validate the input, build the report in the database, write one shape."""
    from datetime import UTC, datetime

    from maildesk.reports.build import group_key
    from maildesk.reports.period import resolve_period

    settings = load_settings(args)
    group_key(args.by)
    period = resolve_period(args.since, args.until, settings.desk.timezone, datetime.now(UTC))
    settings, db = open_database(args)
    try:
        chunks = _report_chunks(args, settings, db, period)
        _write_output(chunks, args.output)
    finally:
        db.dispose()
    return ExitCode.OK


def _report_chunks(
    args: argparse.Namespace, settings: Settings, db: Database, period: Period
) -> Iterable[str]:
    from maildesk.reports import billing, shapes
    from maildesk.reports.build import build_report

    if args.tickets:
        lines = billing.ticket_lines(db, settings, period)
        if args.format == "html":
            from maildesk.reports.page import tickets_page

            return [tickets_page(settings, period, lines)]
        return {"json": billing.lines_json, "csv": billing.lines_csv, "table": billing.lines_table}[
            args.format
        ](lines)
    report = build_report(db, settings, period, args.by, charts=args.format == "html")
    if args.format == "html":
        from maildesk.reports.page import report_page

        return [report_page(report, settings)]
    render = {"json": shapes.report_json, "csv": shapes.report_csv, "table": shapes.report_table}[args.format]
    return [render(report)]


def _write_output(chunks: Iterable[str], output: str | None) -> None:
    """Print, or write ``--output FILE`` whole (a temporary file renamed into place)."""
    if output is None:
        for chunk in chunks:
            sys.stdout.write(chunk if chunk.endswith("\n") else chunk + "\n")
        return
    target = Path(output)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise CannotWrite(f"--output {output}: {exc.strerror or exc}") from None


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    report = sub.add_parser("report", parents=[common], help="figures of a period, grouped (SPEC section 12)")
    report.add_argument(
        "--since", metavar="DATE", help="first day or moment, inclusive (default: last month)"
    )
    report.add_argument(
        "--until", metavar="DATE", help="end, exclusive (ISO date or date-time, [desk] timezone)"
    )
    report.add_argument(
        "--by",
        default="application",
        metavar="KEY",
        help="application, category, kind, level, "
        "team, urgency, organisation, problem or technician (default: application)",
    )
    report.add_argument("--format", choices=("table", "csv", "json", "html"), default="table")
    report.add_argument("--output", metavar="FILE", help="write there instead of to stdout")
    report.add_argument("--tickets", action="store_true", help="one line per ticket: the billing detail")
    report.set_defaults(func=cmd_report)
