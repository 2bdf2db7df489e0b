"""Bytes to text for mail that lies about its charset, or says nothing.

Real mail declares charsets Python does not know ("uft-8", "x-mac-cyrillic"),
sends GBK, Big5, Shift_JIS, EUC-KR or KOI8-R text labelled "us-ascii" or
"iso-8859-1", or no label at all.  ``decode_text`` reads the label first and
asks charset-normalizer only when the label gives replacement characters or
mojibake, so well-labelled mail (nearly all of it) costs no detection; it
says in ``guessed`` when the text was read in a charset the sender did not
declare, so that the ticket can say so.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import NamedTuple

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
# What the detector may answer: the charsets mail is actually sent in. Left to
# itself it reads short KOI8-R or Big5 text as shift_jis_2004 or UTF-16.
DETECTABLE = (
    "utf_8",
    "gb18030",
    "cp950",
    "cp932",
    "euc_jp",
    "cp949",
    "koi8_r",
    "koi8_u",
    "cp1251",
    "cp866",
    "mac_cyrillic",
    "cp1250",
    "iso8859_2",
    "cp1252",
    "iso8859_15",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp874",
)
DETECT_BYTES = 64_000  # the detector reads a sample anyway; more costs time and says nothing new
MOJIBAKE_RATIO = 0.15  # charset-normalizer's "mess" above which a decoded text is taken for mojibake

_ASCII_BYTES = bytes(range(128))
# Charsets whose text is not ASCII even when its bytes are (UTF-7, ISO-2022 escapes, UTF-16).
_SEVEN_BIT_ENCODING_RE = re.compile(r"utf-?7|2022|^hz|utf-?16|utf-?32|ucs")
_ISO2022_RE = re.compile(r"\x1b[\$\(][@-Z]")
# Three 8-bit bytes in a row: rare in Western text read right (a single accented letter between
# ASCII ones), the rule in CJK and Cyrillic text. Only then is a single-byte decoding checked.
_HIGH_RUN_RE = re.compile(rb"[\x80-\xff]{3}")
_LATIN = frozenset({"cp1250", "iso8859_2", "iso8859_15", "cp1254", "cp1257", "cp1252"})
_UTF8_SEQUENCE_RE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_MULTIBYTE = frozenset({"gb18030", "cp950", "cp932", "cp949", "euc_jp", "big5", "gbk", "shift_jis", "euc_kr"})


# The charset to try first when the label fails: a name, or a function that works it out only then.
Hint = str | Callable[[], str | None] | None


class Decoded(NamedTuple):
    text: str
    defect: str | None  # what was wrong with the bytes or their label, for ``defects``
    guessed: str | None  # the codec a detector chose when the label was missing or wrong


def normalise_charset(label: str | None) -> str | None:
    """The codec name for a declared charset label, or None when there was no label."""
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    if not name:
        return None
    return CHARSET_ALIASES.get(name, name)


def _codec(codec: str | None) -> str | None:
    """Python's name for ``codec`` when it is a charset Python can decode, else None."""
    try:
        name = codecs.lookup(codec or "").name
    except LookupError:
        return None
    return None if name in _NOT_CHARSETS else name


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """``decode_text`` without the guess: (text, defect)."""
    decoded = decode_text(data, charset)
    return decoded.text, decoded.defect


def decode_text(data: bytes, charset: str | None, hint: Hint = None) -> Decoded:
    """Decode ``data`` declared as ``charset``; never raises.

    Mislabelled text is common, so: 8-bit text that is valid UTF-8 is read as
    UTF-8 whatever the label says (legacy text is almost never valid UTF-8 by
    accident); mostly-UTF-8 text with a few bad bytes stays UTF-8. Otherwise,
    text with no usable label, or whose label gives replacement characters or
    mojibake, is read in the charset the detector finds (``hint`` first, the
    charset the rest of the message turned out to be in, which short header
    values are too short to show); windows-1252 when it finds none, which at
    least keeps every byte visible.
    """
    codec = normalise_charset(charset)
    seven_bit_encoding = bool(codec and _SEVEN_BIT_ENCODING_RE.search(codec))
    if data.isascii() and not seven_bit_encoding:
        return Decoded(data.decode("ascii"), None, None)
    if not seven_bit_encoding:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            defect = None if codec in (None, "ascii", "utf-8") else f"text labelled {charset!r} is UTF-8"
            return Decoded(text, defect, None)
    known = _codec(codec) if codec not in (None, "ascii", "utf-8") else None
    if known is None:
        return _without_label(data, charset, codec, hint)
    try:
        text = data.decode(known, errors="replace")
    except Exception as exc:  # noqa: BLE001 - a codec that cannot honour errors="replace"
        failed = f"charset {charset!r} failed: {type(exc).__name__}"
        return Decoded(data.decode("utf-8", errors="replace"), failed, None)
    if _garbled(text, data, known):
        better = _guess(data, charset, hint)
        if better is not None and better.guessed != known and _badness(better.text) < _badness(text):
            return better
    return Decoded(text, None, None)


