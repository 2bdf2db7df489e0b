"""Decide whether a message is automatic, so the desk never answers a robot (SPEC section 5).

These guards run before any admin rule and cannot be overridden by one.
"""

from __future__ import annotations

from collections.abc import Collection

from maildesk.types import Automation, ParsedMessage, RawMessage

_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})


def _is_daemon(address: str | None) -> bool:
    if not address:
        return False
    return address.strip("<>").lower().partition("@")[0] in _DAEMON_LOCAL_PARTS


def detect_automation(
    parsed: ParsedMessage, raw: RawMessage, desk_addresses: Collection[str]
) -> Automation | None:
    """The first reason the message counts as automatic, or None for a message from a person.

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
    envelope = raw.mail_from
    if envelope is None:
        # IMAP, pipe and file intake know no envelope; the delivering MTA recorded it as Return-Path.
        envelope = parsed.header("Return-Path")
    if envelope is not None and envelope.strip("<> ") == "":
        return Automation.EMPTY_SENDER
    if not parsed.from_addr:
        return Automation.EMPTY_SENDER
    if _is_daemon(envelope) or _is_daemon(parsed.from_addr):
        return Automation.DAEMON_SENDER
    if parsed.from_addr in desk_addresses:
        return Automation.LOOP
    return None
