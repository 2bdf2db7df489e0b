"""Turn a rendered mail into RFC 5322 bytes with the desk's threading and loop headers (SPEC section 5)."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email import charset, policy
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid

from maildesk.notify.render import RenderedMail

MAX_REFERENCES = 20
_LINE_LENGTH = 78

# compat32 with CRLF: headers we set are emitted as given (References is folded between
# ids by _fold_ids, never RFC 2047-encoded, which would break threading).
POLICY = policy.compat32.clone(linesep="\r\n", max_line_length=998)  # we fold what needs folding ourselves
# Bodies as quoted-printable UTF-8: 7-bit clean for any relay, still readable raw.
_UTF8_QP = charset.Charset("utf-8")
_UTF8_QP.body_encoding = charset.QP

# Characters that must never reach a header: line breaks of any kind, NUL and other controls.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_MSGID = re.compile(r"^<[!-;=?-~]+@[!-;=?-~]+>$")  # printable ASCII, no "<", ">" or spaces inside


def clean_header_text(value: str | None) -> str:
    """A free-text header value (subject, display name) on one line: controls collapsed to a space."""
    if value is None:
        return ""
    return " ".join(_UNSAFE.sub(" ", str(value)).split())


def check_address(address: str, what: str = "address") -> tuple[str, str]:
    """``(local, domain)`` of a bare address; ValueError for anything that could smuggle a header or recipient.

    A non-ASCII domain is converted to its IDNA (xn--) form; a non-ASCII local
    part needs SMTPUTF8 and is refused.
    """
    if not isinstance(address, str) or address != address.strip() or _UNSAFE.search(address):
        raise ValueError(f"{what}: {address!r} contains spaces or control characters")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{what}: {address!r} is not an email address")
    if not _LOCAL_PART.match(local) or ".." in local or local.startswith(".") or local.endswith("."):
        raise ValueError(f"{what}: {address!r} has a local part that is not a plain address")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{what}: {address!r} has an invalid domain") from None
    if not _DOMAIN.match(domain) and not re.fullmatch(r"\[[0-9.:a-fA-F]+\]", domain):
        raise ValueError(f"{what}: {address!r} has an invalid domain")
    return local, domain


def clean_message_id(value: str | None) -> str | None:
    """``<id@host>`` normalised, or None when the value cannot be used safely in a header."""
    if not value:
        return None
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    return value if _MSGID.match(value) else None


def thread_references(references: Sequence[str], in_reply_to: str | None) -> list[str]:
    """References for a reply: the parent's chain then the parent, without duplicates.

    Long chains keep the root and the most recent ids, as RFC 5322 suggests.
    """
    parent = clean_message_id(in_reply_to)
    ids: list[str] = []
    for value in references:
        cleaned = clean_message_id(value)
        if cleaned and cleaned != parent and cleaned not in ids:
            ids.append(cleaned)
    if parent:
        ids.append(parent)
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return ids


def _fold_ids(name: str, ids: Sequence[str]) -> str:
    """Fold message ids between ids only (never inside one), for set_raw."""
    lines: list[str] = []
    current = ""
    width = len(name) + 2
    for item in ids:
        if current and width + len(current) + 1 + len(item) > _LINE_LENGTH:
            lines.append(current)
            current, width = item, 1
        else:
            current = f"{current} {item}" if current else item
    lines.append(current)
    return "\n ".join(lines)


def compose_body(rendered: RenderedMail) -> bytes:
    """The MIME body of a rendered mail (its own Content-* headers included), CRLF line ends.

    Split from :func:`compose` so that one rendering sent to several people
    (a level's members) is encoded once.
    """
    # A Charset object (typeshed says str) picks quoted-printable for UTF-8 text.
    text_part = MIMEText(_normalise_body(rendered.text), "plain", _UTF8_QP)  # type: ignore[arg-type]
    if rendered.html is not None:
        body: MIMEBase = MIMEMultipart("alternative")
        body.attach(text_part)
        body.attach(MIMEText(_normalise_body(rendered.html), "html", _UTF8_QP))  # type: ignore[arg-type]
        for part in body.get_payload():
            assert isinstance(part, MIMEBase)  # the two parts attached above
            del part["MIME-Version"]  # only the top level needs it
    else:
        body = text_part
    return body.as_bytes(policy=POLICY)


def new_message_id(domain: str) -> str:
    """A fresh Message-ID for a mail of the desk; ValueError when the domain is not a host name."""
    if not _DOMAIN.match(domain):
        raise ValueError(f"message id domain: {domain!r} is not a host name")
    return make_msgid(domain=domain)


def compose(
    rendered: RenderedMail,
    *,
    from_addr: str,
    from_name: str,
    to: str,
    reply_to: str | None,
    ticket: int | None,
    loop_address: str,
    in_reply_to: str | None,
    references: Sequence[str],
    message_id_domain: str,
    now: datetime,
    message_id: str | None = None,
    body: bytes | None = None,
) -> tuple[str, bytes]:
    """``(message_id, bytes)`` of the mail, CRLF line ends, ready for SMTP.

    Addresses are checked (ValueError when unsafe); subject and display name
    are reduced to one clean line, so nothing a requester wrote can add a header.
    Built on the compat32 ``email.mime`` classes: they produce the same
    standard MIME at half the cost of the modern header registry, which
    matters when every request sends three mails. ``message_id`` is given
    when it was minted earlier (the outbox records it before composing);
    ``body`` when :func:`compose_body` already encoded the same rendering.
    """
    sender_local, sender_domain = check_address(from_addr, "from")
    to_local, to_domain = check_address(to, "to")
    check_address(loop_address, "loop address")
    if message_id is None:
        message_id = new_message_id(message_id_domain)
    elif not _MSGID.match(message_id):
        raise ValueError(f"message id: {message_id!r} is not a valid Message-ID")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if body is None:
        body = compose_body(rendered)
    subject = clean_header_text(rendered.subject)
    # Every value below is either checked (addresses, ids) or reduced to one clean line,
    # so the header block is written directly instead of through the slower folding machinery.
    headers = [
        (
            "From",
            formataddr((clean_header_text(from_name), f"{sender_local}@{sender_domain}"), charset="utf-8"),
        ),
        ("To", f"{to_local}@{to_domain}"),
    ]
    if reply_to:
        local, domain = check_address(reply_to, "reply-to")
        headers.append(("Reply-To", f"{local}@{domain}"))
    headers += [
        ("Subject", subject if subject.isascii() and len(subject) < 900 else encode_words(subject)),
        ("Date", format_datetime(now.astimezone(UTC))),
        ("Message-ID", message_id),
        *_thread_and_loop_headers(in_reply_to, references, loop_address, ticket),
    ]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return message_id, head.encode("ascii") + body


def _thread_and_loop_headers(
    in_reply_to: str | None, references: Sequence[str], loop_address: str, ticket: int | None
) -> list[tuple[str, str]]:
    """What threads the mail in the recipient's client, and what marks it automatic and the desk's own."""
    headers = []
    parent = clean_message_id(in_reply_to)
    if parent:
        headers.append(("In-Reply-To", parent))
    chain = thread_references(references, in_reply_to)
    if chain:
        headers.append(("References", _fold_ids("References", chain).replace("\n", "\r\n")))
    headers += [
        ("Auto-Submitted", "auto-replied" if in_reply_to else "auto-generated"),
        # Ask Exchange-style responders for no out-of-office or auto-reply; bounces must still come back.
        ("X-Auto-Response-Suppress", "OOF, AutoReply"),
        ("X-Loop", loop_address),
    ]
    if ticket is not None:
        headers.append(("X-Maildesk-Ticket", str(int(ticket))))
    return headers


def encode_words(text: str) -> str:
    """RFC 2047 encoded words (UTF-8, base64), folded between words, each within 75 characters.

    ``email.header.Header`` does the same but dominates the cost of a mail; chunks
    are cut at character boundaries so every word decodes on its own.
    """
    words, chunk = [], ""
    for char in text:
        if len((chunk + char).encode("utf-8")) > 45:  # 45 bytes -> 60 base64 characters + 12 of framing
            words.append(chunk)
            chunk = ""
        chunk += char
    if chunk:
        words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words)


def _normalise_body(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text if text.endswith("\n") else text + "\n"
