"""The identity of a message for the redelivery ledger, computed without a full parse.

Kept free of heavy imports: the pipe fast path (``maildesk ingest`` under an
MTA) uses it before anything else is loaded.
"""

from __future__ import annotations

import hashlib
import re

_HEADER_END = re.compile(rb"\r?\n\r?\n|\r\r")
_MESSAGE_ID = re.compile(rb"(?im)^message-id[ \t]*:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)")
_ANGLE_ID = re.compile(rb"<[^<>\s]+>")
MAX_KEY = 998


def digest_message_id(data: bytes) -> str:
    """The identity of a message that has no Message-ID: a digest of its bytes."""
    return digest_id(hashlib.sha256(data).hexdigest())


def digest_id(sha256_hex: str) -> str:
    """The digest identity from the SHA-256 of the bytes, computed elsewhere (while spooling them)."""
    return f"<sha256-{sha256_hex[:32]}@maildesk>"


def message_key(data: bytes, sha256_hex: str | None = None) -> str:
    """The Message-ID from the header block, else a digest of the bytes.

    ``data`` may be only the start of a spooled message when ``sha256_hex``
    is the digest of all of it (the header block is at the start).
    """
    end = _HEADER_END.search(data)
    head = data[: end.start()] if end else data[:65536]
    if b"\r" in head and b"\n" not in head:
        # CR-only line ends (old Mac mail): as parse reads them, so both agree on the identity.
        head = head.replace(b"\r", b"\n")
    match = _MESSAGE_ID.search(head)
    if match:
        value = match.group(1)
        angle = _ANGLE_ID.search(value)
        token = (angle.group(0) if angle else value.strip()).decode("utf-8", "replace")
        token = re.sub(r"[\x00-\x20\x7f]", "", token)
        if token and token != "<>":
            if not token.startswith("<"):
                token = f"<{token}>"
            return token[:MAX_KEY]
    return digest_id(sha256_hex) if sha256_hex is not None else digest_message_id(data)
