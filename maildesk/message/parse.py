"""Turn the raw bytes of one message into a ParsedMessage, whatever state the message is in."""

from __future__ import annotations

import binascii
import contextlib
import re
import warnings
from datetime import UTC, datetime
from email import errors
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from functools import cache, cached_property
from typing import Any

from maildesk.message.delivery_report import find_delivery_report
from maildesk.message.mime_helpers import (
    PARSER,
    POLICY,
    decode_bytes,
    decode_header_value,
    enriched_to_text,
    html_to_text,
    message_bytes,
    parse_bytes,
    repair_header_block,
    repair_surrogates,
    safe_filename,
)
from maildesk.types import Attachment, ParsedMessage

MAX_TEXT_CHARS = 1_000_000  # text and html each: a ticket body, not an archive
MAX_ID_CHARS = (
    998  # the RFC 5322 line limit; longer ids (and subjects) are truncated, ids the same way everywhere
)
REPLY_SCAN_CHARS = 20_000  # the reply parser is linear but slow (~0.5 ms/KB); replies sit at the top
SIGNATURE_SCAN_CHARS = 4_000  # below this, a text without quoted history still loses its signature
# The policy's address parser is quadratic (1.4 s for a 130 KB To); longer headers
# go straight to getaddresses, which is linear and ten times faster.
POLICY_ADDRESS_CHARS = 2_000
MAX_ADDRESS_HEADER_CHARS = 64_000  # ~2,000 recipients; getaddresses takes seconds on megabyte headers
MAX_DEPTH = 30
MAX_PARTS = 2_000
LARGE_PAYLOAD_CHARS = 1_000_000  # a base64 payload this long is decoded without the stdlib's copies

