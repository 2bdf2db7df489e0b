"""What an admin does to the knowledge base by hand: add an article, publish or retire one.

The CLI (``kb add``, ``kb publish``, ``kb retire``) only parses, calls these
and prints; the rules of an article's life stay here beside the drafts'
(:mod:`maildesk.kb.drafts`), so mail and command line follow the same ones.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from maildesk.errors import InputRefused, NotFound
from maildesk.kb.articles import article_file_slugs, file_article_row, read_article_files
from maildesk.kb.drafts import publish_article, retire_article
from maildesk.kb.markdown import ArticleText
from maildesk.states import ArticleStatus
from maildesk.storage.models import KbArticle


def article_key(key: str) -> ColumnElement[bool]:
    """The WHERE clause for an article named by number (all digits) or slug."""
    if key.isascii() and key.isdigit():
        # A number past any id names nothing (and would overflow the column's type).
        return KbArticle.id == int(key) if 0 < int(key) < 2**63 else KbArticle.id.is_(None)
    return KbArticle.slug == key


def add_article(
    session: Session,
    slug: str,
    text: ArticleText,
    *,
    publish: bool,
    kb_dir: Path | None,
    now: datetime,
    origin: str,
) -> KbArticle:
    """A hand-written article, a draft unless ``publish``; ``origin`` names it in a refusal (the file)."""
    if slug in article_file_slugs(kb_dir):
        raise InputRefused(f"kb add {origin}: the article file {slug}.md in {kb_dir} has that slug")
    taken = session.scalar(select(KbArticle).where(KbArticle.slug == slug))
    if taken is not None:
        exists = f"an article with slug {slug!r} already exists (#{taken.id}, {taken.status})"
        raise InputRefused(f"kb add {origin}: {exists}")
    article = KbArticle(
        slug=slug,
        title=text.title,
        body=text.body,
        tags=list(text.tags),
        application=text.application,
        category=text.category,
        uses=0,
        updated_at=now,
        status=ArticleStatus.PUBLISHED if publish else ArticleStatus.DRAFT,
    )
    session.add(article)
    session.flush()  # the id; the search index follows (mapper events of maildesk.kb.index)
    return article


def change_article(
    session: Session, key: str, action: str, *, kb_dir: Path | None, now: datetime
) -> tuple[KbArticle, str]:
    """``publish`` or ``retire`` the article ``key``: the article now live, and what was done, in words."""
    article = session.scalar(select(KbArticle).where(article_key(key)))
    if article is None:
        article = _load_file_article(session, kb_dir, key)
    if article is None:
        raise NotFound(f"kb {action} {key}: no such article")
    if action == "retire":
        retire_article(article, now)
        return article, "retired"
    if article.status == ArticleStatus.PUBLISHED:
        return article, "already published:"
    live = publish_article(session, article, now)
    return live, "published" if live is article else f"published {article.slug} as an update of"


def _load_file_article(session: Session, kb_dir: Path | None, key: str) -> KbArticle | None:
    """The admins' article file ``key`` (a slug) the daemon has not loaded yet, stored as it would store it.

    Only that file: the others are loaded by the daemon once its rules and
    templates have passed validation (a refused reload changes nothing).
    """
    if kb_dir is None or not kb_dir.is_dir():
        return None
    for slug, title, body in read_article_files(kb_dir):
        if slug == key:
            article = file_article_row(slug, title, body)
            session.add(article)
            session.flush()
            return article
    return None
