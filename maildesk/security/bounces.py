"""Tell a genuine delivery report from a forged one: which mail the desk sent is it about? (SPEC section 5)

Anybody can send ``MAIL FROM:<>`` and a ``multipart/report`` naming any
address; if the desk believed it, anybody could silence anybody. So a report
counts only when it proves it answers a mail the desk really sent:

1. it was sent to that mail's bounce address (VERP), the signed envelope
   sender ``<local>+bounce-<outbox id>-<sig>@<domain>`` every outgoing mail
   has; the failed address is then the one that mail went to, whatever the
   report names (a forwarding address may be the one that failed, and a
   recipient who saw the bounce address can only silence themselves); or
2. it quotes the Message-ID of a mail the desk sent to the failed address.

Anything else is kept in quarantine with the reason, and silences nobody.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Protocol

from maildesk.security.signing import parse_bounce, verify_bounce
from maildesk.types import DeliveryReport, ParsedMessage, RawMessage

#: Where a report's recipient can be read besides the envelope (SMTP/LMTP) and To/Cc: what the
#: delivering MTA recorded (IMAP, pipe and file intake know no envelope).
RECIPIENT_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to")
# A bounce address inside a header value. A plain search, not an address-list parse: the header may be
# hostile (thousands of encoded words), and only this one shape matters here. The look-behind starts a
# match only where a run of address characters starts, so a long run is scanned once, not from each position.
_ADDRESS_CHARACTER = r"[^\s<>,;:\"'()\[\]]"
_BOUNCE_IN_TEXT = re.compile(
    rf"(?<!{_ADDRESS_CHARACTER}){_ADDRESS_CHARACTER}+\+bounce-[0-9]{{1,18}}-[^\s<>,;:\"'()\[\]@]*@[A-Za-z0-9.-]+"
)


@dataclass(frozen=True)
class SentMail:
    """An outbox row, as far as bounces care."""

    outbox_id: int
    ticket: int | None
    to_addr: str
    message_id: str


@dataclass(frozen=True)
class BounceAddress:
    """A recipient of the form ``<local>+bounce-<outbox id>-<sig>@<domain>`` of a desk address."""

    address: str
    outbox_id: int
    signature: str


@dataclass(frozen=True)
class Verdict:
    """Which sent mail a report is about (``mail``), or why it counts for nothing (``refusal``)."""

    mail: SentMail | None
    via: str | None = None  # "bounce-address" or "message-id"
    refusal: str | None = None


class SentMailLookup(Protocol):
    def find_sent_mail(self, outbox_id: int) -> SentMail | None: ...

    def find_sent_mail_by_message_id(self, message_id: str) -> SentMail | None: ...


def _recipients(parsed: ParsedMessage, raw: RawMessage) -> Iterator[str]:
    yield from raw.rcpt_tos
    yield from parsed.to
    yield from parsed.cc
    for name, value in parsed.headers:
        if name.lower() in RECIPIENT_HEADERS and "+bounce-" in value.lower():
            yield from _BOUNCE_IN_TEXT.findall(value)


def find_bounce_addresses(
    parsed: ParsedMessage, raw: RawMessage, desk_addresses: Collection[str]
) -> tuple[BounceAddress, ...]:
    """The desk's bounce addresses the message was sent to, signed or not, without repeats."""
    found: dict[str, BounceAddress] = {}
    for address in _recipients(parsed, raw):
        parts = parse_bounce(address)
        if parts is None or parts[0] not in desk_addresses:
            continue
        normalised = address.strip().strip("<>").strip().lower()
        found.setdefault(normalised, BounceAddress(normalised, parts[1], parts[2]))
    return tuple(found.values())


def find_sent_mail(
    addresses: tuple[BounceAddress, ...], secret: bytes, lookup: SentMailLookup
) -> tuple[SentMail | None, str | None]:
    """The mail whose signed bounce address is among ``addresses``, or None and why not."""
    refusal = None
    for bounce in addresses:
        if not verify_bounce(secret, bounce.outbox_id, bounce.signature):
            refusal = f"sent to a bounce address with a bad signature ({bounce.address})"
            continue
        mail = lookup.find_sent_mail(bounce.outbox_id)
        if mail is not None:
            return mail, None
        refusal = f"sent to the bounce address of outbox mail {bounce.outbox_id}, which does not exist"
    return None, refusal


def judge_report(
    report: DeliveryReport,
    addresses: tuple[BounceAddress, ...],
    secret: bytes,
    lookup: SentMailLookup,
) -> Verdict:
    """Whether ``report`` (sent to ``addresses``) proves which mail of the desk's bounced."""
    mail, refusal = find_sent_mail(addresses, secret, lookup)
    if mail is not None:
        return Verdict(mail, "bounce-address")
    quoted = report.original_message_id
    if quoted:
        mail = lookup.find_sent_mail_by_message_id(quoted)
        if mail is not None and mail.to_addr.lower() in report.failed:
            return Verdict(mail, "message-id")
        if mail is not None:
            refusal = refusal or (
                f"quotes {quoted}, which the desk sent to {mail.to_addr}, "
                f"not to {', '.join(report.failed) or 'the failed address'}"
            )
    failed = f" (failed: {', '.join(report.failed)})" if report.failed else ""
    return Verdict(None, refusal=(refusal or "matches no mail the desk sent") + failed)
