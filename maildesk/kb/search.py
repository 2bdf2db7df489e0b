"""Full-text search over the published articles: ranked, title above body, with an excerpt.

Each article is indexed in its language's group (:data:`maildesk.kb.text.GROUPS`),
and a query is asked of every group in that group's own terms: stemmed in
French for French articles, in English for English ones, both for an article
of no known language. So ``kb search`` needs no query language, and a
suggestion for a French ticket asks only the French (and unknown) articles.

``every_word`` (``kb search``): an article must hold every word of the
query, stop words aside. Otherwise (suggestions from a whole request) any
word counts, but only in titles: a request's ordinary words are in many
articles' bodies, and ranking all of them would cost as much as the rest of
processing the request; a title says what an article is about.

SQLite ranks with FTS5's ``bm25`` (title weighted 10, body 1); PostgreSQL
with ``ts_rank`` over a vector whose title has weight A (1.0) and body D
(0.1). The scores differ in scale between the two, not in what they put
first; ties go to the most used article, then the oldest.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Float, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TextualSelect

from maildesk.kb.index import group_word
from maildesk.kb.text import GROUPS, configurations, lexeme, query_words, words
from maildesk.states import ArticleStatus
from maildesk.storage.models import KbArticle

#: A statement ranking article ids (None when the query holds stop words only), and its parameters.
_Statement = tuple[TextualSelect | None, dict[str, str]]

MAX_WORDS = 32  # a query longer than this is cut: ranking is settled well before
# The best matches by text alone that are then filtered (published, language) and sorted with their
# ties: many more than a page of results, few enough that a word in every article costs no join per article.
CANDIDATES = 200


@dataclass(frozen=True)
class SearchHit:
    """One article matching a search: how well (higher is better), and its text around the first match."""

    article: KbArticle
    score: float
    excerpt: str


def search(
    session: Session,
    query: str,
    *,
    limit: int = 20,
    every_word: bool = True,
    language: str | None = None,
    max_words: int = MAX_WORDS,
) -> list[SearchHit]:
    """The published articles matching ``query``, best first.

    ``language``: only articles in that language (or of no known language),
    as suggestions for a ticket in that language.
    """
    # A request's first significant words in its language; a query's words as they are.
    terms = query_words(query, max_words, configurations(language) if language is not None else ())
    groups = _groups(language)
    if not terms or limit <= 0 or not groups:
        return []
    if session.get_bind().dialect.name == "postgresql":
        statement, params = _postgres(session, terms, groups, every_word)
    else:
        statement, params = _sqlite(terms, groups, every_word)
    if statement is None or not params:
        return []  # stop words only
    wanted = KbArticle.status == ArticleStatus.PUBLISHED
    if language is not None:
        wanted &= (KbArticle.language == language) | KbArticle.language.is_(None)
    ranked = statement.subquery("ranked")
    rows = session.execute(
        select(KbArticle, ranked.c.score)
        .join(ranked, ranked.c.id == KbArticle.id)
        .where(wanted)
        .order_by(ranked.c.score.desc(), KbArticle.uses.desc(), KbArticle.id)
        .limit(limit),
        params,
    ).all()
    return [SearchHit(article, float(f"{score:.6g}"), excerpt(article, terms)) for article, score in rows]


def _groups(language: str | None) -> list[tuple[str, str]]:
    """(index group, how to read the query there): each group its own way, or all in ``language``'s way."""
    if language is None:
        return [(group, group) for group in GROUPS]
    own = "+".join(configurations(language))
    return list(dict.fromkeys([(own, own), ("+".join(configurations(None)), own)]))


def _word_forms(word: str, group: str) -> list[str]:
    return list(dict.fromkeys(form for config in group.split("+") if (form := lexeme(word, config))))


