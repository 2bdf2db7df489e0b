"""``maildesk kb search|list|show|add|publish|retire``: the knowledge base, and the article JSON shape."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from maildesk.cli.common import open_database
from maildesk.cli.output import dumps, iso, render_table
from maildesk.errors import ExitCode, InputMissing, InputRefused, NotFound
from maildesk.kb import ARTICLE_STATUSES
from maildesk.states import ArticleStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlalchemy.sql.elements import ColumnElement

    from maildesk.config import Settings
    from maildesk.storage.models import KbArticle

COLUMNS = ("id", "slug", "title", "status", "uses", "updated_at")


def article_json(article: KbArticle, *, body: bool = False) -> dict:
    shape = {
        "id": article.id,
        "slug": article.slug,
        "title": article.title,
        "tags": list(article.tags or []),
        "application": article.application,
        "category": article.category,
        "source_ticket": article.source_ticket,
        "uses": article.uses,
        "status": article.status,
        "updated_at": iso(article.updated_at),
    }
    if body:
        shape["body"] = article.body
    return shape


def _load_file_article(session: Session, settings: Settings, key: str) -> KbArticle | None:
    """The admins' article file ``key`` (a slug) the daemon has not loaded yet, stored as it would store it.

    Only that file: the others are loaded by the daemon once its rules and
    templates have passed validation (a refused reload changes nothing).
    """
    from maildesk.kb.articles import file_article_row, index_article, read_article_files

    if settings.kb.dir is None or not settings.kb.dir.is_dir():
        return None
    for slug, title, body in read_article_files(settings.kb.dir):
        if slug == key:
            article = file_article_row(slug, title, body)
            session.add(article)
            session.flush()
            index_article(session, article)
            return article
    return None


def cmd_kb(args: argparse.Namespace) -> int:
    from maildesk.kb.articles import find_article, list_articles, search

    _settings, db = open_database(args)
    if args.action == "show":
        article = find_article(db, args.id)
        if article is None:
            raise NotFound(f"kb {args.id}: no such article")
        shape = article_json(article, body=True)
        if args.format == "json":
            print(dumps(shape))
        else:
            print(f"{shape['title']}  ({shape['slug']}, #{shape['id']})\n\n{shape['body']}")
        return ExitCode.OK
    if args.action == "search":
        rows = [
            {**article_json(h.article), "score": h.score, "excerpt": h.excerpt}
            for h in search(db, args.query)
        ]
    else:
        status = None if args.status == "all" else args.status
        rows = [article_json(a) for a in list_articles(db, status)]
    if args.format == "json":
        print(dumps(rows))
    else:
        print(render_table(rows, COLUMNS + (("score",) if args.action == "search" else ())))
    return ExitCode.OK


def _article_key(key: str) -> ColumnElement[bool]:
    """The WHERE clause for an article named by number (all digits) or slug."""
    from maildesk.storage.models import KbArticle

    if key.isascii() and key.isdigit():
        # A number past any id names nothing (and would overflow the column's type).
        return KbArticle.id == int(key) if 0 < int(key) < 2**63 else KbArticle.id.is_(None)
    return KbArticle.slug == key


def _print_article(article: KbArticle, fmt: str, said: str) -> None:
    if fmt == "json":
        print(dumps(article_json(article, body=True)))
    else:
        print(f"{said} {article.slug} (#{article.id}): {article.status}")


def _read_article_file(name: str) -> Any:
    from pathlib import Path

    from maildesk.kb.markdown import ArticleFileError, parse_article, slug_for

    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputMissing(f"kb add {name}: no such file") from None
    except IsADirectoryError:
        raise InputMissing(f"kb add {name}: is a directory, not an article file") from None
    except UnicodeDecodeError:
        raise InputRefused(f"kb add {name}: not UTF-8 text") from None
    except OSError as exc:
        raise InputMissing(f"kb add {name}: cannot read: {exc.strerror}") from None
    try:
        parsed = parse_article(text, name)
    except ArticleFileError as exc:
        raise InputRefused(f"kb add {exc}") from None
    slug = slug_for(path.stem)
    if not slug:
        raise InputRefused(f"kb add {name}: the file name gives no slug (use letters or digits)")
    return slug, parsed


def cmd_kb_add(args: argparse.Namespace) -> int:
    """``kb add FILE.md [--publish]``: an article written by hand, a draft unless ``--publish``."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from maildesk.kb.articles import article_file_slugs, index_article
    from maildesk.storage.models import KbArticle

    slug, parsed = _read_article_file(args.file)
    settings, db = open_database(args)
    if slug in article_file_slugs(settings.kb.dir):
        raise InputRefused(
            f"kb add {args.file}: the article file {slug}.md in {settings.kb.dir} has that slug"
        )
    with db.session() as session:
        taken = session.scalar(select(KbArticle).where(KbArticle.slug == slug))
        if taken is not None:
            exists = f"an article with slug {slug!r} already exists (#{taken.id}, {taken.status})"
            raise InputRefused(f"kb add {args.file}: {exists}")
        article = KbArticle(
            slug=slug,
            title=parsed.title,
            body=parsed.body,
            tags=list(parsed.tags),
            application=parsed.application,
            category=parsed.category,
            uses=0,
            updated_at=datetime.now(UTC),
            status=ArticleStatus.PUBLISHED if args.publish else ArticleStatus.DRAFT,
        )
        session.add(article)
        session.flush()
        index_article(session, article)
        _print_article(article, args.format, "added")
    return ExitCode.OK


