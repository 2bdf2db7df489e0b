"""The life of an article: drafts filed from closures, proposed updates, publishing and retiring.

A draft filed from a closed ticket is the requester's question and the
technician's answer, redacted (:mod:`maildesk.kb.redact`). Only a technician
publishing it (``[publish]``, ``kb publish``) lets it out of the desk. When
it says what a published article already says (same application, most of
that article's words), it is filed as a proposed update of that article:
publishing it rewrites the existing article, keeping its slug, so that rules
and ``[known=SLUG]`` naming it go on working, and the knowledge base does not
fill with near-duplicates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.kb.redact import People, redact
from maildesk.states import ArticleStatus
from maildesk.storage.models import KbArticle

# An existing article is "close" when the draft holds at least this share of its words.
CLOSE_SHARE = 0.6
CLOSE_MIN_WORDS = 3
CLOSE_CANDIDATES = 500  # the most recently updated published articles of the application compared
_HEADINGS = {"en": ("Question", "Answer"), "fr": ("Question", "Réponse")}
_WORD = re.compile(r"[^\W\d_]{4,}")


@dataclass(frozen=True)
class Resolution:
    """What a closed ticket teaches: its subject, the requester's question, the technician's answer."""

    number: int
    subject: str
    question: str
    answer: str
    tags: tuple[str, ...] = ()
    application: str | None = None
    category: str | None = None
    language: str = "en"


def draft_slug(number: int) -> str:
    return f"ticket-{number}"


def compose_body(question: str, answer: str, language: str) -> str:
    """The answer with the question it answers as context, under headings in the ticket's language."""
    asked, answered = _HEADINGS.get(language, _HEADINGS["en"])
    question = question.strip()
    if len(question) > 2000:
        question = question[:2000].rstrip() + " …"
    if not question:
        return answer.strip()
    return f"{asked}:\n\n{question}\n\n{answered}:\n\n{answer.strip()}"


def file_draft(
    session: Session, resolution: Resolution, people: People | None, now: datetime, *, publish: bool = False
) -> KbArticle:
    """File ``resolution`` as the ticket's draft (refiled when the ticket closes again); redacted unless
    ``people`` is None. With ``publish`` (``kb.review = false``) it is published at once: the article
    that is then in use is returned (the one it updated, for a proposed update)."""
    title = resolution.subject[:300] or f"Ticket {resolution.number}"
    body = compose_body(resolution.question, resolution.answer, resolution.language)
    if people is not None:
        title, body = redact(title, people), redact(body, people)
    slug = draft_slug(resolution.number)
    article = session.scalar(select(KbArticle).where(KbArticle.slug == slug))
    if article is None:
        article = KbArticle(slug=slug, uses=0, source_ticket=resolution.number)
        session.add(article)
    # New text is unread text: a refiled article goes back to review rather than out under the old approval.
    article.title, article.body, article.status, article.updated_at = title, body, ArticleStatus.DRAFT, now
    article.tags = list(resolution.tags)
    article.application, article.category = resolution.application, resolution.category
    article.language = resolution.language
    session.flush()  # the id, to leave itself out of the close articles
    close = find_close_article(session, title, body, resolution.application, exclude=article.id)
    article.updates = close.id if close is not None else None
    session.flush()
    return publish_article(session, article, now) if publish else article


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def find_close_article(
    session: Session, title: str, body: str, application: str | None, *, exclude: int | None = None
) -> KbArticle | None:
    """The published article of the same application most of whose words the draft holds, if any."""
    words = _words(f"{title} {body}")
    if not words:
        return None
    same_application = (
        KbArticle.application.is_(None) if application is None else KbArticle.application == application
    )
    candidates = session.scalars(
        select(KbArticle)
        .where(KbArticle.status == ArticleStatus.PUBLISHED, same_application, KbArticle.id != (exclude or 0))
        .order_by(KbArticle.updated_at.desc())
        .limit(CLOSE_CANDIDATES)
    )
    best, best_share = None, CLOSE_SHARE
    for candidate in candidates:
        theirs = _words(f"{candidate.title} {candidate.body}")
        if len(theirs) < CLOSE_MIN_WORDS:
            continue
        share = len(words & theirs) / len(theirs)
        if share >= best_share:
            best, best_share = candidate, share
    return best


def publish_article(
    session: Session, article: KbArticle, now: datetime, text: str | None = None
) -> KbArticle:
    """Publish ``article`` (``text``, when given, replaces its body first); returns the article now in use.

    A proposed update rewrites the article it updates (its slug, title and
    uses stay) and is itself retired; when that article has been retired
    meanwhile, the draft is published as an article of its own.
    """
    if text is not None and text.strip():
        article.body = text.strip()
    target = session.get(KbArticle, article.updates) if article.updates else None
    if target is not None and target.status == ArticleStatus.PUBLISHED and target.id != article.id:
        target.body, target.updated_at = article.body, now
        target.tags = list(dict.fromkeys([*(target.tags or []), *(article.tags or [])]))
        article.status, article.updated_at = ArticleStatus.RETIRED, now
        session.flush()
        return target
    article.status, article.updated_at, article.updates = ArticleStatus.PUBLISHED, now, None
    session.flush()
    return article


def retire_article(article: KbArticle, now: datetime) -> None:
    """Take an article out of use: no suggestion, search hit or answer names it any more."""
    article.status, article.updated_at = ArticleStatus.RETIRED, now


def find_draft_for_ticket(session: Session, number: int) -> KbArticle | None:
    """The draft filed from ticket ``number``, if it has one waiting."""
    return session.scalar(
        select(KbArticle).where(KbArticle.slug == draft_slug(number), KbArticle.status == ArticleStatus.DRAFT)
    )
