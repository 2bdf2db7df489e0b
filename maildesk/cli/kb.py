"""``maildesk kb search|list|show``: the knowledge base, and the article JSON shape."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from maildesk.cli.common import EX_DATAERR, EX_OK, CliError, open_database
from maildesk.cli.output import dumps, iso, render_table
from maildesk.types import ARTICLE_STATUSES

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
            raise CliError(f"kb {args.id}: no such article", EX_DATAERR)
        shape = article_json(article, body=True)
        if args.format == "json":
            print(dumps(shape))
        else:
            print(f"{shape['title']}  ({shape['slug']}, #{shape['id']})\n\n{shape['body']}")
        return EX_OK
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
    return EX_OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    kb = sub.add_parser("kb", parents=[common], help="the knowledge base")
    ksub = kb.add_subparsers(dest="action", required=True, metavar="ACTION")
    ksearch = ksub.add_parser("search", parents=[common])
    ksearch.add_argument("query")
    klist = ksub.add_parser("list", parents=[common])
    klist.add_argument("--status", choices=(*ARTICLE_STATUSES, "all"), default="published")
    kshow = ksub.add_parser("show", parents=[common])
    kshow.add_argument("id", metavar="ID")
    for p in (ksearch, klist, kshow):
        p.add_argument("--format", choices=("table", "text", "json"), default="table")
        p.set_defaults(func=cmd_kb)
