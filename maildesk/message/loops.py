"""Decide whether a message is automatic, so the desk never answers a robot (SPEC section 5).

These guards run before any admin rule and cannot be overridden by one.
The standard markers are checked here; robots without them are recognised
by the data-driven heuristics of ``message.robots``. Whether the message
was sent to a bounce address of the desk is found by ``security.bounces``
(the address shape belongs with its signature) and passed in.
"""

from __future__ import annotations

from collections.abc import Collection

from maildesk.message.robots import Sign, find_robot_sign
from maildesk.types import Automation, ParsedMessage, RawMessage

_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_ROBOT_AUTOMATION = {
    Sign.AUTO_REPLY: Automation.AUTO_REPLY,
    Sign.LIST: Automation.LIST,
    Sign.NO_REPLY: Automation.NO_REPLY_SENDER,
}


def _is_daemon(address: str | None) -> bool:
    if not address:
        return False
    return address.strip("<>").lower().partition("@")[0] in _DAEMON_LOCAL_PARTS


def _is_empty(address: str | None) -> bool:
    return address is not None and address.strip("<> ") == ""


def detect_automation(
    parsed: ParsedMessage,
    raw: RawMessage,
    desk_addresses: Collection[str],
    *,
    sent_to_bounce_address: bool,
) -> Automation | None:
    """The first reason the message counts as automatic, or None for a message from a person.

    ``sent_to_bounce_address``: whether a recipient is one of the desk's bounce
    addresses (``security.bounces.find_bounce_addresses``), signed or not.
    ``X-Auto-Response-Suppress`` alone does not make a message automatic.
    """
    if parsed.delivery_report is not None:
        return Automation.DELIVERY_REPORT
    if any(loop in desk_addresses for loop in parsed.x_loop):
        return Automation.LOOP
    if parsed.auto_submitted and parsed.auto_submitted.split(";")[0].strip() != "no":
        return Automation.AUTO_SUBMITTED
    if parsed.precedence and parsed.precedence.strip() in ("bulk", "junk", "list"):
        return Automation.BULK
    if parsed.list_id:
        return Automation.LIST
    if (parsed.header("Content-Type") or "").lower().startswith("multipart/report"):
        # Read receipts (MDN) and abuse feedback (ARF) are machine-made reports like DSNs, never requests.
        return Automation.REPORT
    # The envelope sender, and the Return-Path an MTA recorded it as (IMAP, pipe and file intake know
    # no envelope; a "Return-Path: <>" that came through SMTP was written by an earlier hop for a robot).
    return_path = parsed.header("Return-Path")
    # An empty or missing From is a robot's sign (SPEC section 5), even where Reply-To, Sender or
    # Return-Path gave the ticket a requester.
    no_from = not parsed.from_addr or parsed.from_header != "from"
    if _is_empty(raw.mail_from) or _is_empty(return_path) or no_from:
        return Automation.EMPTY_SENDER
    envelope = raw.mail_from if raw.mail_from is not None else return_path
    if _is_daemon(envelope) or _is_daemon(parsed.from_addr):
        return Automation.DAEMON_SENDER
    if parsed.from_addr in desk_addresses:
        return Automation.LOOP
    if sent_to_bounce_address:
        # People answer the From or Reply-To; only robots (RFC 3834 auto-responders) the envelope sender.
        return Automation.BOUNCE_ADDRESS
    sign = find_robot_sign(
        parsed.subject, parsed.headers, (parsed.from_addr, envelope), is_reply=bool(parsed.in_reply_to)
    )
    return _ROBOT_AUTOMATION[sign.sign] if sign is not None else None
