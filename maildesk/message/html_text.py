"""Which text is the message, and the text of its HTML: what a mail client would show.

Inscriptis (on lxml) renders the HTML, with its "strict" CSS profile so that
``wor<span>ld</span>`` stays one word. Three things it would get wrong are
handled before it sees the markup: whatever follows a first ``</html>``
(a gateway's disclaimer, a second document a relay appended) is kept by
dropping the closing html/body tags; nesting deeper than libxml2's default
256 levels is parsed with ``huge_tree``; nesting deeper than Python's
recursion allows falls back to a flat rendering that still breaks lines at
block elements and joins inline ones.
"""

from __future__ import annotations

import re
from functools import cache
from html import unescape
from typing import Any

_CLOSING_DOCUMENT_RE = re.compile(r"</(?:html|body)\s*>", re.IGNORECASE)
_XML_DECLARATION_RE = re.compile(r"^\s*<\?xml[^>]*>", re.IGNORECASE)
_INVISIBLE_RE = re.compile(r"<(head|style|script|title)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_BLOCK_TAG_RE = re.compile(
    r"<(?:br|/?p|/?div|/?tr|/?li|/?h[1-6]|/?table|/?blockquote|/?pre|hr|/?ul|/?ol)\b[^<>]*>", re.IGNORECASE
)
_CELL_TAG_RE = re.compile(r"</?t[dh]\b[^<>]*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^<>]*>")
_WORD_RE = re.compile(r"\w+")
# What mailers put in the text/plain part of a mail written in HTML only.
_STUB_RE = re.compile(
    r"\bhtml\b.{0,80}\b(?:view|read|display|open|see|support|capable|compatible|enabled|viewer|reader|program"
    r"|client|format|version|anzeigen|lesen|afficher|lire)"
    r"|\b(?:view|read|display|open|see|support|anzeigen|afficher)\w*\b.{0,80}\bhtml\b",
    re.IGNORECASE | re.DOTALL,
)
STUB_CHARS = 400  # a plain part longer than this is a text, whatever it says about HTML
COVERED = 0.8  # the HTML is the fuller version when it has this share of the plain part's words
FULLER = 1.5  # ... and this many times its letters


@cache
def _renderer() -> tuple[Any, Any, Any]:
    """lxml's HTML parser and inscriptis, imported on first use (most mail has a plain part)."""
    import lxml.html
    from inscriptis import Inscriptis
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.model.config import ParserConfig

    parser = lxml.html.HTMLParser(huge_tree=True)
    return parser, Inscriptis, ParserConfig(css=CSS_PROFILES["strict"])


def html_to_text(markup: str) -> str:
    """Plain text of an HTML body, with layout kept, every document in it, inline elements joined."""
    if not markup.strip():
        return ""
    markup = _CLOSING_DOCUMENT_RE.sub("", _XML_DECLARATION_RE.sub("", markup))
    try:
        import lxml.html

        parser, inscriptis, config = _renderer()
        tree = lxml.html.document_fromstring(markup, parser=parser)
        return inscriptis(tree, config).get_text()
    except Exception:  # noqa: BLE001 - lxml refuses some documents; deep nesting: RecursionError
        return rough_text(markup)


def rough_text(markup: str) -> str:
    """Text of HTML by regular expressions: lines break at block elements, inline tags join; no recursion."""
    markup = _INVISIBLE_RE.sub("", _COMMENT_RE.sub("", markup))
    markup = _CELL_TAG_RE.sub(" ", _BLOCK_TAG_RE.sub("\n", markup))
    lines = (" ".join(line.split()) for line in unescape(_TAG_RE.sub("", markup)).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def enriched_to_text(markup: str) -> str:
    """Rough plain text of text/enriched (RFC 1896): drop the formatting commands."""
    # In text/enriched "<<" is a literal "<" and a single newline is a space.
    markup = markup.replace("<<", "\ue000")
    markup = re.sub(r"<param>[^<]*</param>", "", markup, flags=re.IGNORECASE)
    markup = re.sub(r"</?[A-Za-z0-9-]{1,60}>", "", markup)
    markup = re.sub(r"(?<!\n)\n(?!\n)", " ", markup)
    return markup.replace("\ue000", "<")


def _letters(text: str) -> int:
    """Characters other than white space: what a reader sees of a text, counted fast."""
    return len(text) - text.count(" ") - text.count("\n") - text.count("\t") - text.count("\r")


def _html_letters(htmls: list[str]) -> int:
    """At most the letters the HTML shows, counted fast: most mail is decided here, without rendering."""
    return sum(_letters(_TAG_RE.sub("", _INVISIBLE_RE.sub("", html))) for html in htmls)


def choose_text(plains: list[str], htmls: list[str]) -> tuple[str, str | None]:
    """The message's text from its plain and HTML body parts; and why the HTML was used over a plain part.

    The plain part wins, as in every client set to prefer plain text, unless
    it is empty, a stub ("This is an HTML message..."), or lacks text the HTML
    has: when the HTML holds most of the plain part's words and much more
    besides. The HTML is rendered only when a rough count of its letters
    says it may be the fuller one.
    """
    plain = "\n\n".join(plains)
    if not htmls:
        return plain, None
    if not plains:
        return "\n\n".join(html_to_text(h) for h in htmls), None
    plain_letters = _letters(plain)
    stub = len(plain) <= STUB_CHARS and "html" in plain.lower() and _STUB_RE.search(plain) is not None
    fuller = plain_letters * FULLER
    if plain_letters and not stub and (sum(map(len, htmls)) <= fuller or _html_letters(htmls) <= fuller):
        return plain, None
    html = "\n\n".join(html_to_text(h) for h in htmls)
    html_letters = _letters(html)
    if not html_letters:
        return plain, None
    if not plain_letters:
        return html, "text taken from the HTML part: the plain-text part is empty"
    if stub:
        return html, "text taken from the HTML part: the plain-text part only says to read the HTML"
    plain_words = set(_WORD_RE.findall(plain.casefold()))
    shared = plain_words & set(_WORD_RE.findall(html.casefold()))
    if len(shared) >= COVERED * len(plain_words) and html_letters > plain_letters * FULLER:
        return html, "text taken from the HTML part: the plain-text part lacks most of its text"
    return plain, None
