"""Turn the raw bytes of one message into a ParsedMessage, whatever state the message is in.

The work is shared out: ``headers`` reads addresses, ids and dates and
mends the header block, ``encoded_words`` and ``charsets`` turn header and
body bytes into text, ``body`` walks the MIME tree, ``html_text`` chooses
and renders the text, ``reply`` strips quoted history. What any of them had
to repair or leave out is collected in ``Notes`` and said on the ticket.
"""

from __future__ import annotations

import re
from email import errors
from email.message import Message
from functools import cached_property
from typing import Any

from maildesk.message import headers as fields
from maildesk.message.body import BodyWalk
from maildesk.message.charsets import decode_text, normalise_charset
from maildesk.message.delivery_report import find_delivery_report
from maildesk.message.encoded_words import decode_header_value
from maildesk.message.headers import MAX_ID_CHARS
from maildesk.message.html_text import choose_text
from maildesk.message.mime_helpers import parse_bytes
from maildesk.message.notes import Notes
from maildesk.message.reply import reply_text
from maildesk.types import Attachment, ParsedMessage

__all__ = ["MAX_ID_CHARS", "MAX_TEXT_CHARS", "parse_message"]

MAX_TEXT_CHARS = 1_000_000  # text and html each: a ticket body, not an archive
_SUBJECT_SPACE_RE = re.compile(r"[ \t\r\n]+")


def parse_message(data: bytes) -> ParsedMessage:
    """Parse ``data``; never raises.

    Whatever could not be decoded is replaced and named in ``defects``.  If
    the message defeats every local fallback, the result still has a digest
    Message-ID and the bytes decoded as text, so a ticket can be made.
    """
    try:
        return _Parse(bytes(data)).result()
    except Exception as exc:  # noqa: BLE001 - RecursionError on absurd nesting, or a stdlib bug not yet met
        return _last_resort(data, exc)


