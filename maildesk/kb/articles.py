"""The knowledge base: article files, the term index behind suggestions, and search ranking."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import delete, insert, select, text

from maildesk.storage.db import Database
from maildesk.storage.models import KbArticle, KbTerm

_KB_SYNC_LOCK = 726355  # PostgreSQL advisory lock key for loading article files (the schema lock is 726354)

_STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "that",
        "this",
        "have",
        "not",
        "are",
        "was",
        "but",
        "you",
        "your",
        "our",
        "can",
        "cannot",
        "please",
        "help",
        "hello",
        "bonjour",
        "merci",
        "pour",
        "avec",
        "dans",
        "une",
        "des",
        "les",
        "est",
        "pas",
        "sur",
        "vous",
        "nous",
        "mon",
        "mes",
    ]
)


def keywords(text: str) -> list[str]:
    """Significant words (4+ letters, no stop words or numbers), lower-case, first occurrence order."""
    words = [w.lower() for w in re.findall(r"\w{4,}", text)]
    return [w[:64] for w in dict.fromkeys(words) if w not in _STOPWORDS and not w.isdigit()]


def index_article(session, article: KbArticle) -> None:
    """(Re)write the article's terms; call after the article has its id."""
    session.execute(delete(KbTerm).where(KbTerm.article_id == article.id))
    terms = keywords(" ".join([article.title, *(article.tags or []), article.application or ""]))
    if terms:
        session.execute(insert(KbTerm), [{"term": term, "article_id": article.id} for term in terms])


def _words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"\w{2,}", text)]


@dataclass(frozen=True)
class SearchHit:
    """One article matching a search: how well, and the piece of its body around the first term found."""

    article: KbArticle
    score: int
    excerpt: str


def rank(articles: Sequence[KbArticle], query: str, limit: int = 20) -> list[SearchHit]:
    """Articles matching ``query``, best first (then the most used, then the oldest)."""
    terms = _words(query)
    if not terms:
        return []
    results = []
    for article in articles:
        title, body = article.title.lower(), article.body.lower()
        score = sum(3 * title.count(t) + body.count(t) + 2 * (t in article.slug) for t in terms)
        if score > 0:
            results.append(SearchHit(article, score, _excerpt(article.body, terms)))
    results.sort(key=lambda hit: (-hit.score, -hit.article.uses, hit.article.id))
    return results[:limit]


def _excerpt(body: str, terms: list[str], width: int = 160) -> str:
    flat = " ".join(body.split())
    lower = flat.lower()
    positions = [lower.find(t) for t in terms if t in lower]
    start = max(0, min(positions) - width // 4) if positions else 0
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")


def read_article_files(directory) -> list[tuple[str, str, str]]:
    """(slug, title, body) for each ``*.md`` in the directory: the first ``# `` line is the title."""
    from pathlib import Path

    articles = []
    for path in sorted(Path(directory).glob("*.md")):
        text = path.read_text(encoding="utf-8")
        lines = text.strip().splitlines()
        title = lines[0].lstrip("# ").strip() if lines else path.stem
        articles.append((path.stem, title, "\n".join(lines[1:]).strip()))
    return articles


def article_file_slugs(directory) -> set[str]:
    """The slugs of the ``*.md`` article files of ``directory`` (none when it is unset or absent)."""
    from pathlib import Path

    if directory is None or not Path(directory).is_dir():
        return set()
    return {slug for slug, _title, _body in read_article_files(directory)}


def file_article_row(slug: str, title: str, body: str) -> KbArticle:
    """A new article from an admin's file: published, it is the admins' own text, meant for everyone."""
    from datetime import datetime

    return KbArticle(
        slug=slug, title=title, body=body, tags=[], uses=0, updated_at=datetime.now(UTC), status="published"
    )


def sync_articles(db, directory) -> int:
    """Load the admins' article files into the knowledge base (insert new, update changed)."""
    from datetime import datetime

    changed = 0
    with db.session() as session:
        if db.is_postgres:
            # Several processes may start at once (daemons, `maildesk ingest`): take turns, so two
            # never insert the same new slug. SQLite's BEGIN IMMEDIATE already serialises writers.
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _KB_SYNC_LOCK})
        existing = {a.slug: a for a in session.scalars(select(KbArticle))}
        for slug, title, body in read_article_files(directory):
            article = existing.get(slug)
            if article is None:
                article = file_article_row(slug, title, body)
                session.add(article)
            elif (article.title, article.body) != (title, body):
                article.title, article.body, article.updated_at = title, body, datetime.now(UTC)
            else:
                continue
            session.flush()
            index_article(session, article)
            changed += 1
    return changed


def article_statuses(db: Database) -> dict[str, str]:
    """The status of each stored article, by slug."""
    with db.session() as session:
        return {slug: status for slug, status in session.execute(select(KbArticle.slug, KbArticle.status))}


def known_articles(db: Database) -> set[str]:
    """The slugs of the articles stored in the knowledge base."""
    with db.session() as session:
        return set(session.scalars(select(KbArticle.slug)))


def find_article(db: Database, key: str) -> KbArticle | None:
    """An article by number (all digits) or by slug."""
    by_number = key.isascii() and key.isdigit() and 0 < int(key) < 2**63  # larger numbers fit no id column
    wanted = KbArticle.id == int(key) if by_number else KbArticle.slug == key
    with db.session() as session:
        return session.scalar(select(KbArticle).where(wanted))


def list_articles(db: Database, status: str | None = "published") -> list[KbArticle]:
    """The articles of one status (``None``: all), the most recently updated first."""
    query = select(KbArticle).order_by(KbArticle.updated_at.desc(), KbArticle.id.desc())
    if status is not None:
        query = query.where(KbArticle.status == status)
    with db.session() as session:
        return list(session.scalars(query))


def search(db: Database, query: str) -> list[SearchHit]:
    """The published articles matching ``query``, best first (see :func:`rank`); drafts never show."""
    return rank(list_articles(db, "published"), query)