def _without_label(data: bytes, charset: str | None, codec: str | None, hint: Hint) -> Decoded:
    """8-bit text labelled UTF-8, ASCII, nothing, or a charset Python does not know, that is not UTF-8.

    Mostly valid UTF-8 with a few bad bytes stays UTF-8, and so does text
    under an unknown label with any valid UTF-8 sequence in it; the rest is
    some legacy charset, which the detector names.
    """
    text = data.decode("utf-8", errors="replace")
    unknown = codec not in (None, "ascii", "utf-8")
    if text.count("\ufffd") * 4 <= len(data.translate(None, _ASCII_BYTES)) or (
        unknown and _UTF8_SEQUENCE_RE.search(data)
    ):
        said = (
            f"unknown charset {charset!r}"
            if unknown
            else f"invalid UTF-8 in text labelled {charset or 'nothing'!r}"
        )
        return Decoded(text, said, None)
    fallback = f"text labelled {charset or 'nothing'!r} read as windows-1252"
    return _guess(data, charset, hint) or Decoded(data.decode("cp1252", errors="replace"), fallback, None)


def _garbled(text: str, data: bytes, codec: str) -> bool:
    """Whether ``text``, ``data`` read as ``codec``, shows the signs of the wrong charset."""
    if data.isascii():  # ISO-2022, UTF-7: a detector has no 8-bit bytes to go on
        return False
    if "\ufffd" in text:
        return True
    if codec in _MULTIBYTE or not _HIGH_RUN_RE.search(data):
        return False
    return _mess(text) > MOJIBAKE_RATIO


def _badness(text: str) -> tuple[int, float]:
    """How wrong a decoding looks: replacement characters first, then charset-normalizer's mess."""
    return text.count("\ufffd"), _mess(text)


def _mess(text: str) -> float:
    from charset_normalizer.md import mess_ratio  # imported on first doubt: 40 ms most messages never pay

    return mess_ratio(text[:DETECT_BYTES], maximum_threshold=1.0)


def _guess(data: bytes, charset: str | None, hint: Hint) -> Decoded | None:
    """``data`` in the charset that reads best, or None when the detector finds none.

    ``hint`` first, when it reads cleanly. Text with no run of 8-bit bytes is
    Western (an accented letter here and there) and read as windows-1252,
    which the detector cannot tell from windows-1250 on a few letters; so is
    text the detector gives to another Latin charset that windows-1252 reads
    as cleanly.
    """
    said = f"labelled {charset!r}" if charset else "with no charset"
    hint = hint() if callable(hint) else hint
    runs = _HIGH_RUN_RE.search(data) is not None
    for candidate in (hint, None if runs else "cp1252"):
        text = _clean_decode(data, candidate)
        if text is not None and (not runs or _mess(text) <= MOJIBAKE_RATIO):
            name = codecs.lookup(candidate or "").name
            return Decoded(text, f"text {said} read as {name}", name)
    from charset_normalizer import from_bytes

    best = from_bytes(data[:DETECT_BYTES], cp_isolation=list(DETECTABLE)).best()
    if best is None:
        return None
    name = codecs.lookup(best.encoding).name
    text = data.decode(name, errors="replace")
    if name in _LATIN:
        western = _clean_decode(data, "cp1252")
        if western is not None and _mess(western) <= _mess(text):
            name, text = "cp1252", western
    return Decoded(text, f"text {said} read as {name}", name)


def _clean_decode(data: bytes, codec: str | None) -> str | None:
    if not codec:
        return None
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def repair_surrogates(value: str, charset: str | None = None) -> str:
    """Turn raw 8-bit header bytes (kept by the parser as surrogate escapes) into text."""
    return decode_raw_header(value, charset).text


def decode_raw_header(value: str, charset: str | None = None, hint: Hint = None) -> Decoded:
    """``repair_surrogates``, saying which charset had to be guessed."""
    if value.isascii() and not _ISO2022_RE.search(value):
        return Decoded(value, None, None)
    try:
        raw = value.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that were never bytes
        return Decoded(value.encode("utf-8", errors="replace").decode("utf-8"), None, None)
    if _ISO2022_RE.search(value):
        charset = "iso-2022-jp"
    return decode_text(raw, charset, hint)
