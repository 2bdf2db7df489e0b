"""The new part of a message's text: quoted history and signature removed, by mail-parser-reply."""

from __future__ import annotations

import re
import warnings
from functools import cache
from typing import Any

REPLY_SCAN_CHARS = 20_000  # the reply parser is linear but slow (~0.5 ms/KB); replies sit at the top
SIGNATURE_SCAN_CHARS = 4_000  # below this, a text without quoted history still loses its signature


@cache
def _reply_parser() -> tuple[Any, re.Pattern[str]]:
    """mail-parser-reply (imported on first use: 25 ms) and the regex it splits quoted history on."""
    from mailparser_reply import EmailMessage, EmailReplyParser

    parser = EmailReplyParser(languages=["en", "fr", "de"])
    return parser, EmailMessage(text="", languages=list(parser.languages)).HEADER_REGEX


def reply_text(text: str) -> str:
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
    except Exception:  # noqa: BLE001 - a reply-parser failure leaves the text whole
        return text
    if not replies or replies[0].headers:  # nothing new above the quote: a bare forward
        return text
    return replies[0].body or text
