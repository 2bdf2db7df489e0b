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

    from maildesk.kb.manage import add_article

    slug, parsed = _read_article_file(args.file)
    settings, db = open_database(args)
    with db.session() as session:
        article = add_article(
            session,
            slug,
            parsed,
            publish=args.publish,
            kb_dir=settings.kb.dir,
            now=datetime.now(UTC),
            origin=args.file,
        )
        _print_article(article, args.format, "added")
    return ExitCode.OK


def cmd_kb_change(args: argparse.Namespace) -> int:
    """``kb publish ID|SLUG`` and ``kb retire ID|SLUG``."""
    from datetime import UTC, datetime

    from maildesk.kb.manage import change_article

    settings, db = open_database(args)
    with db.session() as session:
        article, said = change_article(
            session, args.id, args.action, kb_dir=settings.kb.dir, now=datetime.now(UTC)
        )
        _print_article(article, args.format, said)
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
