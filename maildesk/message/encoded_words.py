"""Header values to text: unfolding, raw 8-bit bytes and RFC 2047 encoded-words as mail clients read them.

Mailers break RFC 2047 in ways every client forgives: spaces inside an
encoded-word (``=?UTF-8?Q? Personal=C3=A4nderung?=``), a word split by
header folding, no charset or one nobody knows, two words with no space
between them, a word glued to plain text.  Thunderbird decodes all of
these, and so does ``decode_header_value``; the stdlib's decoder leaves them
as written.
"""

from __future__ import annotations

import binascii
import re

from maildesk.message.charsets import Hint, decode_raw_header, decode_text

_FOLD_RE = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_NEWLINE_RE = re.compile(r"[\r\n]")
# An encoded-word: "=?" charset "?" Q or B "?" text "?=". The text may hold spaces and
# line breaks (mailers fold inside it); it stops at the first "?", so that a header full
# of unterminated "=?" is still read in linear time.
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]{0,64})\?([qQbB])\?([^?]*)\?=")
_WORD_FOLD_RE = re.compile(r"\r?\n[ \t]*|\r[ \t]*")
_SPACE_RE = re.compile(r"\s+")


def decode_header_value(
    value: str, charset: str | None = None, hint: Hint = None, guesses: list[str] | None = None
) -> str:
    """Decode one raw header value: unfold, repair raw 8-bit bytes, decode RFC 2047 words.

    CR, LF and NUL never survive; ``charset`` is the declared guess for raw
    8-bit bytes and ``hint`` the charset the message turned out to be in.
    A charset the decoder had to guess is added to ``guesses``.
    """
    if "=?" in value and ("\n" in value or "\r" in value):
        value = _ENCODED_WORD_RE.sub(_unfold_word, value)
    value = _FOLD_RE.sub("", value)
    if not value.isascii() or "\x1b" in value:
        value = _repair(value, charset, hint, guesses)
    if "=?" in value:
        value = _decode_encoded_words(value, hint, guesses)
    if "\x00" in value:
        value = value.replace("\x00", "")
    return _NEWLINE_RE.sub(" ", value)


def _repair(value: str, charset: str | None, hint: Hint, guesses: list[str] | None) -> str:
    decoded = decode_raw_header(value, charset, hint)
    if decoded.guessed and guesses is not None:
        guesses.append(decoded.guessed)
    return decoded.text


def _unfold_word(word: re.Match[str]) -> str:
    """An encoded-word that header folding cut in two, made whole again (the fold is no text)."""
    return _WORD_FOLD_RE.sub("", word.group(0))


def _decode_encoded_words(value: str, hint: Hint = None, guesses: list[str] | None = None) -> str:
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

    def flush() -> None:
        decoded = decode_text(pending, pending_charset or None, hint)
        if decoded.guessed and guesses is not None:
            guesses.append(decoded.guessed)
        chunks.append(decoded.text)

    for word in _ENCODED_WORD_RE.finditer(value):
        gap = value[position : word.start()]
        if after_word and not gap.strip():
            gap = ""  # whitespace between two encoded-words is folding, not text
        charset, data = word.group(1).lower(), _encoded_word_bytes(word.group(2), word.group(3))
        if pending and (gap or data is None or charset != pending_charset):
            flush()
            pending = b""
        chunks.append(gap)
        if data is None:
            chunks.append(word.group(0))
        else:
            pending, pending_charset = pending + data, charset
        position, after_word = word.end(), data is not None
    if pending:
        flush()
    chunks.append(value[position:])
    return "".join(chunks)


def _encoded_word_bytes(encoding: str, payload: str) -> bytes | None:
    """The bytes of one encoded-word's text.

    No encoder writes spaces inside an encoded-word, but some mailers do:
    those around a Q text are dropped, those inside kept; base64 skips them all.
    """
    try:
        raw = payload.strip().encode("ascii")
        if encoding in "bB":
            raw = _SPACE_RE.sub("", payload).encode("ascii")
            return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
        return binascii.a2b_qp(raw, header=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
