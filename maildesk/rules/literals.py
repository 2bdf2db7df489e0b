"""Find the words a regex cannot match without, so a rule can skip the regex cheaply.

Running 500 case-insensitive regexes over a long body costs tens of
milliseconds; checking ``"phishing" in body`` costs a microsecond. For each
pattern we derive a small set of lower-case ASCII "needles" such that every
match of the pattern contains at least one of them, and we look for them in a
folded copy of the text before running the regex. The check may let through
texts the regex then rejects, never the reverse. When no useful needles can
be found (or the private parser of ``re`` is unavailable) the regex always
runs.

When a needle is present the regex still has to run, but not from the start
of the text: each needle sits at most ``lead`` characters after the start of
any match that contains it there, so no match starts before the earliest
``occurrence - lead``. ``pattern.search(text, pos)`` keeps the text before
``pos`` as context for ``^``, ``\\b`` and look-behinds, so starting there
gives the same answer as searching the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

try:  # the parser behind re.compile; private, so its absence only costs speed
    from re import _constants as _sre  # type: ignore[attr-defined]  # private: not in typeshed
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other Python implementations
    _sre = None
    _sre_parse = None

MIN_NEEDLE = 3  # shorter needles occur in nearly every text: no longer worth checking
MAX_NEEDLES = 12  # beyond this, scanning for each needle costs about as much as the regex
MAX_LEAD = 10_000  # leads wider than this count as unbounded

# The only characters outside ASCII that re's IGNORECASE matching treats as
# equal to an ASCII letter (tests/rules check this over all of Unicode). They
# are mapped to that letter before lower-casing, so that a needle found by
# the regex is also found by ``in``.
_SPECIAL = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_SPECIAL_TABLE = str.maketrans(_SPECIAL)

# needle -> the most characters between the start of a match and that needle; None: unbounded
Needles = dict[str, int | None]


def fold(text: str) -> str:
    """The text the needles are looked for in: lower-case, with re's ASCII look-alikes made ASCII.

    The result has the same length as ``text`` (U+0130, the one character
    whose lower case is two characters, is one of the look-alikes), so a
    position found in it is a position in ``text``.
    """
    if not text.isascii():
        for char in _SPECIAL:
            if char in text:
                text = text.translate(_SPECIAL_TABLE)
                break
    return text.lower()


@dataclass(frozen=True, slots=True)
class Prefilter:
    """What to look for before running a regex, and where the search may start."""

    needles: tuple[tuple[str, int | None], ...]  # (lower-case needle, lead); every match contains one


def find_prefilter(regex: re.Pattern[str]) -> Prefilter | None:
    """The prefilter for ``regex``, or None when no needles are worth looking for."""
    if _sre_parse is None:
        return None
    try:
        needles = _required(_sre_parse.parse(regex.pattern, regex.flags))
    except Exception:  # noqa: BLE001 - an unexpected parser shape must only cost speed
        return None
    if not needles or len(needles) > MAX_NEEDLES or min(map(len, needles)) < MIN_NEEDLE:
        return None
    ordered = sorted(needles.items(), key=lambda item: len(item[0]), reverse=True)
    return Prefilter(needles=tuple(ordered))


def _inner(op: Any, av: Any) -> Needles | None:
    """What a group, a repeat or a branch requires; None for anything else (classes, dots,
    lookarounds, back-references, non-ASCII literals match characters we cannot name)."""
    if op is _sre.SUBPATTERN:
        return _required(av[-1])
    if op is _sre.ATOMIC_GROUP:
        return _required(av)
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
        return _required(av[2]) if av[0] >= 1 else None  # the first repetition holds the needle
    if op is not _sre.BRANCH:
        return None
    alternatives = [_required(branch) for branch in av[1]]
    if not all(alternatives):
        return None
    merged: Needles = {}
    for alternative in alternatives:
        for needle, lead in alternative.items():  # type: ignore[union-attr]
            known = merged.get(needle, 0)
            merged[needle] = None if lead is None or known is None else max(lead, known)
    return merged


def _required(sequence: Any) -> Needles | None:
    """Needles for a parsed sequence: the most selective of the sets its parts require."""
    best: Needles | None = None
    offset: int | None = 0  # the most characters the items so far can take; None: unbounded
    run: list[str] = []
    run_offset: int | None = 0

    def consider(candidate: Needles | None, shift: int | None) -> None:
        nonlocal best
        if not candidate or "" in candidate:
            return
        shifted = {
            needle: None if lead is None or shift is None else lead + shift
            for needle, lead in candidate.items()
        }
        if best is None or _score(shifted) > _score(best):
            best = shifted

    for op, av in sequence:
        if op is _sre.AT:  # anchors and \b take no characters: the run goes on
            continue
        if op is _sre.LITERAL and chr(av).isascii():
            if not run:
                run_offset = offset
            run.append(chr(av).lower())
        else:
            if run:
                consider({"".join(run): 0}, run_offset)
                run = []
            consider(_inner(op, av), offset)
        offset = _advance(offset, sequence, op, av)
    if run:
        consider({"".join(run): 0}, run_offset)
    return best


def _advance(offset: int | None, sequence: Any, op: Any, av: Any) -> int | None:
    """``offset`` plus the most characters one parsed item can match."""
    if offset is None:
        return None
    widest = 1 if op in _ONE_CHARACTER else _sre_parse.SubPattern(sequence.state, [(op, av)]).getwidth()[1]
    return offset + widest if offset + widest <= MAX_LEAD else None


_ONE_CHARACTER = () if _sre is None else (_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN)


def _score(needles: Needles) -> tuple[int, int]:
    """Longer shortest needle first, then fewer needles."""
    return (min(map(len, needles)), -len(needles))
