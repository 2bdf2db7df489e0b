"""Recognise bounces: which recipients failed, whether for good, and which message bounced.

Standard DSNs (RFC 3464) are read field by field from their text rather than
from the stdlib's header blocks, because real reports lose blank lines, double
them, or arrive inside a multipart whose boundary never appears.  Pre-DSN text
bounces are left to ``flufl.bounce``'s per-MTA detectors, but only for mail
that already looks like a bounce (daemon sender or bounce subject), so an
ordinary message is never taken for one.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from functools import cache
from typing import Any

from maildesk.message.charsets import decode_bytes
from maildesk.types import DeliveryReport

FLUFL_MAX_BYTES = 2_000_000  # flufl runs ~40 regexes over every line of every part
TEXT_BOUNCE_HEAD_CHARS = 8_000  # a daemon's own words come first; the returned message follows

# Who sends bounces: matched against the From address, its display name and the Return-Path.
_DAEMON_RE = re.compile(
    r"(^|[<\s\"])(mailer-daemon|mailer_daemon|mailerdaemon|mail-daemon|postmaster|post_master|"
    r"mail\.delivery\.system|mail delivery (subsystem|system))\b",
    re.IGNORECASE,
)
# How MTAs word a bounce subject.  Anchored at the start, so that "Re: parcel not
# delivered" or "Fwd: Undeliverable" from a customer is not taken for one.
_BOUNCE_SUBJECT_RE = re.compile(
    r"^(?:\[[^\]]{0,40}\]\s*)?(?:warning:\s*)?(?:"
    r"undeliver|non-?deliver|returned mail|failure notice|delayed mail|failed mail|"
    r"(?:e-?)?mail delivery|delivery (?:status|notification|failure|failed|has failed)|"
    r"(?:mail|message) (?:could not be|not) delivered|could not send|mail system error|"
    r"non remis|rapport de non-remise|échec de (?:la )?(?:remise|distribution)|unzustellbar|nicht zustellbar|"
    r"недоставленное|ваше сообщение не доставлено)",
    re.IGNORECASE,
)
# Where the human-readable part of a text bounce ends and the returned message begins.
_RETURNED_RE = re.compile(
    r"original message|returned message|copy of (?:the|your)|message headers|below this line|"
    r"message follows|^received:|^return-path:|^-+ ?original",
    re.IGNORECASE | re.MULTILINE,
)
_FAILURE_RE = re.compile(
    r"could not be delivered|couldn't be delivered|undeliverable|unable to deliver|delivery (?:has )?failed|"
    r"failed recipient|delivery to the following|permanent error|user unknown|no such user|does not exist",
    re.IGNORECASE,
)
_SMTP_CODE_RE = re.compile(r"\b[45]\d\d[ -]|\b[45]\.\d{1,3}\.\d{1,3}\b")
_PERMANENT_CODE_RE = re.compile(r"\b5\d\d\b|\b5\.\d{1,3}\.\d{1,3}\b")
_TRANSIENT_RE = re.compile(
    r"\b4\d\d\b|\b4\.\d{1,3}\.\d{1,3}\b|postponed|delayed|will (?:continue to )?(?:re)?try", re.IGNORECASE
)
_BASE64_RE = re.compile(rb"\s*(?:[A-Za-z0-9+/]{40,}=*\s+)+[A-Za-z0-9+/]*=*\s*")
# The look-behind makes a search start only at the beginning of a run of address characters:
# without it, a long run with no "@" is rescanned from every position (quadratic).
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9.!#$%&'*+/=?^_`{|}~-])[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)
_RCPT_RE = re.compile(r"RCPT TO:\s*<?([^\s<>]+@[^\s<>]+?)>?\s*$", re.IGNORECASE | re.MULTILINE)
_FIELD_RE = re.compile(r"([A-Za-z][A-Za-z0-9-]*)[ \t]*:(.*)")
_STATUS_RE = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_MESSAGE_ID_RE = re.compile(r"^[ \t>]*Message-ID[ \t]*:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_SMTP_REPLY_RE = re.compile(r"\b[45]\d\d[ -](?:[45]\.\d{1,3}\.\d{1,3}\b)?[^\n]{3,}")
_RECIPIENT_FIELDS = ("original-recipient", "final-recipient")
_NOT_DELIVERY_REPORTS = ("feedback-report", "disposition-notification")


@dataclass
class _Recipient:
    """One per-recipient block of a DSN."""

    original: str = ""
    final: str = ""
    action: str = ""
    status: str = ""
    diagnostic: str = ""

    @property
    def address(self) -> str:
        return self.original or self.final

    @property
    def outcome(self) -> str | None:
        """ "permanent", "transient", or None when this recipient did not fail."""
        status = _STATUS_RE.search(self.status)
        status_class = status.group(1) if status else ""
        action = self.action.lower() or {"5": "failed", "4": "delayed"}.get(status_class, "")
        if action.startswith(("fail", "error")):  # opensmtpd writes "error"
            return "transient" if status_class == "4" else "permanent"
        if action.startswith("delay"):
            return "transient"
        return None


@dataclass
class _Findings:
    """What a walk over the report's parts collected."""

    report_type: str = ""
    status_texts: list[str] = field(default_factory=list)
    original_message_id: str | None = None
    size: int = 0  # characters of string payload, to keep flufl off huge messages


