"""Read an article written by hand (``kb add FILE.md``): ``# Title``, optional header lines, then the text.

SPEC section 2: the first line is ``# Title``; ``Tags:``, ``Application:``
and ``Category:`` lines may follow; the rest is the article's Markdown text.
A problem is a :class:`ArticleFileError` naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from maildesk.config import CATEGORIES

_FIELD = re.compile(r"^(tags|application|category)\s*:\s*(.*)$", re.IGNORECASE)
_SLUG_JUNK = re.compile(r"[^a-z0-9]+")


class ArticleFileError(ValueError):
    """An article file that cannot be added; the message is ``FILE:LINE: what``."""


@dataclass(frozen=True)
class ArticleText:
    title: str
    body: str
    tags: tuple[str, ...] = ()
    application: str | None = None
    category: str | None = None


def slug_for(stem: str) -> str:
    """A file name as a slug: lower-case letters, digits and dashes ("VPN Reset" -> "vpn-reset")."""
    return _SLUG_JUNK.sub("-", stem.lower()).strip("-")[:200]


def parse_article(text: str, name: str) -> ArticleText:
    """The article in ``text`` (the contents of file ``name``)."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ArticleFileError(f"{name}:1: the file is empty; an article starts with a '# Title' line")
    heading = lines[first].strip()
    title = heading[2:].strip() if heading.startswith("# ") else ""
    if not title:
        raise ArticleFileError(f"{name}:{first + 1}: no title; an article starts with a '# Title' line")
    fields: dict[str, str] = {}
    at = first + 1
    while at < len(lines):
        line = lines[at].strip()
        match = _FIELD.match(line)
        if match is None and line:
            break
        if match is not None:
            fields[match.group(1).lower()] = match.group(2).strip()
            if match.group(1).lower() == "category" and match.group(2).strip().lower() not in CATEGORIES:
                allowed = ", ".join(CATEGORIES)
                raise ArticleFileError(
                    f"{name}:{at + 1}: Category: {match.group(2).strip()!r} is not one of: {allowed}"
                )
        at += 1
    body = "\n".join(lines[at:]).strip()
    if not body:
        raise ArticleFileError(f"{name}:{first + 1}: the article {title!r} has no text after its title")
    tags = tuple(tag.strip() for tag in fields.get("tags", "").split(",") if tag.strip())
    category = fields.get("category", "").lower() or None
    return ArticleText(title[:300], body, tags, fields.get("application") or None, category)