class _Parse:
    """One parse: the stdlib tree plus what was noticed along the way."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.notes = Notes()
        data = _normalise_input(data, self.notes.defects)
        self.msg: Message = parse_bytes(data)
        if any(isinstance(d, errors.MissingHeaderBodySeparatorDefect) for d in self.msg.defects):
            mended, said = fields.repair_header_block(data)
            repaired = parse_bytes(mended)
            if len(repaired) > len(self.msg) or (said and len(repaired) == len(self.msg)):
                self.msg = repaired
                self.notes.defects.append("malformed header block repaired")
                for what in said:
                    self.notes.repaired(f"header block repaired: {what}")
        self.raw_headers: list[tuple[str, str]] = list(self.msg.raw_items())
        self.body_guess: str | None = None  # the charset a body part turned out to be in

    def result(self) -> ParsedMessage:
        notes = self.notes
        if not self.raw_headers and b"\x00" in self.data[:4096]:
            # Not RFC 5322 at all (an Outlook .msg, a zip): keep the bytes, not a page of mojibake.
            notes.defects.append("binary input, not an RFC 5322 message")
            plains: list[str] = []
            htmls: list[str] = []
            attachments = [Attachment("message.bin", "application/octet-stream", self.data)]
        else:
            walk = BodyWalk(self.msg, notes, self._decode_header).walk()
            plains, htmls, attachments = walk.plains, walk.htmls, walk.attachments
            self.body_guess = walk.guessed
        headers = self._decoded_headers()
        decoded = {}
        for name, value in reversed(headers):
            decoded[name.lower()] = value
        from_name, from_addr, from_header = fields.requester(self._addresses, notes)
        htmls = [self._limit(_clean_text(h), "html") for h in htmls]
        text, chosen = choose_text(plains, htmls)
        if chosen:
            notes.repaired(chosen)
        text = self._limit(_clean_text(text), "text")
        report = notes.safe(find_delivery_report, None, "delivery report", self.msg, decoded, text)
        auto_submitted = decoded.get("auto-submitted")
        precedence = decoded.get("precedence")
        message_id = fields.normalise_id(self._raw("message-id") or "")
        return ParsedMessage(
            message_id=message_id or _digest_id(self.data),
            has_message_id=bool(message_id),
            subject=self._subject(decoded.get("subject", "")),
            from_addr=from_addr,
            from_name=from_name,
            to=tuple(addr for _, addr in self._addresses("to")),
            cc=tuple(addr for _, addr in self._addresses("cc")),
            reply_to=tuple(addr for _, addr in self._addresses("reply-to")),
            in_reply_to=fields.message_ids(self.raw_headers, "in-reply-to"),
            references=fields.message_ids(self.raw_headers, "references"),
            date=fields.parse_date(decoded.get("date")),
            text=text,
            reply_text=reply_text(text),
            html=htmls[0] if htmls else None,
            headers=headers,
            attachments=tuple(attachments),
            auto_submitted=auto_submitted.strip().lower() if auto_submitted else None,
            precedence=precedence.strip().lower() if precedence else None,
            list_id=decoded["list-id"].strip() if decoded.get("list-id") else None,
            x_loop=tuple(v.strip().lower() for n, v in headers if n.lower() == "x-loop" and v.strip()),
            delivery_report=report,
            defects=tuple(dict.fromkeys(notes.defects)),
            limits=tuple(dict.fromkeys(notes.limits)),
            repairs=tuple(dict.fromkeys(notes.repairs)),
            from_header=from_header,
        )

    # -- headers -----------------------------------------------------------

    def _raw(self, name: str) -> str | None:
        """The first raw value of header ``name``."""
        for key, value in self.raw_headers:
            if key.lower() == name:
                return value
        return None

    def _addresses(self, name: str) -> list[tuple[str, str]]:
        return fields.read_addresses(self.raw_headers, name, self.notes, self._decode_header)

    def _subject(self, value: str) -> str:
        subject = _SUBJECT_SPACE_RE.sub(" ", value).strip()
        if len(subject) > MAX_ID_CHARS:
            self.notes.limits.append(f"subject: {MAX_ID_CHARS:,} of {len(subject):,} characters kept")
            subject = subject[:MAX_ID_CHARS]
            self.notes.defects.append("subject truncated")
        return subject

    @cached_property
    def declared_charset(self) -> str | None:
        """The first charset the message declares: the first guess for raw 8-bit bytes in headers."""
        for part in self.msg.walk():
            charset = self.notes.safe(part.get_content_charset, None, "charset")
            if charset:
                return charset
        return None

    def _header_hint(self) -> str | None:
        """The charset to try first for header text that its label (or none) does not read.

        Short header values tell a detector little: the charset the body
        turned out to be in, else what all raw header text together reads as,
        else the declared one.
        """
        return self.body_guess or self._header_guess or normalise_charset(self.declared_charset)

    def _decode_header(self, value: str, guesses: list[str] | None = None) -> str:
        """A header value (or a name or file name in one) as text; most are ASCII without encoded-words."""
        if value.isascii() and "=?" not in value:
            return decode_header_value(value)
        charset = self.declared_charset if not value.isascii() else None
        return decode_header_value(value, charset, self._header_hint, guesses)

    @cached_property
    def _header_guess(self) -> str | None:
        """The charset of the raw 8-bit header text, read all together, when the declared one does not fit.

        One subject or name is too short for a detector; every raw header
        value of the message together usually is not.
        """
        raw = []
        for _, value in self.raw_headers:
            if not value.isascii():
                try:
                    raw.append(value.encode("utf-8", errors="surrogateescape"))
                except UnicodeEncodeError:
                    continue
        if not raw:
            return None
        return decode_text(b"\n".join(raw), self.declared_charset).guessed

    def _decoded_headers(self) -> tuple[tuple[str, str], ...]:
        guesses: list[str] = []
        decoded = tuple((name, self._decode_header(value, guesses)) for name, value in self.raw_headers)
        for codec in dict.fromkeys(guesses):
            self.notes.repaired(f"charset guessed: header text read as {codec}")
        return decoded

    def _limit(self, text: str, what: str) -> str:
        if len(text) <= MAX_TEXT_CHARS:
            return text
        self.notes.defects.append(f"{what} truncated to {MAX_TEXT_CHARS} characters")
        self.notes.limits.append(f"{what}: {MAX_TEXT_CHARS:,} of {len(text):,} characters kept")
        return text[:MAX_TEXT_CHARS]


def _normalise_input(data: bytes, defects: list[str]) -> bytes:
    """Repair what would make the stdlib misread the header block."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        defects.append("leading byte-order mark removed")
    if b"\r" in data and b"\n" not in data:
        data = data.replace(b"\r", b"\n")
        defects.append("CR-only line endings")
    return data


def _digest_id(data: bytes) -> str:
    """The Message-ID of a message that has none: the same bytes always get the same id."""
    from hashlib import sha256  # loads OpenSSL: a few ms that most messages never need

    return f"<sha256-{sha256(data).hexdigest()[:32]}@maildesk>"


def _clean_text(text: str) -> str:
    """Unix newlines and no NUL, which PostgreSQL text cannot hold."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def _last_resort(data: Any, exc: Exception) -> ParsedMessage:
    """A minimal ParsedMessage when parsing failed altogether."""
    try:
        raw = bytes(data)
    except Exception:  # noqa: BLE001 - data that is not even bytes: an empty message
        raw = b""
    text = _clean_text(raw[:MAX_TEXT_CHARS].decode("utf-8", errors="replace"))
    return ParsedMessage(
        message_id=_digest_id(raw),
        has_message_id=False,
        subject="",
        from_addr="",
        from_name="",
        to=(),
        cc=(),
        reply_to=(),
        in_reply_to=(),
        references=(),
        date=None,
        text=text,
        reply_text=text,
        html=None,
        headers=(),
        attachments=(),
        auto_submitted=None,
        precedence=None,
        list_id=None,
        x_loop=(),
        delivery_report=None,
        defects=(f"message could not be parsed: {type(exc).__name__}: {exc}"[:300],),
    )