def find_delivery_report(msg: Message, headers: Mapping[str, str], text: str) -> DeliveryReport | None:
    """The DeliveryReport ``msg`` carries, or None when it is not a bounce.

    ``headers`` maps lower-case names to the first decoded value; ``text`` is
    the plain-text body.  ARF abuse reports and read receipts are not
    delivery reports.
    """
    findings = _Findings()
    _walk(msg, findings)
    if findings.report_type in _NOT_DELIVERY_REPORTS and not findings.status_texts:
        return None
    original_id = findings.original_message_id or _find_message_id(text)
    subject = headers.get("subject", "").strip()
    if findings.status_texts:
        report = _from_status("\n\n".join(findings.status_texts), original_id, subject)
        if report:
            return report
    sender = " ".join((headers.get("from", ""), headers.get("return-path", ""), headers.get("sender", "")))
    from_daemon = bool(_DAEMON_RE.search(sender))
    looks_like_bounce = from_daemon or bool(_BOUNCE_SUBJECT_RE.search(subject))
    if findings.report_type == "delivery-status" or looks_like_bounce:
        # A report whose structure the parser could not split still has its fields in the text.
        report = _from_status(text, original_id, subject)
        if report:
            return report
    if not looks_like_bounce:
        return None
    failed = headers.get("x-failed-recipients", "")  # Exim names them outright
    report = _report(
        _EMAIL_RE.findall(failed), permanent=True, text=text, headers=headers, original_id=original_id
    )
    if not report and findings.size <= FLUFL_MAX_BYTES:
        report = _from_flufl(msg, text, headers, original_id)
    if not report and from_daemon:
        report = _from_text(text, headers, original_id)
    return report


def _walk(msg: Message, findings: _Findings) -> None:
    """Collect delivery-status texts and the bounced message's id, without entering returned messages."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        ctype = part.get_content_type()
        payload = part.get_payload()
        if isinstance(payload, str):
            findings.size += len(payload)
        if ctype == "multipart/report" and not findings.report_type:
            findings.report_type = str(part.get_param("report-type") or "").lower()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            findings.status_texts.append(_part_text(part))
        elif ctype in ("message/feedback-report", "message/disposition-notification"):
            findings.report_type = findings.report_type or ctype.split("/")[1]
        elif ctype in ("message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers"):
            if findings.original_message_id is None:
                findings.original_message_id = _returned_message_id(part)
        elif part.is_multipart() and depth < 20 and isinstance(payload, list):
            stack.extend((sub, depth + 1) for sub in reversed(payload) if isinstance(sub, Message))


def _part_text(part: Message) -> str:
    """Text of a part, whether the stdlib split it into header blocks or kept a string."""
    payload: Any = part.get_payload()  # header blocks (Messages) or a string
    if isinstance(payload, list):
        blocks = []
        for block in payload:
            lines = [f"{name}: {value}" for name, value in block.raw_items()]
            # Fields after a stray line land in the block's body, sometimes base64-encoded by a gateway.
            body = block.get_payload(decode=True)
            if isinstance(body, bytes) and body.strip():
                lines.append(decode_bytes(_maybe_base64(body), None)[0])
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)
    data: Any = part.get_payload(decode=True) or b""  # bytes, for a part that is not multipart
    return decode_bytes(data, part.get_content_charset())[0]


def _maybe_base64(body: bytes) -> bytes:
    """Decode a block body that is nothing but base64 (its CTE header stuck to the block before)."""
    if not _BASE64_RE.fullmatch(body):
        return body
    try:
        return binascii.a2b_base64(body)
    except binascii.Error:
        return body


def _returned_message_id(part: Message) -> str | None:
    payload: Any = part.get_payload()  # the returned message or headers, as a Message, or a string
    if isinstance(payload, list) and payload:
        for name, value in payload[0].raw_items():
            if name.lower() == "message-id":
                found = re.search(r"<[^<>\s]+>", value)
                return found.group(0) if found else None
        return None
    return _find_message_id(_part_text(part))


def _find_message_id(text: str) -> str | None:
    found = _MESSAGE_ID_RE.search(text)
    return found.group(1) if found else None


def _recipients(text: str) -> list[_Recipient]:
    """Per-recipient blocks from DSN fields in ``text``, tolerant of missing or doubled blank lines."""
    recipients: list[_Recipient] = []
    current: _Recipient | None = None
    name = ""
    for line in text.splitlines():
        if not line.strip():
            current, name = None, ""
            continue
        if line[0] in " \t":  # continuation of the previous field
            if current is not None and name == "diagnostic-code":
                current.diagnostic += " " + line.strip()
            continue
        match = _FIELD_RE.match(line)
        if not match:
            name = ""
            continue
        name, value = match.group(1).lower(), match.group(2).strip()
        if name in _RECIPIENT_FIELDS:
            attribute = "original" if name == "original-recipient" else "final"
            # A recipient field after that recipient's Action/Status starts the next block,
            # even without a blank line.
            if current is None or getattr(current, attribute) or current.action or current.status:
                current = _Recipient()
                recipients.append(current)
            setattr(current, attribute, _address(value))
        elif current is not None and name in ("action", "status", "diagnostic-code"):
            attribute = "diagnostic" if name == "diagnostic-code" else name
            if not getattr(current, attribute):
                setattr(current, attribute, value)
    return [r for r in recipients if r.address]


def _address(value: str) -> str:
    """The address in a "rfc822; user@example.com" recipient field, lower-case."""
    _, _, address = value.rpartition(";")
    address = address.strip().strip("<>").strip().lower()
    return address if "@" in address and " " not in address else ""


def _from_status(text: str, original_id: str | None, subject: str) -> DeliveryReport | None:
    """A report from the DSN fields in ``text``: permanent failures if any, else the transient ones."""
    permanent: list[_Recipient] = []
    transient: list[_Recipient] = []
    for recipient in _recipients(text):
        outcome = recipient.outcome
        if outcome == "permanent":
            permanent.append(recipient)
        elif outcome == "transient":
            transient.append(recipient)
    chosen = permanent or transient
    if not chosen:
        return None
    first = chosen[0]
    diagnostic = re.sub(r"^\s*smtp\s*;\s*", "", first.diagnostic, flags=re.IGNORECASE)
    return DeliveryReport(
        failed=tuple(dict.fromkeys(r.address for r in chosen)),
        permanent=bool(permanent),
        original_message_id=original_id,
        diagnostic=(diagnostic or first.status or subject)[:200],
    )


@cache
def _flufl_all_failures() -> Callable[[Message], tuple[frozenset[bytes], frozenset[bytes]]]:
    """flufl.bounce, imported on first use (50 ms), with its logger quietened.

    It logs a line per detector at INFO and a traceback when one of them
    raises on odd input, which here just means "not this kind of bounce".
    """
    import logging

    from flufl.bounce import all_failures

    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    return all_failures


def _from_flufl(
    msg: Message, text: str, headers: Mapping[str, str], original_id: str | None
) -> DeliveryReport | None:
    """Ask flufl.bounce's per-MTA detectors; they may raise on odd input, which means "no"."""
    try:
        temporary, permanent = _flufl_all_failures()(msg)
    except Exception:  # noqa: BLE001 - a detector failing on odd input means "not its format"
        return None
    addresses = [a.decode("ascii", errors="replace") for a in sorted(permanent or temporary)]
    return _report(addresses, permanent=bool(permanent), text=text, headers=headers, original_id=original_id)


