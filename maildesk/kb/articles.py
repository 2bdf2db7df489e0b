"""The knowledge base: article files, lookups, and search (:mod:`maildesk.kb.search`)."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

from sqlalchemy import select, text

from maildesk.kb import index as _index  # noqa: F401 - its mapper events keep the search index in step
from maildesk.kb.search import SearchHit
from maildesk.kb.search import search as search_index
from maildesk.states import ArticleStatus
from maildesk.storage.db import Database
from maildesk.storage.models import KbArticle

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


def read_article_files(directory: str | Path) -> list[tuple[str, str, str]]:
    """(slug, title, body) for each ``*.md`` in the directory: the first ``# `` line is the title."""
    articles = []
    for path in sorted(Path(directory).glob("*.md")):
        text = path.read_text(encoding="utf-8")
        lines = text.strip().splitlines()
        title = lines[0].lstrip("# ").strip() if lines else path.stem
        articles.append((path.stem, title, "\n".join(lines[1:]).strip()))
    return articles


def article_file_slugs(directory: str | Path | None) -> set[str]:
    """The slugs of the ``*.md`` article files of ``directory`` (none when it is unset or absent)."""
    if directory is None or not Path(directory).is_dir():
        return set()
    return {slug for slug, _title, _body in read_article_files(directory)}


def file_article_row(slug: str, title: str, body: str) -> KbArticle:
    """A new article from an admin's file: published, it is the admins' own text, meant for everyone."""
    from datetime import datetime

    return KbArticle(
        slug=slug,
        title=title,
        body=body,
        tags=[],
        uses=0,
        updated_at=datetime.now(UTC),
        status=ArticleStatus.PUBLISHED,
    )


def sync_articles(db: Database, directory: str | Path) -> int:
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


def list_articles(db: Database, status: str | None = ArticleStatus.PUBLISHED) -> list[KbArticle]:
    """The articles of one status (``None``: all), the most recently updated first."""
    query = select(KbArticle).order_by(KbArticle.updated_at.desc(), KbArticle.id.desc())
    if status is not None:
        query = query.where(KbArticle.status == status)
    with db.session() as session:
        return list(session.scalars(query))


def search(db: Database, query: str, limit: int = 20) -> list[SearchHit]:
    """The published articles holding every word of ``query``, best first; drafts never show.

    The full-text index does the work (:mod:`maildesk.kb.search`).
    """
    with db.session() as session:
        return search_index(session, query, limit=limit)