_ID_RE = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")
_ADDR_SPEC_RE = re.compile(r"(?<![^\s<>()\[\]:;,\"@])[^\s<>()\[\]:;,\"@]+@[^\s<>()\[\]:;,\"@]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MIME_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_LINE_BREAK_RE = re.compile(r"[\r\n]")
_COMMENT_RE = re.compile(r"\([^()]*\)")
_SUBJECT_SPACE_RE = re.compile(r"[ \t\r\n]+")
_BOUNDARY_LINE_RE = re.compile(r"^--([^\s]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_NAME_PARAM_RE = re.compile(r"\b(?:file)?name\s*=\s*(?:\"([^\"]*)\"|([^;\s]+))", re.IGNORECASE)
_BODY_TYPES = ("text/plain", "text/html", "text/enriched", "text/richtext")
_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/news": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/feedback-report": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/rfc822-headers": ".txt",
    "text/calendar": ".ics",
}


def parse_message(data: bytes) -> ParsedMessage:
    """Parse ``data``; never raises.

    Whatever could not be decoded is replaced and named in ``defects``.  If
    the message defeats every local fallback, the result still has a digest
    Message-ID and the bytes decoded as text, so a ticket can be made.
    """
    try:
        return _Parse(bytes(data)).result()
    except Exception as exc:  # RecursionError on absurd nesting, or a stdlib bug not yet met
        return _last_resort(data, exc)


class _Parse:
    """One parse: the stdlib tree plus the defects noticed along the way."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.defects: list[str] = []
        self.limits: list[str] = []  # what the limits below left out, said on the ticket (never silently)
        data = _normalise_input(data, self.defects)
        self.msg: Message = parse_bytes(data)
        if any(isinstance(d, errors.MissingHeaderBodySeparatorDefect) for d in self.msg.defects):
            repaired = parse_bytes(repair_header_block(data))
            if len(repaired) > len(self.msg):
                self.msg = repaired
                self.defects.append("malformed header block repaired")
        self.raw_headers: list[tuple[str, str]] = list(self.msg.raw_items())

    def result(self) -> ParsedMessage:
        headers = tuple((name, self._decode_header(value)) for name, value in self.raw_headers)
        decoded = {}
        for name, value in reversed(headers):
            decoded[name.lower()] = value
        message_id = _normalise_id(self._raw("message-id") or "")
        from_list = self._addresses("from")
        from_name, from_addr = from_list[0] if from_list else ("", "")
        subject = _SUBJECT_SPACE_RE.sub(" ", decoded.get("subject", "")).strip()
        if len(subject) > MAX_ID_CHARS:
            self.limits.append(f"subject: {MAX_ID_CHARS:,} of {len(subject):,} characters kept")
            subject = subject[:MAX_ID_CHARS]
            self.defects.append("subject truncated")
        if not self.raw_headers and b"\x00" in self.data[:4096]:
            # Not RFC 5322 at all (an Outlook .msg, a zip): keep the bytes, not a page of mojibake.
            self.defects.append("binary input, not an RFC 5322 message")
            plains, htmls = [], []
            attachments = [Attachment("message.bin", "application/octet-stream", self.data)]
        else:
            plains, htmls, attachments = self._body_and_attachments()
        htmls = [self._limit(_clean_text(h), "html") for h in htmls]
        text = "\n\n".join(plains) if plains else "\n\n".join(html_to_text(h) for h in htmls)
        text = self._limit(_clean_text(text), "text")
        report = self._safe(find_delivery_report, None, "delivery report", self.msg, decoded, text)
        auto_submitted = decoded.get("auto-submitted")
        precedence = decoded.get("precedence")
        return ParsedMessage(
            message_id=message_id or _digest_id(self.data),
            has_message_id=bool(message_id),
            subject=subject,
            from_addr=from_addr,
            from_name=from_name,
            to=tuple(addr for _, addr in self._addresses("to")),
            cc=tuple(addr for _, addr in self._addresses("cc")),
            reply_to=tuple(addr for _, addr in self._addresses("reply-to")),
            in_reply_to=self._ids("in-reply-to"),
            references=self._ids("references"),
            date=_parse_date(decoded.get("date")),
            text=text,
            reply_text=_reply_text(text),
            html=htmls[0] if htmls else None,
            headers=headers,
            attachments=tuple(attachments),
            auto_submitted=auto_submitted.strip().lower() if auto_submitted else None,
            precedence=precedence.strip().lower() if precedence else None,
            list_id=decoded["list-id"].strip() if decoded.get("list-id") else None,
            x_loop=tuple(v.strip().lower() for n, v in headers if n.lower() == "x-loop" and v.strip()),
            delivery_report=report,
            defects=tuple(dict.fromkeys(self.defects)),
            limits=tuple(dict.fromkeys(self.limits)),
        )

    # -- headers -----------------------------------------------------------

    def _raw(self, name: str) -> str | None:
        """The first raw value of header ``name``."""
        for key, value in self.raw_headers:
            if key.lower() == name:
                return value
        return None

    def _ids(self, name: str) -> tuple[str, ...]:
        found = (
            _clip_id(i)
            for key, value in self.raw_headers
            if key.lower() == name
            for i in _ID_RE.findall(value)
        )
        return tuple(dict.fromkeys(repair_surrogates(i) for i in found))

    def _addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, lower-case address) pairs from every ``name`` header.

        The policy's structured parser is tried first; it raises on some group
        syntax ("unlisted-recipients:; (comment)") and is too slow for huge
        headers, and then the old ``getaddresses`` tokenizer reads the raw value.
        That one recurses once per group, so a header with thousands of colons
        leaves only a regex for bare addresses.
        """
        pairs: list[tuple[str, str]] = []
        for key, raw in self.raw_headers:
            if key.lower() != name:
                continue
            raw = _LINE_BREAK_RE.sub("", raw)  # unfold, as the policy does before parsing
            if len(raw) > MAX_ADDRESS_HEADER_CHARS:
                kept = f"{MAX_ADDRESS_HEADER_CHARS:,} of {len(raw):,}"
                self.limits.append(f"{key} header: {kept} characters read for addresses")
                raw = raw[:MAX_ADDRESS_HEADER_CHARS]
                self.defects.append(f"{key} header truncated for address parsing")
            try:
                if len(raw) > POLICY_ADDRESS_CHARS:
                    raise ValueError("too long for the policy parser")
                found = [(a.display_name, a.addr_spec) for a in POLICY.header_factory(key, raw).addresses]
                if "=?" in raw:  # the policy keeps the folding between adjacent encoded-words in names
                    names = {addr.lower(): name for name, addr in _fallback_addresses(raw)}
                    found = [(names.get(addr.lower()) or display, addr) for display, addr in found]
            except Exception:
                if len(raw) <= POLICY_ADDRESS_CHARS:
                    self.defects.append(f"{key} header unparseable by the email policy")
                found = _fallback_addresses(raw)
            for display, addr in found:
                addr = decode_header_value(addr).strip().strip("<>").lower()
                if addr and len(addr.split()) == 1:
                    pairs.append((decode_header_value(display).strip(), addr))
        return pairs

    # -- body --------------------------------------------------------------

    def _body_and_attachments(self) -> tuple[list[str], list[str], list[Attachment]]:
        """Walk the MIME tree once: body texts (plain, html) and everything else as attachments.

        Each text/plain part that is not an attachment is body (Apple Mail
        splits text around inline images); HTML is used only when there is no
        plain text.  message/* parts are attachments and are not entered, so a
        forwarded or returned message never becomes this message's body.
        """
        plains: list[str] = []
        htmls: list[str] = []
        enriched: list[str] = []
        attachments: list[Attachment] = []
        stack: list[tuple[Message, int]] = [(self.msg, 0)]
        seen = too_deep = 0
        while stack:
            part, depth = stack.pop()
            if depth > MAX_DEPTH:
                too_deep += _count_parts(part)
                continue
            seen += 1
            if seen > MAX_PARTS:
                total = _count_parts(self.msg)
                self.limits.append(
                    f"{MAX_PARTS:,} of {total:,} parts kept (the first {MAX_PARTS:,} are read)"
                )
                self.defects.append("too many parts; the rest were skipped")
                break
            ctype = self._safe(part.get_content_type, "application/octet-stream", "content-type")
            maintype = ctype.partition("/")[0]
            if part.is_multipart() and maintype != "message":
                stack.extend((sub, depth + 1) for sub in reversed(part.get_payload()))
                continue
            if maintype == "multipart":  # declared multipart, but the stdlib found no boundary
                if self._recover_multipart(part, ctype):
                    stack.append((part, depth))
                    continue
                ctype = "text/plain"
            disposition = self._safe(part.get_content_disposition, None, "content-disposition")
            filename = self._safe(self._filename, None, "filename", part)
            if ctype in _BODY_TYPES and disposition != "attachment" and not filename:
                body = self._part_text(part)
                if ctype == "text/plain":
                    plains.append(body)
                elif ctype == "text/html":
                    htmls.append(body)
                else:
                    enriched.append(enriched_to_text(body))
                continue
            fallback = f"attachment-{len(attachments) + 1}{_EXTENSIONS.get(ctype, '.bin')}"
            data = self._safe(_part_bytes, b"", "attachment payload", part)
            ctype = ctype if _MIME_TYPE_RE.fullmatch(ctype) else "application/octet-stream"
            attachments.append(Attachment(safe_filename(filename, fallback), ctype, data))
        if too_deep:
            self.limits.append(f"{too_deep:,} parts nested deeper than {MAX_DEPTH} levels left out")
            self.defects.append("too deeply nested parts skipped")
        return plains or enriched, htmls, attachments

    def _part_text(self, part: Message) -> str:
        """A text part decoded with its declared charset, or the best guess when that fails.

        ``get_content()`` is not used: it raises on unknown charsets and
        decodes undeclared 8-bit text as ASCII, losing every accented letter.
        """
        data = self._safe(_part_bytes, b"", "text payload", part)
        charset = self._safe(part.get_content_charset, None, "charset")
        text, defect = decode_bytes(data, charset)
        if defect:
            self.defects.append(defect)
        return text

    def _recover_multipart(self, part: Message, ctype: str) -> bool:
        """Split a multipart whose boundary parameter is missing or wrong, using the body's first boundary line.

        The part is repaired in place, so that the delivery-report walk sees
        the recovered structure too.
        """
        payload = part.get_payload()
        self.defects.append(f"{ctype.split(';')[0][:60]} without a usable boundary")
        found = _BOUNDARY_LINE_RE.search(payload) if isinstance(payload, str) else None
        subtype = re.match(r"multipart/[a-z0-9.+-]+", ctype)
        if not found or not subtype:
            return False
        head = f'Content-Type: {subtype.group(0)}; boundary="{found.group(1)}"\n\n'
        recovered = PARSER.parsebytes(head.encode() + payload.encode("utf-8", errors="surrogateescape"))
        if not recovered.is_multipart():
            return False
        part.set_payload(recovered.get_payload())
        return True

    @cached_property
    def raw_charset(self) -> str | None:
        """The first charset the message declares: the best guess for raw 8-bit bytes in headers."""
        for part in self.msg.walk():
            charset = self._safe(part.get_content_charset, None, "charset")
            if charset:
                return charset
        return None

    def _decode_header(self, value: str) -> str:
        return decode_header_value(value, self.raw_charset if not value.isascii() else None)

    def _filename(self, part: Message) -> str | None:
        """The file name the part declares, also where the policy garbles or rejects it.

        Unquoted encoded-words (``filename==?koi8-r?B?...?=``) make the policy
        drop the parameter, and it turns raw 8-bit names into U+FFFD; a plain
        regex over the raw header recovers both.
        """
        name = part.get_filename()
        if name is not None and "\ufffd" not in name:
            return name
        for key, value in part.raw_items():
            if key.lower() in ("content-disposition", "content-type"):
                found = _NAME_PARAM_RE.search(value)
                if found:
                    return self._decode_header(
                        found.group(1) if found.group(1) is not None else found.group(2)
                    )
        return name

    def _limit(self, text: str, what: str) -> str:
        if len(text) <= MAX_TEXT_CHARS:
            return text
        self.defects.append(f"{what} truncated to {MAX_TEXT_CHARS} characters")
        self.limits.append(f"{what}: {MAX_TEXT_CHARS:,} of {len(text):,} characters kept")
        return text[:MAX_TEXT_CHARS]

    def _safe(self, func: Any, default: Any, what: str, *args: Any, **kwargs: Any) -> Any:
        """``func(*args)``, or ``default`` with a defect when the stdlib or a library raises."""
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            self.defects.append(f"{what}: {type(exc).__name__}")
            return default


def _normalise_input(data: bytes, defects: list[str]) -> bytes:
    """Repair what would make the stdlib misread the header block."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        defects.append("leading byte-order mark removed")
    if b"\r" in data and b"\n" not in data:
        data = data.replace(b"\r", b"\n")
        defects.append("CR-only line endings")
    return data


def _fallback_addresses(raw: str) -> list[tuple[str, str]]:
    try:
        return [(decode_header_value(name), addr) for name, addr in getaddresses([raw])]
    except Exception:
        return [("", addr) for addr in _ADDR_SPEC_RE.findall(raw)]


def _count_parts(root: Message) -> int:
    """How many parts a tree holds (message/* parts count as one: they are kept whole), without recursion."""
    count, stack = 0, [root]
    while stack:
        part = stack.pop()
        count += 1
        payload = part.get_payload()
        if part.is_multipart() and part.get_content_maintype() != "message" and isinstance(payload, list):
            stack.extend(payload)
    return count


def _part_bytes(part: Message) -> bytes:
    """Decoded payload of a leaf; the re-serialised message(s) of a message/* part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return b"".join(message_bytes(sub) for sub in payload)
    if (
        isinstance(payload, str)
        and len(payload) > LARGE_PAYLOAD_CHARS
        and str(part.get("content-transfer-encoding", "")).strip().lower() == "base64"
    ):
        # The stdlib splits the payload into lines and joins them before decoding (five copies of
        # an attachment at once); a2b_base64 skips the line breaks itself. Anything it does not
        # take (non-ASCII, bad padding) goes the stdlib's lenient way below.
        with contextlib.suppress(binascii.Error, ValueError):
            return binascii.a2b_base64(payload)
    return part.get_payload(decode=True) or b""


def _digest_id(data: bytes) -> str:
    """The Message-ID of a message that has none: the same bytes always get the same id."""
    from hashlib import sha256  # loads OpenSSL: a few ms that most messages never need

    return f"<sha256-{sha256(data).hexdigest()[:32]}@maildesk>"


def _clip_id(message_id: str) -> str:
    return message_id if len(message_id) <= MAX_ID_CHARS else message_id[: MAX_ID_CHARS - 1] + ">"


def _normalise_id(raw: str) -> str:
    """The Message-ID as "<...>", without comments or whitespace; "" when there is none."""
    value = _CONTROL_RE.sub("", "".join(_COMMENT_RE.sub("", raw).split()))
    found = re.search(r"<[^<>]+>", value)
    if found:
        value = found.group(0)
    else:
        value = value.strip("<>")
        value = f"<{value}>" if value else ""
    return _clip_id(repair_surrogates(value))


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except Exception:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _clean_text(text: str) -> str:
    """Unix newlines and no NUL, which PostgreSQL text cannot hold."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


@cache
def _reply_parser() -> tuple[Any, re.Pattern[str]]:
    """mail-parser-reply (imported on first use: 25 ms) and the regex it splits quoted history on."""
    from mailparser_reply import EmailMessage, EmailReplyParser

    parser = EmailReplyParser(languages=["en", "fr", "de"])
    return parser, EmailMessage(text="", languages=list(parser.languages)).HEADER_REGEX


def _reply_text(text: str) -> str:
    """The new part of ``text``: quoted history and signature removed.

    The reply parser costs ~0.5 ms per KB for every segment it splits off,
    yet only the first segment is wanted: it is given the text up to the
    first "On ... wrote:" line only, and at most REPLY_SCAN_CHARS of it.
    A long text with no quoted history is the reply as it is: stripping
    just its signature would cost more than the rest of the parse.
    """
    if not text.strip():
        return text
    try:
        parser, quote_header = _reply_parser()
        head = text[:REPLY_SCAN_CHARS]
        first = quote_header.search(head)
        if first is None and len(head) > SIGNATURE_SCAN_CHARS:
            return text
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # re.sub(count=) positional, Python 3.13+
            replies = parser.read(head[: first.end()] if first else head).replies
    except Exception:
        return text
    if not replies or replies[0].headers:  # nothing new above the quote: a bare forward
        return text
    return replies[0].body or text


def _last_resort(data: Any, exc: Exception) -> ParsedMessage:
    """A minimal ParsedMessage when parsing failed altogether."""
    try:
        raw = bytes(data)
    except Exception:
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