def _from_text(text: str, headers: Mapping[str, str], original_id: str | None) -> DeliveryReport | None:
    """Last resort for a daemon's own wording, kept strict so that a notice is not taken for a bounce.

    Before the returned message starts, an address counts when its line
    carries an SMTP reply code or a failure phrase, or when it is the first
    line after "... could not be delivered to:".
    """
    head = text[:TEXT_BOUNCE_HEAD_CHARS]
    end = _RETURNED_RE.search(head)
    lines = [line for line in head[: end.start() if end else None].splitlines() if line.strip()]
    addresses = _RCPT_RE.findall("\n".join(lines))
    for previous, line in zip([""] + lines, lines, strict=False):  # each line with the one before it
        cue = previous.rstrip().endswith(":") and _FAILURE_RE.search(previous)
        if cue or _FAILURE_RE.search(line) or _SMTP_CODE_RE.search(line):
            addresses.extend(_EMAIL_RE.findall(line))
    head = "\n".join(lines)
    permanent = bool(_PERMANENT_CODE_RE.search(head)) or not _TRANSIENT_RE.search(head)
    return _report(addresses, permanent=permanent, text=head, headers=headers, original_id=original_id)


def _report(
    addresses: list[str], *, permanent: bool, text: str, headers: Mapping[str, str], original_id: str | None
) -> DeliveryReport | None:
    """A DeliveryReport for ``addresses``, leaving out the bounce's own sender and recipients."""
    own = {
        a.lower()
        for name in ("from", "to", "return-path", "sender")
        for a in _EMAIL_RE.findall(headers.get(name, ""))
    }
    failed = [
        a
        for a in dict.fromkeys(a.strip().strip("<>").lower() for a in addresses)
        if "@" in a and a not in own
    ]
    if not failed:
        return None
    reply = _SMTP_REPLY_RE.search(text)
    diagnostic = reply.group(0).strip() if reply else headers.get("subject", "")
    return DeliveryReport(
        failed=tuple(failed),
        permanent=permanent,
        original_message_id=original_id,
        diagnostic=diagnostic[:200],
    )