def cmd_kb_change(args: argparse.Namespace) -> int:
    """``kb publish ID|SLUG`` and ``kb retire ID|SLUG``."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from maildesk.kb.drafts import publish_article, retire_article
    from maildesk.storage.models import KbArticle

    settings, db = open_database(args)
    now = datetime.now(UTC)
    with db.session() as session:
        article = session.scalar(select(KbArticle).where(_article_key(args.id)))
        if article is None:
            article = _load_file_article(session, settings, args.id)
        if article is None:
            raise NotFound(f"kb {args.action} {args.id}: no such article")
        if args.action == "retire":
            retire_article(article, now)
            _print_article(article, args.format, "retired")
        elif article.status == ArticleStatus.PUBLISHED:
            _print_article(article, args.format, "already published:")
        else:
            live = publish_article(session, article, now)
            said = "published" if live is article else f"published {article.slug} as an update of"
            _print_article(live, args.format, said)
    return ExitCode.OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    kb = sub.add_parser("kb", parents=[common], help="the knowledge base")
    ksub = kb.add_subparsers(dest="action", required=True, metavar="ACTION")
    ksearch = ksub.add_parser("search", parents=[common])
    ksearch.add_argument("query")
    klist = ksub.add_parser("list", parents=[common])
    klist.add_argument("--status", choices=(*ARTICLE_STATUSES, "all"), default=ArticleStatus.PUBLISHED)
    kshow = ksub.add_parser("show", parents=[common])
    kshow.add_argument("id", metavar="ID")
    for p in (ksearch, klist, kshow):
        p.add_argument("--format", choices=("table", "text", "json"), default="table")
        p.set_defaults(func=cmd_kb)
    kadd = ksub.add_parser("add", parents=[common], help="add an article from a Markdown file")
    kadd.add_argument("file", metavar="FILE.md")
    kadd.add_argument("--publish", action="store_true", help="publish it at once (default: a draft)")
    kadd.set_defaults(func=cmd_kb_add)
    kpublish = ksub.add_parser("publish", parents=[common], help="publish a draft")
    kretire = ksub.add_parser("retire", parents=[common], help="take an article out of use")
    for p in (kpublish, kretire):
        p.add_argument("id", metavar="ID|SLUG")
        p.set_defaults(func=cmd_kb_change)
    for p in (kadd, kpublish, kretire):
        p.add_argument("--format", choices=("text", "json"), default="text")