def _sqlite(terms: list[str], groups: list[tuple[str, str]], every_word: bool) -> _Statement:
    """FTS5: one MATCH per group, its words quoted (they are letters and digits only).

    ``rank`` is ``bm25(kb_search, 10.0, 1.0)`` (set by the migration): FTS5
    keeps the best :data:`CANDIDATES` as it goes, and only those are joined.
    """
    parts: list[str] = []
    params: dict[str, str] = {}
    for n, (group, reading) in enumerate(groups):
        alternatives = [forms for word in terms if (forms := _word_forms(word, reading))]
        if not alternatives:
            continue  # stop words only, in this group's language
        joined = (" AND " if every_word else " OR ").join(
            "(" + " OR ".join(f'"{form}"' for form in forms) + ")" for forms in alternatives
        )
        if every_word:
            parts.append(
                f"SELECT * FROM (SELECT rowid AS id, -rank AS score FROM kb_search "
                f"WHERE kb_search MATCH :q{n} AND grp = :g{n} ORDER BY rank LIMIT {CANDIDATES})"
            )
            params |= {f"q{n}": joined, f"g{n}": group}
        else:  # suggestions: the titles table, its group a word of the match
            parts.append(
                f"SELECT * FROM (SELECT rowid AS id, -rank AS score FROM kb_search_titles "
                f"WHERE kb_search_titles MATCH :q{n} ORDER BY rank LIMIT {CANDIDATES})"
            )
            params[f"q{n}"] = 'grp : "' + group_word(group) + '" AND title : (' + joined + ")"
    statement = text(" UNION ALL ".join(parts) or "SELECT 0 AS id, 0.0 AS score WHERE 0")
    return statement.columns(id=KbArticle.id.type, score=Float()), params


def _postgres(
    session: Session, terms: list[str], groups: list[tuple[str, str]], every_word: bool
) -> _Statement:
    """One GIN lookup for every group's query at once, then each article checked in its own group's terms.

    The tsqueries are built word by word on the server first (``maildesk_kb_word``:
    stemmed by the group's configuration, then unaccented) and come back as
    parameters: a statement the driver has prepared keeps an indexable
    ``search_vector @@ $1`` even in a generic plan.
    """
    operator = " && " if every_word else " || "
    vector = "search_vector" if every_word else "title_vector"  # suggestions: titles only
    words: dict = {f"w{i}": word for i, word in enumerate(terms)}
    built = [
        "(" + operator.join(f"maildesk_kb_word(:r{n}, :w{i})" for i in range(len(terms))) + ")::text"
        for n in range(len(groups))
    ]
    readings = {f"r{n}": reading for n, (_group, reading) in enumerate(groups)}
    queries = session.execute(text("SELECT " + ", ".join(built)), words | readings).one()
    params: dict = {f"g{n}": group for n, (group, _reading) in enumerate(groups)}
    params |= {f"q{n}": query for n, query in enumerate(queries)}
    params["any"] = " | ".join(f"({query})" for query in dict.fromkeys(queries) if query)
    if not params["any"]:
        return None, {}  # stop words only
    own = (
        "CASE maildesk_kb_group(language) "
        + " ".join(f"WHEN :g{n} THEN CAST(:q{n} AS tsquery)" for n in range(len(groups)))
        + " END"
    )
    statement = text(
        f"SELECT id, ts_rank({vector}, {own}) AS score FROM kb_articles "
        f"WHERE {vector} @@ CAST(:any AS tsquery) AND {vector} @@ {own} "
        f"ORDER BY score DESC LIMIT {CANDIDATES}"
    )
    return statement.columns(id=KbArticle.id.type, score=Float()), params


def excerpt(article: KbArticle, terms: list[str], width: int = 160) -> str:
    """About ``width`` characters of the body around its first word that matches, on word boundaries."""
    configs = configurations(article.language)
    wanted = {form for word in terms for config in configs if (form := lexeme(word, config))}
    flat = " ".join((article.body or "").split())
    start = 0
    for match in words(flat):
        if any(lexeme(match.group(), config) in wanted for config in configs):
            start = max(0, match.start() - width // 4)
            break
    if start:
        space = flat.find(" ", start)
        start = space + 1 if 0 <= space < match.start() else start
    end = start + width
    if end < len(flat):
        space = flat.rfind(" ", start, end)
        end = space if space > start else end
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
