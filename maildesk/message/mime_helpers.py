"""Forgiving decoders for the parts of a message the stdlib gives up on.

Real mail declares charsets Python does not know ("uft-8", "x-mac-cyrillic"),
puts raw 8-bit bytes in headers, base64 with bad padding in encoded-words and
``../`` in file names.  Each helper here turns such input into clean text and
says what it had to repair, so that ``parse.py`` can list it in ``defects``
instead of raising.  The parser itself (policy.default with memoised headers)
and the re-serialisation of parsed parts live here too.
"""

from __future__ import annotations

import binascii
import codecs
import re
from email import policy
from email.feedparser import BytesFeedParser
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from functools import lru_cache

# Labels seen in real mail mapped to the Python codec that decodes what the
# sender meant.  Several are deliberate supersets: Microsoft clients label
# cp949/cp932/gb18030/cp1252 text with the older, narrower names.
CHARSET_ALIASES: dict[str, str] = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "x-mac-cyrillic": "mac_cyrillic",
    "x-mac-roman": "mac_roman",
    "x-mac-greek": "mac_greek",
    "x-mac-turkish": "mac_turkish",
    "x-mac-ce": "mac_latin2",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "uft-8": "utf-8",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "unicode-2-0-utf-7": "utf-7",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "big5": "cp950",
    "x-big5": "cp950",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "windows-874": "cp874",
    "x-user-defined": "latin-1",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
}

# Codecs that are text encodings by Python's definition but not charsets a
# mail body can be in; they either raise with errors="replace" or mangle text.
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "unicode_escape", "raw_unicode_escape", "undefined", "mbcs", "oem"}
)

_ASCII_BYTES = bytes(range(128))
# Charsets whose text is not ASCII even when its bytes are (UTF-7, ISO-2022 escapes, UTF-16).
_SEVEN_BIT_ENCODING_RE = re.compile(r"utf-?7|2022|^hz|utf-?16|utf-?32|ucs")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_NEWLINE_RE = re.compile(r"[\r\n]")
_ISO2022_RE = re.compile(r"\x1b[\$\(][@-Z]")
_MAX_FLATTEN_DEPTH = 30
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]{1,64})\?([qQbB])\?([^?\s]*)\?=")


class _MemoHeaderFactory:
    """policy.default's header registry, with parsed headers memoised.

    The stdlib parses a header again, and builds a new class, on every access;
    the feed parser and the walks here ask each part for its Content-Type a
    dozen times, which was half the parse time of a typical message.  Header
    objects are immutable, so equal (name, value) pairs can share one.
    """

    def __init__(self) -> None:
        self._registry = HeaderRegistry()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._cached = lru_cache(maxsize=2048)(self._make)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        if key not in self._classes:
            self._classes[key] = self._registry[key]
        return self._classes[key]

    def __call__(self, name: str, value: str) -> BaseHeader:
        if len(value) > 1_000:  # keep big values out of the cache
            return self._make(name, value)
        return self._cached(name, value)

    def _make(self, name: str, value: str) -> BaseHeader:
        return self[name](name, value)


# The email policy and parser every parse uses: policy.default, only faster.
POLICY = policy.default.clone(header_factory=_MemoHeaderFactory())
PARSER = BytesParser(policy=POLICY)
FEED_CHUNK = 1 << 20


def parse_bytes(data: bytes) -> Message:
    """``PARSER.parsebytes(data)``, fed a megabyte at a time.

    The same tree, for a fraction of the memory: ``parsebytes`` decodes the
    whole message to one string and copies it into a StringIO (four bytes a
    character), about seven times the message at its peak; this holds one
    chunk and the tree.
    """
    parser = BytesFeedParser(policy=POLICY)
    view = memoryview(data)
    for start in range(0, len(data), FEED_CHUNK):
        parser.feed(bytes(view[start : start + FEED_CHUNK]))
    return parser.close()


_BYTES_POLICY = policy.compat32.clone(linesep="\n")  # re-serialises parsed parts without refolding headers


