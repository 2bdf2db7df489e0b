"""Turn a rendered mail into RFC 5322 bytes with the desk's threading and loop headers (SPEC section 5)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid

from maildesk.notify.render import RenderedMail

MAX_REFERENCES = 20
_LINE_LENGTH = 78

# 7bit: non-ASCII bodies are quoted-printable/base64, so any relay takes them.
# refold_source="none": the pre-folded In-Reply-To/References set with set_raw are
# emitted as they are; the default would RFC 2047-encode long message ids and break threading.
POLICY = policy.SMTP.clone(cte_type="7bit", refold_source="none")

# Characters that must never reach a header: line breaks of any kind, NUL and other controls.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
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
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1):]
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
) -> tuple[str, bytes]:
    """``(message_id, bytes)`` of the mail, CRLF line ends, ready for SMTP.

    Addresses are checked (ValueError when unsafe); subject and display name
    are reduced to one clean line, so nothing a requester wrote can add a header.
    """
    sender_local, sender_domain = check_address(from_addr, "from")
    to_local, to_domain = check_address(to, "to")
    check_address(loop_address, "loop address")
    if not _DOMAIN.match(message_id_domain):
        raise ValueError(f"message id domain: {message_id_domain!r} is not a host name")
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)

    message = EmailMessage(policy=POLICY)
    message["From"] = Address(display_name=clean_header_text(from_name), username=sender_local,
                              domain=sender_domain)
    message["To"] = Address(username=to_local, domain=to_domain)
    if reply_to:
        local, domain = check_address(reply_to, "reply-to")
        message["Reply-To"] = Address(username=local, domain=domain)
    message["Subject"] = clean_header_text(rendered.subject)
    message["Date"] = now
    message_id = make_msgid(domain=message_id_domain)
    message["Message-ID"] = message_id
    parent = clean_message_id(in_reply_to)
    if parent:
        message.set_raw("In-Reply-To", parent)
    chain = thread_references(references, in_reply_to)
    if chain:
        message.set_raw("References", _fold_ids("References", chain))
    message["Auto-Submitted"] = "auto-replied" if in_reply_to else "auto-generated"
    # Ask Exchange-style responders for no out-of-office or auto-reply; bounces must still come back.
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    message["X-Loop"] = loop_address
    if ticket is not None:
        message["X-Maildesk-Ticket"] = str(int(ticket))

    message.set_content(_normalise_body(rendered.text), subtype="plain", charset="utf-8")
    if rendered.html is not None:
        message.add_alternative(_normalise_body(rendered.html), subtype="html", charset="utf-8")
        for part in message.iter_parts():
            del part["MIME-Version"]  # only the top level needs it
    return message_id, message.as_bytes()


def _normalise_body(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text if text.endswith("\n") else text + "\n"
