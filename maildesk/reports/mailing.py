"""The report by mail: the ``report`` template (summary tables with CSS bars: mail clients drop SVG),
with the HTML page and the CSV attached, queued in the outbox with the period's claim."""

from __future__ import annotations

from datetime import datetime
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from maildesk.config import Settings
from maildesk.notify.compose import POLICY, compose
from maildesk.notify.drafts import draft
from maildesk.notify.render import RenderedMail, Renderer
from maildesk.reports.build import build_report
from maildesk.reports.page import local_text, report_page
from maildesk.reports.period import Period
from maildesk.reports.schedule import claim
from maildesk.reports.shapes import report_csv
from maildesk.reports.types import Report
from maildesk.states import OutboxStatus
from maildesk.storage.db import Database
from maildesk.storage.outbox import OutboxBatch, store_drafts
from maildesk.types import Notification

BY = "application"  # what IT management asked for: the desk's work per application


def mail_context(report: Report) -> dict:
    """What the ``report`` template receives as ``report`` (see ``notify.render.sample_report``)."""
    shape = report.as_json()
    shape.update(
        timezone=report.timezone,
        start=local_text(report.since, report.timezone),
        end=local_text(report.until, report.timezone),
        empty=report.empty,
        levels=[
            {"level": t.level, "name": t.name, "first_response": t.first_response, "resolve": t.resolve}
            for t in report.levels
        ],
    )
    return shape


def queue_report(db: Database, settings: Settings, renderer: Renderer, period: Period, now: datetime) -> int:
    """Build the report, then claim the period and queue one mail per recipient in one transaction."""
    report = build_report(db, settings, period, BY, charts=True)
    context = {
        "desk": {"name": settings.desk.name, "address": settings.desk.address, "tag": settings.desk.tag},
        "report": mail_context(report),
    }
    rendered = renderer.render("report", settings.desk.language, context)
    name = f"report-{period.since.astimezone(period.zone):%Y-%m-%d}"
    body = _body(rendered, report_page(report, settings), report_csv(report), name)
    recipients = settings.reports.recipients
    with db.session() as session:
        claim(session, period, now, len(recipients))
        batch = OutboxBatch()
        for recipient in recipients:
            notification = Notification(
                template="report", to=recipient, ticket=None, language=settings.desk.language, automatic=False
            )
            mail = draft(session, notification, settings=settings, now=now, batch=batch)
            mail.subject = rendered.subject
            if mail.status != OutboxStatus.FAILED:
                _message_id, mail.raw = compose(
                    rendered,
                    from_addr=settings.desk.address,
                    from_name=settings.desk.name,
                    to=recipient,
                    reply_to=None,
                    ticket=None,
                    loop_address=settings.desk.address,
                    in_reply_to=None,
                    references=(),
                    message_id_domain=settings.desk.address.rpartition("@")[2],
                    now=now,
                    message_id=mail.message_id,
                    body=body,
                )
        store_drafts(session, batch.drafts)
    return sum(1 for mail in batch.drafts if mail.status == OutboxStatus.QUEUED)


def _body(rendered: RenderedMail, page: str, table: str, name: str) -> bytes:
    """multipart/mixed: the mail (text, and HTML when the template has it), then the page and the CSV."""
    text = MIMEText(rendered.text, "plain", "utf-8")
    if rendered.html is not None:
        readable: MIMEBase = MIMEMultipart("alternative")
        readable.attach(text)
        readable.attach(MIMEText(rendered.html, "html", "utf-8"))
    else:
        readable = text
    mixed = MIMEMultipart("mixed")
    mixed.attach(readable)
    for content, subtype, suffix in ((page, "html", "html"), (table, "csv", "csv")):
        part = MIMEText(content, subtype, "utf-8")
        part.add_header("Content-Disposition", "attachment", filename=f"{name}.{suffix}")
        mixed.attach(part)
    for inner in mixed.walk():
        if inner is not mixed:
            del inner["MIME-Version"]  # only the top level needs it
    return mixed.as_bytes(policy=POLICY)
