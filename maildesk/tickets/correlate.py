"""Find the ticket a message belongs to, in the SPEC section 5 order.

Signed reply address first, then the subject tag, then In-Reply-To and
References (messages received or sent by the desk). No match: a new ticket.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from functools import lru_cache
from typing import Protocol

from maildesk.security.signing import parse_signed, verify
from maildesk.types import ParsedMessage, RawMessage, SignedAddress, TicketKeys, Via


class ThreadLookup(Protocol):
    def ticket_exists(self, number: int) -> bool: ...

    def find_ticket_by_message_ids(self, message_ids: Iterable[str]) -> int | None: ...


@lru_cache(maxsize=16)
def tag_pattern(tag: str) -> re.Pattern[str]:
    """``[Support #42]``, tolerant of spacing and case as mail clients mangle it."""
    return re.compile(r"\[\s*" + re.escape(tag) + r"\s*#\s*(\d{1,18})\s*\]", re.IGNORECASE)


def find_tag_number(subject: str, tag: str) -> int | None:
    match = tag_pattern(tag).search(subject)
    return int(match.group(1)) if match else None


def all_recipients(parsed: ParsedMessage, raw: RawMessage) -> tuple[str, ...]:
    """Envelope recipients, then To and Cc, lower-case and without repeats."""
    seen: dict[str, None] = {}
    for address in (*raw.rcpt_tos, *parsed.to, *parsed.cc):
        seen.setdefault(address.strip("<> ").lower(), None)
    return tuple(seen)


def find_signed_address(
    recipients: Iterable[str], sender: str, desk_addresses: Collection[str], secret: bytes
) -> SignedAddress | None:
    """The first recipient that is a signed reply address of one of the desk's addresses.

    ``valid_for`` is the sender when the signature was issued to that sender;
    threading trusts the number either way (like a subject tag), commands
    only when it verifies.
    """
    for address in recipients:
        parsed = parse_signed(address)
        if parsed is None:
            continue
        level_address, number, signature = parsed
        if level_address not in desk_addresses:
            continue
        valid = bool(sender) and verify(secret, number, sender, signature)
        return SignedAddress(
            address=address, ticket=number, level_address=level_address, valid_for=sender if valid else None
        )
    return None


def correlate(
    parsed: ParsedMessage,
    raw: RawMessage,
    *,
    tag: str,
    desk_addresses: Collection[str],
    secret: bytes,
    lookup: ThreadLookup,
) -> TicketKeys:
    recipients = all_recipients(parsed, raw)
    desk_recipients = tuple(address for address in recipients if address in desk_addresses)
    signed = find_signed_address(recipients, parsed.from_addr, desk_addresses, secret)
    if signed is not None and lookup.ticket_exists(signed.ticket):
        return TicketKeys(signed.ticket, Via.SIGNED_ADDRESS, signed, desk_recipients)
    number = find_tag_number(parsed.subject, tag)
    if number is not None and lookup.ticket_exists(number):
        return TicketKeys(number, Via.SUBJECT_TAG, signed, desk_recipients)
    referenced = [*reversed(parsed.in_reply_to), *reversed(parsed.references)]
    report = parsed.delivery_report
    if report is not None and report.original_message_id:
        referenced.insert(0, report.original_message_id)
    if report is not None:
        echoed = parsed.header("X-Maildesk-Ticket")
        if echoed and echoed.strip().isdigit() and lookup.ticket_exists(int(echoed.strip())):
            return TicketKeys(int(echoed.strip()), Via.REFERENCES, signed, desk_recipients)
    if referenced:
        found = lookup.find_ticket_by_message_ids(referenced)
        if found is not None:
            return TicketKeys(found, Via.REFERENCES, signed, desk_recipients)
    return TicketKeys(None, None, signed, desk_recipients)
