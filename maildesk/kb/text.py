"""Words of a text as the search index keeps them: lower-case, stemmed in their language, then unaccented.

The order matters: the Snowball stemmers read accents (French ``-ée``,
``-é``), so a word is stemmed first and loses its accents after. A query
goes through the same steps, which is why ``reinitialiser`` finds
``réinitialiser`` and ``imprimantes`` finds ``Imprimante``.

PostgreSQL does the same with its ``french``/``english`` text search
configurations followed by ``unaccent``; the stop words below are the
Snowball lists it ships (``tsearch_data/*.stop``, BSD licence), so that both
backends drop the same words from a query.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import snowballstemmer

#: Article language -> Snowball stemmer and PostgreSQL text search configuration.
#: Any other language is indexed word for word (PostgreSQL's ``simple``).
CONFIGURATIONS = {"en": "english", "fr": "french"}
SIMPLE = "simple"
#: An article of no known language is indexed with both stemmers; a query word matches either form.
BOTH = ("english", "french")

# Letters and digits: what PostgreSQL's parser calls a word (it splits at ``_``, ``-`` and ``'`` too).
_WORD = re.compile(r"[^\W_]+")
# Letters that unaccent spells out rather than strips (no combining mark to drop).
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "đ": "d", "ł": "l", "ı": "i"})
_STOPWORDS_DIR = Path(__file__).with_name("stopwords")
MAX_WORD = 2047  # characters: PostgreSQL leaves longer words out of a tsvector


def configurations(language: str | None) -> tuple[str, ...]:
    """The text search configurations an article in ``language`` is indexed with (see :data:`BOTH`)."""
    if not language:
        return BOTH
    return (CONFIGURATIONS.get(language.lower(), SIMPLE),)


def group(language: str | None) -> str:
    """The name of the index group of ``language``: its configurations joined by ``+``."""
    return "+".join(configurations(language))


#: Every index group, in a fixed order (a query asks each).
GROUPS = ("english", "french", "+".join(BOTH), SIMPLE)


def unaccent(word: str) -> str:
    """``réinitialisé`` -> ``reinitialise``: combining marks dropped, ligatures spelt out."""
    decomposed = unicodedata.normalize("NFKD", word.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def stopwords(config: str) -> frozenset[str]:
    path = _STOPWORDS_DIR / f"{config}.txt"
    if config == SIMPLE or not path.is_file():
        return frozenset()
    return frozenset(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


@cache
def _stemmer(config: str) -> Any:  # snowballstemmer has no type for its stemmers
    return snowballstemmer.stemmer(config)


def words(text: str) -> Iterator[re.Match[str]]:
    """Each word of ``text`` with where it stands; longer ones are no words (nor for PostgreSQL)."""
    return (match for match in _WORD.finditer(text) if match.end() - match.start() <= MAX_WORD)


@lru_cache(maxsize=200_000)
def lexeme(word: str, config: str) -> str | None:
    """The indexed form of one word, or None for a stop word (cached: a language has few words)."""
    lower = word.lower()
    if config == SIMPLE:
        return unaccent(lower)
    if lower in stopwords(config):
        return None
    # Words with digits are kept whole, as PostgreSQL's parser files them under "numword" (no stemmer).
    stemmed = lower if any(c.isdigit() for c in lower) else _stemmer(config).stemWord(lower)
    return unaccent(stemmed)


def lexemes(text: str, configs: tuple[str, ...]) -> list[str]:
    """The indexed forms of the words of ``text``, in order, stop words left out, for each configuration."""
    found = (lexeme(match.group(), config) for config in configs for match in words(text))
    return [item for item in found if item]


def query_words(text: str, limit: int, configs: tuple[str, ...] = ()) -> list[str]:
    """The first ``limit`` distinct words of a query, lower-case; with ``configs``, only words not
    stop words in one of them (the significant words of a request in its language)."""
    found: dict[str, None] = {}
    for match in words(text):
        word = match.group().lower()
        if word not in found and (not configs or any(lexeme(word, config) for config in configs)):
            found[word] = None
            if len(found) == limit:
                break
    return list(found)
