"""Knowledge-base search benchmark (issue 13); run from the repo root.

    .venv/bin/python bench/kb.py                 # 100,000 articles, SQLite and PostgreSQL
    .venv/bin/python bench/kb.py --articles 20000 --only sqlite

Targets: ``kb search`` over 100,000 articles under 50 ms median on both
backends; suggestions add under 5 ms to processing a request.

- search: the query ``kb search`` runs (:func:`maildesk.kb.search.search`,
  every word, published only, best 20 with excerpts) for 60 queries of one to
  three words, common and rare, English and French; median, spread (p10-p90,
  max) in ms. The CLI's own start-up (a Python process) is timed apart.
- suggest: requests processed by the desk (``App.process_pending``: parse,
  rules, ticket, acknowledgement drafted and rendered) with ``kb.suggest = 3``
  and, as the same-run baseline, ``kb.suggest = 0``, on the same database,
  in alternating rounds; the difference per request and the ratio.

Articles: half English, half French, each about one of 3,000 topics per
language (four domain words drawn Zipf-like: the support words below are in
many topics, made-up ones in few), the title two or three of its topic's
words, the body 40-120 words of made-up filler (Zipf-like) with 15% topic
words; 90% published. Requests are about a topic too, in filler text, and
the ranked queries are support words, the most common domain words.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from maildesk.kb.index import reindex  # noqa: E402
from maildesk.kb.search import search  # noqa: E402
from maildesk.runtime.app import App  # noqa: E402
from maildesk.storage.db import Database  # noqa: E402
from maildesk.storage.models import KbArticle  # noqa: E402
from maildesk.tickets.store import TicketStore  # noqa: E402
from tests.support import Desk, make_message, postgres_available, postgres_url  # noqa: E402


def _split(text: str) -> list[str]:
    return text.split()


WORDS = {
    "en": _split(
        "printer offline network password reset account locked vpn connection mailbox outlook "
        "calendar screen laptop battery charger keyboard mouse update install software licence "
        "server share folder access denied slow error message browser certificate wifi drive backup "
        "restore phone meeting invoice payroll badge door scanner toner paper tray jam driver disk "
        "space memory crash freeze login token expired email attachment signature sync teams camera "
        "microphone headset dock monitor "
    ),
    "fr": _split(
        "imprimante réseau mot passe réinitialiser compte bloqué connexion messagerie calendrier "
        "écran portable batterie chargeur clavier souris mise jour installer logiciel licence "
        "serveur partage dossier accès refusé lent erreur navigateur certificat lecteur sauvegarde "
        "restaurer téléphone réunion facture paie badge porte scanner papier bac pilote disque "
        "espace mémoire plantage gel identifiant jeton expiré courriel pièce jointe signature "
        "synchronisation caméra micro casque écran "
    ),
}
SYLLABLES = _split(  # of filler words
    "ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge go la le li lo lu ma me mi mo mu "
    "na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo"
)


DOMAIN_SYLLABLES = [c + v for c in "hjkwxz" for v in "aeiou"]  # never in filler words


def made_up(rng: random.Random, syllables: list[str], size: int) -> list[str]:
    return sorted({"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(size)})


def zipf(count: int, exponent: float = 0.9) -> list[float]:
    """Cumulative Zipf-like weights: a few words are everywhere, most are rare."""
    return list(itertools.accumulate(1 / (rank + 1) ** exponent for rank in range(count)))


class Corpus:
    """Per language: filler words (ordinary text) and domain words (what articles are about), in topics.

    A topic is four domain words drawn Zipf-like (exponent 0.6: the support
    words above come first, the first of them in about 7% of the topics, a
    made-up one in a few); an
    article's title is two or three of its topic's words, its body filler
    with 15% topic words. A request is about a topic too, in filler text.
    """

    def __init__(self, seed: int = 13, topics: int = 3000) -> None:
        rng = random.Random(seed)
        self.filler, self.domain, self.topics = {}, {}, {}
        for language in sorted(WORDS):
            self.filler[language] = made_up(rng, SYLLABLES, 4000)
            domain = WORDS[language] + made_up(rng, DOMAIN_SYLLABLES, 3000)
            self.domain[language] = domain
            weights = zipf(len(domain), 0.6)  # the most common in 7% of the topics
            self.topics[language] = [
                list(dict.fromkeys(rng.choices(domain, cum_weights=weights, k=4))) for _ in range(topics)
            ]
        self.filler_weights = {language: zipf(len(words)) for language, words in self.filler.items()}

    def text(self, rng: random.Random, language: str, count: int, topic: list[str]) -> list[str]:
        words = rng.choices(self.filler[language], cum_weights=self.filler_weights[language], k=count)
        for at in rng.sample(range(count), max(1, count * 15 // 100)):
            words[at] = rng.choice(topic)
        return words


def articles(count: int, seed: int = 13):
    rng = random.Random(seed)
    corpus = Corpus()
    now = datetime.now(UTC)
    for n in range(count):
        language = "en" if n % 2 else "fr"
        topic = rng.choice(corpus.topics[language])
        yield {
            "slug": f"article-{n}",
            "title": " ".join(rng.sample(topic, min(len(topic), rng.randint(2, 3)))).capitalize(),
            "body": " ".join(corpus.text(rng, language, rng.randint(40, 120), topic)) + ".",
            "tags": [],
            "uses": rng.randint(0, 50),
            "updated_at": now,
            "status": "published" if rng.random() < 0.9 else "draft",
            "language": language,
        }


def load(db: Database, count: int) -> float:
    started = time.perf_counter()
    batch: list[dict] = []
    with db.session() as session:
        for row in articles(count):
            batch.append(row)
            if len(batch) == 5_000:
                session.execute(insert(KbArticle), batch)
                batch.clear()
        if batch:
            session.execute(insert(KbArticle), batch)
        reindex(session.connection())  # Core inserts: the mapper events did not see them (SQLite)
    return time.perf_counter() - started


def queries(seed: int = 5) -> list[str]:
    """60 queries of one to three support words, English and French, with and without accents."""
    rng = random.Random(seed)
    chosen = [
        "imprimantes",
        "reinitialiser mot de passe",
        "printer offline",
        "password reset",
        "réseaux lents",
    ]
    while len(chosen) < 60:
        language = rng.choice(sorted(WORDS))
        chosen.append(" ".join(rng.sample(WORDS[language], rng.randint(1, 3))))
    return chosen


def spread(samples_ms: list[float]) -> str:
    deciles = statistics.quantiles(samples_ms, n=10)
    median = statistics.median(samples_ms)
    return f"median {median:.1f} ms (p10 {deciles[0]:.1f}, p90 {deciles[-1]:.1f}, max {max(samples_ms):.1f})"


def bench_search(db: Database, rounds: int = 3) -> list[float]:
    times: list[float] = []
    found = 0
    for _ in range(rounds):
        for query in queries():
            with db.session() as session:
                started = time.perf_counter()
                hits = search(session, query)
                times.append((time.perf_counter() - started) * 1000)
                found += len(hits)
    print(f"  search: {spread(times)}; {len(times)} queries, {found / len(times):.1f} hits per query")
    return times


def requests_text(count: int, seed: int = 3) -> list[tuple[str, str]]:
    """(subject, text) of requests as users write them: about a topic, in ordinary words."""
    rng = random.Random(seed)
    corpus = Corpus()
    texts = []
    for n in range(count):
        language = "en" if n % 2 else "fr"
        topic = rng.choice(corpus.topics[language])
        subject = rng.sample(topic, min(2, len(topic))) + corpus.text(rng, language, 3, topic)
        texts.append((" ".join(subject), " ".join(corpus.text(rng, language, 60, topic))))
    return texts


def bench_suggestion_query(db: Database) -> None:
    """The suggestion lookup alone, as an acknowledgement makes it (any word, best 3, in its language)."""
    times = []
    for n, (subject, body) in enumerate(requests_text(120)):
        with db.session() as session:
            started = time.perf_counter()
            TicketStore(session).suggest_articles(f"{subject}\n{body}", 3, "en" if n % 2 else "fr")
            times.append((time.perf_counter() - started) * 1000)
    print(f"  suggestion lookup: {spread(times)}; {len(times)} requests")


def bench_cli(desk: Desk) -> None:
    started = time.perf_counter()
    desk.cli("kb", "search", "printer offline", "--format", "json")
    cli = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import maildesk.cli"], check=True, cwd=ROOT)
    baseline = time.perf_counter() - started
    print(
        f"  `maildesk kb search` process: {cli * 1000:.0f} ms "
        f"(importing maildesk.cli alone: {baseline * 1000:.0f} ms)"
    )


def process_ms(desk: Desk, requests: list[bytes]) -> float:
    """Mean ms per request for the desk to process ``requests`` (stored first, then timed)."""
    from maildesk.types import RawMessage

    app = App.from_config(desk.config)
    try:
        for data in requests:
            app.inbox.accept(
                RawMessage(
                    data=data,
                    mail_from="user@client.com",
                    rcpt_tos=("support@example.org",),
                    source="bench",
                    received_at=datetime.now(UTC),
                )
            )
        started = time.perf_counter()
        app.process_pending()
        return (time.perf_counter() - started) * 1000 / len(requests)
    finally:
        app.close()


def bench_suggest(url: str, work: Path, rounds: int, per_round: int) -> None:
    with_kb = Desk(work / "with", db_url=url)
    without = Desk(work / "without", db_url=url, kb="suggest = 0")
    texts = iter(requests_text(rounds * per_round * 2 + 1, seed=7))
    process_ms(with_kb, [make_message(subject="warm up")])  # schema, caches, templates
    figures: dict[str, list[float]] = {"with": [], "without": []}
    for n in range(rounds):
        for name, desk in (("with", with_kb), ("without", without))[:: 1 if n % 2 else -1]:
            requests = [
                make_message(subject=subject, body=body, sender=f"user{n}-{i}@client.com")
                for i, (subject, body) in zip(range(per_round), texts, strict=False)
            ]
            figures[name].append(process_ms(desk, requests))
    with_ms, without_ms = statistics.median(figures["with"]), statistics.median(figures["without"])
    print(
        f"  processing a request: {with_ms:.1f} ms with suggestions, {without_ms:.1f} ms without "
        f"(median of {rounds} rounds of {per_round}): "
        f"+{with_ms - without_ms:.1f} ms, ratio {with_ms / without_ms:.2f}"
    )


def run(name: str, url: str, options: argparse.Namespace, work: Path) -> None:
    print(f"{name}: loading {options.articles:,} articles ...", flush=True)
    desk = Desk(work / name, db_url=url)
    db = Database(url)
    try:
        db.ensure_schema()
        print(f"  loaded and indexed in {load(db, options.articles):.0f} s")
        bench_search(db)
        bench_suggestion_query(db)
    finally:
        db.dispose()
    bench_cli(desk)
    bench_suggest(url, work / f"{name}-suggest", options.rounds, options.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--requests", type=int, default=40, help="requests per round of the suggestion figure"
    )
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    options = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-kb-") as tmp:
        work = Path(tmp)
        if options.only != "postgres":
            run("sqlite", f"sqlite:///{work}/kb.db", options, work)
        if options.only != "sqlite":
            if not postgres_available():
                print("postgres: not reachable on 127.0.0.1:5432, skipped")
            else:
                with postgres_url() as url:
                    run("postgres", url, options, work)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