def normalise_charset(label: str | None) -> str | None:
    """The codec name for a declared charset label, or None when there was no label."""
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    if not name:
        return None
    return CHARSET_ALIASES.get(name, name)


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode ``data`` declared as ``charset``; never raises.

    Returns the text and a defect string (or None).  Mislabelled text is
    common, so: 8-bit text that is valid UTF-8 is read as UTF-8 whatever the
    label says (legacy text is almost never valid UTF-8 by accident); text
    labelled UTF-8 (or nothing) that is mostly not UTF-8 is read as
    windows-1252; an unknown charset falls back to UTF-8 with replacement.
    """
    codec = normalise_charset(charset)
    seven_bit_encoding = bool(codec and _SEVEN_BIT_ENCODING_RE.search(codec))
    if data.isascii() and not seven_bit_encoding:
        return data.decode("ascii"), None
    if not seven_bit_encoding:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return text, None if codec in (None, "ascii", "utf-8") else f"text labelled {charset!r} is UTF-8"
    if codec in (None, "ascii", "utf-8"):
        # Mostly valid UTF-8 with a few bad bytes stays UTF-8; anything else is
        # some legacy charset, and windows-1252 at least keeps every byte visible.
        text = data.decode("utf-8", errors="replace")
        if text.count("\ufffd") * 4 <= len(data.translate(None, _ASCII_BYTES)):
            return text, f"invalid UTF-8 in text labelled {charset or 'nothing'!r}"
        return data.decode(
            "cp1252", errors="replace"
        ), f"text labelled {charset or 'nothing'!r} read as windows-1252"
    try:
        info = codecs.lookup(codec or "utf-8")
        if info.name in _NOT_CHARSETS:
            raise LookupError(codec)
        return data.decode(info.name, errors="replace"), None
    except LookupError:
        return data.decode("utf-8", errors="replace"), f"unknown charset {charset!r}"
    except Exception as exc:  # a codec that cannot honour errors="replace"
        return data.decode("utf-8", errors="replace"), f"charset {charset!r} failed: {type(exc).__name__}"


def repair_surrogates(value: str, charset: str | None = None) -> str:
    """Turn raw 8-bit header bytes (kept by the parser as surrogate escapes) into text."""
    if value.isascii() and not _ISO2022_RE.search(value):
        return value
    try:
        raw = value.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that were never bytes
        return value.encode("utf-8", errors="replace").decode("utf-8")
    if _ISO2022_RE.search(value):
        charset = "iso-2022-jp"
    return decode_bytes(raw, charset)[0]


def decode_header_value(value: str, charset: str | None = None) -> str:
    """Decode one raw header value: unfold, repair raw 8-bit bytes, decode RFC 2047 words.

    CR, LF and NUL never survive; ``charset`` is the guess for raw 8-bit bytes.
    Encoded-words are decoded with ``decode_bytes`` so that misspelled
    charsets still give readable text.
    """
    value = _FOLD_RE.sub("", value)
    if not value.isascii() or "\x1b" in value:
        value = repair_surrogates(value, charset)
    if "=?" in value:
        value = _decode_encoded_words(value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    return _NEWLINE_RE.sub(" ", value)


def _decode_encoded_words(value: str) -> str:
    """Decode RFC 2047 encoded-words in ``value``, in linear time.

    ``email.header.decode_header`` is not used: its pattern is quadratic on
    a long header full of unterminated "=?" (a 200 KB subject took a minute),
    and it raises on bad base64.  Adjacent words are joined as bytes before
    decoding, because mailers split multi-byte characters across them; a word
    that cannot be decoded stays as it was written.
    """
    chunks: list[str] = []
    pending, pending_charset = b"", ""
    position, after_word = 0, False
    for word in _ENCODED_WORD_RE.finditer(value):
        gap = value[position : word.start()]
        if after_word and not gap.strip():
            gap = ""  # whitespace between two encoded-words is folding, not text
        charset, data = word.group(1).lower(), _encoded_word_bytes(word.group(2), word.group(3))
        if pending and (gap or data is None or charset != pending_charset):
            chunks.append(decode_bytes(pending, pending_charset)[0])
            pending = b""
        chunks.append(gap)
        if data is None:
            chunks.append(word.group(0))
        else:
            pending, pending_charset = pending + data, charset
        position, after_word = word.end(), data is not None
    if pending:
        chunks.append(decode_bytes(pending, pending_charset)[0])
    chunks.append(value[position:])
    return "".join(chunks)


def _encoded_word_bytes(encoding: str, payload: str) -> bytes | None:
    try:
        raw = payload.encode("ascii")
        if encoding in "bB":
            return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
        return binascii.a2b_qp(raw, header=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None


def safe_filename(name: str | None, fallback: str) -> str:
    """A file name that is safe to store: basename only, no control characters, ≤ 200 chars."""
    if not name:
        return fallback
    name = decode_header_value(name) if "=?" in name or not name.isascii() else name
    name = re.split(r"[/\\]", name)[-1]
    name = " ".join(_CONTROL_RE.sub(" ", name).split())
    name = re.sub(r"\.{2,}", ".", name).strip(". ")
    if not name:
        return fallback
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 20:
            name = stem[: 199 - len(ext)] + "." + ext
        else:
            name = name[:200]
    return name


def html_to_text(markup: str) -> str:
    """Plain text of an HTML body, with layout kept; inscriptis is imported only when needed."""
    if not markup.strip():
        return ""
    try:
        from inscriptis import get_text

        return get_text(markup)
    except Exception:  # lxml refuses some documents ("Document is empty", bad encodings)
        from html import unescape

        return unescape(re.sub(r"<[^<>]*>", " ", markup))


def enriched_to_text(markup: str) -> str:
    """Rough plain text of text/enriched (RFC 1896): drop the formatting commands."""
    # In text/enriched "<<" is a literal "<" and a single newline is a space.
    markup = markup.replace("<<", "\ue000")
    markup = re.sub(r"<param>[^<]*</param>", "", markup, flags=re.IGNORECASE)
    markup = re.sub(r"</?[A-Za-z0-9-]{1,60}>", "", markup)
    markup = re.sub(r"(?<!\n)\n(?!\n)", " ", markup)
    return markup.replace("\ue000", "<")


_FIELD_NAME_RE = re.compile(rb"^[!-9;-~]+:")
_OBSOLETE_FIELD_RE = re.compile(rb"^([!-9;-~]+)[ \t]+:")
_COMMON_FIELD_RE = re.compile(
    rb"^(?:from|to|cc|subject|date|message-id|received|return-path|mime-version|content-type|reply-to|sender)[ \t]*:",
    re.IGNORECASE,
)


def repair_header_block(data: bytes) -> bytes:
    """Mend a header block that the stdlib would end early, pushing real fields into the body.

    Obsolete "Name :" fields lose the space before the colon; a line that is
    not a field but is followed by common fields (an unindented fold, "quite
    Delivered-To:") becomes a continuation of the field before it.  A message
    whose first line is no field at all is left alone: it has no header block.
    """
    blank = re.search(rb"\r?\n\r?\n", data)
    end = blank.start() if blank else len(data)
    lines = data[:end].split(b"\n")
    last_common = max((i for i, line in enumerate(lines) if _COMMON_FIELD_RE.match(line)), default=-1)
    out: list[bytes] = []
    for index, line in enumerate(lines):
        fixed = _OBSOLETE_FIELD_RE.sub(rb"\1:", line, count=1)
        if _FIELD_NAME_RE.match(fixed) or (out and line[:1] in (b" ", b"\t")):
            out.append(fixed)
        elif out and index < last_common:
            out.append(b" " + line)
        else:
            return b"\n".join(out + lines[index:]) + data[end:]
    return b"\n".join(out) + data[end:]


def message_bytes(msg: Message) -> bytes:
    """A parsed message as bytes again, by hand where the generator refuses.

    The generator raises on header values it would have to refold around a
    stray line break; writing the raw fields back keeps the data anyway.
    """
    try:
        return msg.as_bytes(policy=_BYTES_POLICY)
    except Exception:
        return _flatten(msg, 0).encode("utf-8", errors="surrogateescape")


def _flatten(msg: Message, depth: int) -> str:
    head = "".join(f"{name}: {value}\n" for name, value in msg.raw_items()) + "\n"
    payload = msg.get_payload()
    if not isinstance(payload, list):
        return head + str(payload or "")
    if depth > _MAX_FLATTEN_DEPTH:
        return head
    if msg.get_content_maintype() == "message":
        return head + "".join(_flatten(sub, depth + 1) for sub in payload)
    boundary = msg.get_boundary() or "maildesk-boundary"
    parts = "".join(f"--{boundary}\n{_flatten(sub, depth + 1)}\n" for sub in payload)
    return f"{head}{parts}--{boundary}--\n"
