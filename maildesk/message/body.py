"""The MIME tree of one message walked once: its body texts, and everything else as attachments.

Bounded: nesting deeper than MAX_DEPTH and parts beyond MAX_PARTS are left
out and said in ``limits``; a large base64 payload is decoded without the
stdlib's copies.  A multipart whose boundary is wrong is split on the first
boundary line of its body.
"""

from __future__ import annotations

import binascii
import contextlib
import re
from collections.abc import Callable
from email.message import Message
from typing import cast

from maildesk.message.charsets import decode_text, normalise_charset
from maildesk.message.html_text import enriched_to_text
from maildesk.message.mime_helpers import PARSER, message_bytes, safe_filename
from maildesk.message.notes import Notes
from maildesk.types import Attachment

MAX_DEPTH = 30
MAX_PARTS = 2_000
LARGE_PAYLOAD_CHARS = 1_000_000  # a base64 payload this long is decoded without the stdlib's copies

_MIME_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_BOUNDARY_LINE_RE = re.compile(r"^--([^\s]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_NAME_PARAM_RE = re.compile(r"\b(?:file)?name\s*=\s*(?:\"([^\"]*)\"|([^;\s]+))", re.IGNORECASE)
_META_CHARSET_RE = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{1,40})", re.IGNORECASE)
META_SCAN_BYTES = 4096  # where an HTML part without a MIME charset may say its own
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


class BodyWalk:
    """One walk over ``msg``: its ``plains``, ``htmls`` and ``attachments``, and its text's charset."""

    def __init__(self, msg: Message, notes: Notes, decode_header: Callable[[str], str]) -> None:
        self.msg = msg
        self.notes = notes
        self.decode_header = decode_header  # for file names written raw or as encoded-words
        self.plains: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[Attachment] = []
        self.guessed: str | None = None  # the first charset a text part had to be read in by guess

    def walk(self) -> BodyWalk:
        """Each text/plain part that is not an attachment is body (Apple Mail splits text around inline
        images); message/* parts are attachments and are not entered, so a forwarded or returned message
        never becomes this message's body.
        """
        enriched: list[str] = []
        stack: list[tuple[Message, int]] = [(self.msg, 0)]
        seen = too_deep = 0
        safe = self.notes.safe
        while stack:
            part, depth = stack.pop()
            if depth > MAX_DEPTH:
                too_deep += count_parts(part)
                continue
            seen += 1
            if seen > MAX_PARTS:
                total = count_parts(self.msg)
                self.notes.limits.append(
                    f"{MAX_PARTS:,} of {total:,} parts kept (the first {MAX_PARTS:,} are read)"
                )
                self.notes.defects.append("too many parts; the rest were skipped")
                break
            ctype = safe(part.get_content_type, "application/octet-stream", "content-type")
            maintype = ctype.partition("/")[0]
            if part.is_multipart() and maintype != "message":
                subs = cast("list[Message]", part.get_payload())  # a multipart's payload: its parts
                stack.extend((sub, depth + 1) for sub in reversed(subs))
                continue
            if maintype == "multipart":  # declared multipart, but the stdlib found no boundary
                if self._recover_multipart(part, ctype):
                    stack.append((part, depth))
                    continue
                ctype = "text/plain"
            disposition = safe(part.get_content_disposition, None, "content-disposition")
            filename = safe(self._filename, None, "filename", part)
            if ctype in _BODY_TYPES and disposition != "attachment" and not filename:
                body = self._part_text(part, ctype)
                if ctype == "text/plain":
                    self.plains.append(body)
                elif ctype == "text/html":
                    self.htmls.append(body)
                else:
                    enriched.append(enriched_to_text(body))
                continue
            self._attach(part, ctype, filename)
        if too_deep:
            self.notes.limits.append(f"{too_deep:,} parts nested deeper than {MAX_DEPTH} levels left out")
            self.notes.defects.append("too deeply nested parts skipped")
        self.plains = self.plains or enriched
        return self

    def _attach(self, part: Message, ctype: str, filename: str | None) -> None:
        fallback = f"attachment-{len(self.attachments) + 1}{_EXTENSIONS.get(ctype, '.bin')}"
        data = self.notes.safe(part_bytes, b"", "attachment payload", part)
        ctype = ctype if _MIME_TYPE_RE.fullmatch(ctype) else "application/octet-stream"
        self.attachments.append(Attachment(safe_filename(filename, fallback), ctype, data))

    def _part_text(self, part: Message, ctype: str) -> str:
        """A text part decoded with its declared charset, or the charset it turns out to be in.

        ``get_content()`` is not used: it raises on unknown charsets and
        decodes undeclared 8-bit text as ASCII, losing every accented letter.
        """
        data = self.notes.safe(part_bytes, b"", "text payload", part)
        charset = self.notes.safe(part.get_content_charset, None, "charset")
        hint = self.guessed
        if ctype == "text/html" and not charset and not data.isascii():
            meta = _META_CHARSET_RE.search(data[:META_SCAN_BYTES])  # what a browser would go by
            hint = normalise_charset(meta.group(1).decode("ascii")) if meta else hint
        decoded = decode_text(data, charset, hint)
        if decoded.guessed:
            self.guessed = self.guessed or decoded.guessed
            said = (decoded.defect or "").removeprefix("text ")
            self.notes.repaired(f"charset guessed: {ctype} part {said}")
        elif decoded.defect:
            self.notes.defects.append(decoded.defect)
        return decoded.text

    def _recover_multipart(self, part: Message, ctype: str) -> bool:
        """Split a multipart whose boundary parameter is wrong or missing on the body's first boundary line.

        The part is repaired in place, so that the delivery-report walk sees
        the recovered structure too.
        """
        payload = part.get_payload()
        self.notes.defects.append(f"{ctype.split(';')[0][:60]} without a usable boundary")
        found = _BOUNDARY_LINE_RE.search(payload) if isinstance(payload, str) else None
        subtype = re.match(r"multipart/[a-z0-9.+-]+", ctype)
        if not found or not subtype or not isinstance(payload, str):
            return False
        head = f'Content-Type: {subtype.group(0)}; boundary="{found.group(1)}"\n\n'
        recovered = PARSER.parsebytes(head.encode() + payload.encode("utf-8", errors="surrogateescape"))
        if not recovered.is_multipart():
            return False
        part.set_payload(recovered.get_payload())
        return True

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
                    raw = found.group(1) if found.group(1) is not None else found.group(2)
                    return self.decode_header(raw)
        return name


def count_parts(root: Message) -> int:
    """How many parts a tree holds (message/* parts count as one: they are kept whole), without recursion."""
    count, stack = 0, [root]
    while stack:
        part = stack.pop()
        count += 1
        payload = part.get_payload()
        if part.is_multipart() and part.get_content_maintype() != "message" and isinstance(payload, list):
            stack.extend(cast("list[Message]", payload))
    return count


def part_bytes(part: Message) -> bytes:
    """Decoded payload of a leaf; the re-serialised message(s) of a message/* part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return b"".join(message_bytes(sub) for sub in payload if isinstance(sub, Message))
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
    return cast(bytes, part.get_payload(decode=True)) or b""  # a leaf: bytes, or None when empty
