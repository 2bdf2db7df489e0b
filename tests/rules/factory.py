"""Build ParsedMessage values for the rules tests."""

from __future__ import annotations

from maildesk.types import Attachment, ParsedMessage


def make_message(
    *,
    subject: str = "Printer on floor 2 is jammed",
    text: str = "Hello, the printer is jammed.",
    from_addr: str = "user@example.com",
    from_name: str = "Jane User",
    to: tuple[str, ...] = ("support@example.org",),
    cc: tuple[str, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    attachments: tuple[Attachment, ...] = (),
) -> ParsedMessage:
    """A ParsedMessage with harmless defaults; override only what a test is about."""
    return ParsedMessage(
        message_id="<test-1@example.com>",
        has_message_id=True,
        subject=subject,
        from_addr=from_addr,
        from_name=from_name,
        to=to,
        cc=cc,
        reply_to=(),
        in_reply_to=(),
        references=(),
        date=None,
        text=text,
        reply_text=text,
        html=None,
        headers=(("From", f"{from_name} <{from_addr}>"), ("Subject", subject), *headers),
        attachments=attachments,
        auto_submitted=None,
        precedence=None,
        list_id=None,
        x_loop=(),
        delivery_report=None,
    )


PDF = Attachment(filename="screenshot.pdf", content_type="application/pdf", data=b"%PDF-1.4")
