"""The header fields a ticket needs, read as leniently as a mail client reads them.

Addresses: the policy's parser first, and a plain reading of the field
where it gets the address wrong (``"Clement.Si" <claudia@example.com.>``,
an address as display name, a trailing dot). The requester: From, or when
From holds no address, Reply-To, then Sender, then Return-Path, as Zammad
and RT do. The header block: junk lines before the first field and
continuation lines that lost their indentation are mended before parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from maildesk.message.charsets import repair_surrogates
from maildesk.message.encoded_words import decode_header_value
from maildesk.message.mime_helpers import POLICY
from maildesk.message.notes import Notes

MAX_ID_CHARS = (
    998  # the RFC 5322 line limit; longer ids (and subjects) are truncated, ids the same way everywhere
)
# The policy's address parser is quadratic (1.4 s for a 130 KB To); longer headers
# go straight to getaddresses, which is linear and ten times faster.
POLICY_ADDRESS_CHARS = 2_000
MAX_ADDRESS_HEADER_CHARS = 64_000  # ~2,000 recipients; getaddresses takes seconds on megabyte headers
# Where the requester's address is looked for, in order, when From has none.
SENDER_HEADERS = ("from", "reply-to", "sender", "return-path")
MAX_JUNK_LINES = 3  # "---- Original email message ----", a mbox "From " line, a stray ">From "

_ID_RE = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")
_ADDR_SPEC_RE = re.compile(r"(?<![^\s<>()\[\]:;,\"@])[^\s<>()\[\]:;,\"@]+@[^\s<>()\[\]:;,\"@]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_LINE_BREAK_RE = re.compile(r"[\r\n]")
_COMMENT_RE = re.compile(r"\([^()]*\)")
_ANGLE_RE = re.compile(r"<([^<>]*)>")
_LIST_ITEM_RE = re.compile(r'(?:"(?:[^"\\]|\\.)*"?|<[^<>]*>?|[^,"<])+')

Pairs = list[tuple[str, str]]


def read_addresses(
    raw_headers: list[tuple[str, str]],
    name: str,
    notes: Notes,
    decode: Callable[[str], str] = decode_header_value,
) -> Pairs:
    """(display name, lower-case address) pairs from every ``name`` header.

    The policy's structured parser is tried first; it raises on some group
    syntax ("unlisted-recipients:; (comment)") and is too slow for huge
    headers, and then the old ``getaddresses`` tokenizer reads the raw value.
    That one recurses once per group, so a header with thousands of colons
    leaves only a regex for bare addresses. Where an address in angle
    brackets is not among what the parser found, the field is read item by
    item, the angle brackets giving the address. ``decode`` reads names.
    """
    pairs: Pairs = []
    for key, raw in raw_headers:
        if key.lower() != name:
            continue
        raw = _LINE_BREAK_RE.sub("", raw)  # unfold, as the policy does before parsing
        if len(raw) > MAX_ADDRESS_HEADER_CHARS:
            kept = f"{MAX_ADDRESS_HEADER_CHARS:,} of {len(raw):,}"
            notes.limits.append(f"{key} header: {kept} characters read for addresses")
            raw = raw[:MAX_ADDRESS_HEADER_CHARS]
            notes.defects.append(f"{key} header truncated for address parsing")
        found = [(display, _clean_address(addr)) for display, addr in _parse_addresses(key, raw, notes)]
        if "<" in raw and len(raw) <= POLICY_ADDRESS_CHARS:
            angled = {_clean_address(_bare(a)) for a in _ANGLE_RE.findall(raw)} - {""}
            if not angled <= {addr for _, addr in found}:
                found = [(display, _clean_address(addr)) for display, addr in _item_addresses(raw)]
        for display, addr in found:
            if addr and len(addr.split()) == 1:
                pairs.append((decode(display).strip() if display else "", addr))
    return pairs


def _parse_addresses(key: str, raw: str, notes: Notes) -> Pairs:
    try:
        if len(raw) > POLICY_ADDRESS_CHARS:
            raise ValueError("too long for the policy parser")
        found = [(a.display_name, a.addr_spec) for a in POLICY.header_factory(key, raw).addresses]
        if "=?" in raw:  # the policy keeps the folding between adjacent encoded-words in names
            names = {addr.lower(): name for name, addr in _fallback_addresses(raw)}
            found = [(names.get(addr.lower()) or display, addr) for display, addr in found]
    except Exception:  # noqa: BLE001 - any policy-parser failure: the plain parser takes over
        if len(raw) <= POLICY_ADDRESS_CHARS:
            notes.defects.append(f"{key} header unparseable by the email policy")
        found = _fallback_addresses(raw)
    return found


def _clean_address(addr: str) -> str:
    """An address as the desk keys it: decoded, lower-case, no brackets, no trailing dot."""
    if "=?" in addr or not addr.isascii():
        addr = decode_header_value(addr)
    return addr.strip().strip("<>").strip().rstrip(".").lower()


def _bare(addr: str) -> str:
    """An addr-spec without the comments and spaces obsolete syntax allows in it."""
    return "".join(_COMMENT_RE.sub("", addr).split()) if "(" in addr or " " in addr else addr


def _item_addresses(raw: str) -> Pairs:
    """Each comma-separated item of an address field: the address in its angle brackets, the rest its name."""
    pairs: Pairs = []
    for item in _LIST_ITEM_RE.findall(raw):
        angles = list(_ANGLE_RE.finditer(item))
        if angles:
            angle = angles[-1]
            addr = _bare(angle.group(1))
            display = _COMMENT_RE.sub("", item[: angle.start()] + item[angle.end() :])
        else:
            bare = _ADDR_SPEC_RE.search(item)
            addr, display = (bare.group(0), "") if bare else ("", "")
        display = " ".join(display.split()).strip('"').replace('\\"', '"').strip()
        if addr.strip():
            pairs.append((display, addr))
    return pairs


def _fallback_addresses(raw: str) -> Pairs:
    try:
        return [(decode_header_value(name), addr) for name, addr in getaddresses([raw])]
    except Exception:  # noqa: BLE001 - getaddresses trips on odd input: the bare addresses are still there
        return [("", addr) for addr in _ADDR_SPEC_RE.findall(raw)]


def requester(read: Callable[[str], Pairs], notes: Notes) -> tuple[str, str, str]:
    """(name, address, the header it came from) of the message's writer: From, unless From has no address."""
    from_pairs = read("from")
    if from_pairs and "@" in from_pairs[0][1]:
        return from_pairs[0][0], from_pairs[0][1], "from"
    for header in SENDER_HEADERS[1:]:
        found = [(name, addr) for name, addr in read(header) if "@" in addr]
        if found:
            name, addr = found[0]
            notes.repaired(f"requester taken from {header.title()}: From has no address")
            return name, addr, header
    if from_pairs:  # "undisclosed", a local name: what there is
        return from_pairs[0][0], from_pairs[0][1], "from"
    return "", "", "from"


def message_ids(raw_headers: list[tuple[str, str]], name: str) -> tuple[str, ...]:
    found = (clip_id(i) for key, value in raw_headers if key.lower() == name for i in _ID_RE.findall(value))
    return tuple(dict.fromkeys(repair_surrogates(i) for i in found))


def clip_id(message_id: str) -> str:
    return message_id if len(message_id) <= MAX_ID_CHARS else message_id[: MAX_ID_CHARS - 1] + ">"


def normalise_id(raw: str) -> str:
    """The Message-ID as "<...>", without comments or whitespace; "" when there is none."""
    value = _CONTROL_RE.sub("", "".join(_COMMENT_RE.sub("", raw).split()))
    found = re.search(r"<[^<>]+>", value)
    if found:
        value = found.group(0)
    else:
        value = value.strip("<>")
        value = f"<{value}>" if value else ""
    return clip_id(repair_surrogates(value))


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except Exception:  # noqa: BLE001 - a date that does not parse is no date
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_FIELD_NAME_RE = re.compile(rb"^[!-9;-~]+:")
_OBSOLETE_FIELD_RE = re.compile(rb"^([!-9;-~]+)[ \t]+:")
_COMMON_FIELD_RE = re.compile(
    rb"^(?:from|to|cc|subject|date|message-id|received|return-path|mime-version|content-type|reply-to|sender)"
    rb"[ \t]*:",
    re.IGNORECASE,
)


def repair_header_block(data: bytes) -> tuple[bytes, list[str]]:
    """Mend a header block that the stdlib would end early, pushing real fields into the body.

    Up to MAX_JUNK_LINES lines before the first field are dropped when
    common fields follow them. Obsolete "Name :" fields lose the space before
    the colon; a line that is not a field but is followed by common fields
    (an unindented fold, "quite Delivered-To:"), that follows a field
    ending in a comma, or that starts with an encoded-word, becomes a
    continuation of the field before it. Also
    returns what was mended, for the ticket.
    """
    blank = re.search(rb"\r?\n\r?\n", data)
    end = blank.start() if blank else len(data)
    lines = data[:end].split(b"\n")
    last_common = max((i for i, line in enumerate(lines) if _COMMON_FIELD_RE.match(line)), default=-1)
    out: list[bytes] = []
    junk = joined = 0
    for index, line in enumerate(lines):
        fixed = _OBSOLETE_FIELD_RE.sub(rb"\1:", line, count=1)
        if _FIELD_NAME_RE.match(fixed) or (out and line[:1] in (b" ", b"\t")):
            out.append(fixed)
        elif not out and index < MAX_JUNK_LINES and index < last_common:
            junk += 1
        elif out and (
            index < last_common or out[-1].rstrip().endswith((b",", b";")) or line.startswith(b"=?")
        ):
            out.append(b" " + line)
            joined += 1
        else:
            data = b"\n".join(out + lines[index:]) + data[end:]
            break
    else:
        data = b"\n".join(out) + data[end:]
    said = [f"{junk} line(s) before the first header field skipped"] if junk else []
    return data, said + ([f"{joined} unindented continuation line(s) joined"] if joined else [])
