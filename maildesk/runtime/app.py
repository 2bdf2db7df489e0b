"""Build the parts of maildesk from settings: the composition shared by the daemon and the CLI."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from maildesk.config import Settings, load_settings
from maildesk.notify.render import Renderer
from maildesk.notify.sender import OutboxSender
from maildesk.pipeline import Pipeline
from maildesk.rules import RuleSet, load_ruleset
from maildesk.runtime.processor import Outcome, Processor
from maildesk.runtime.workers import WorkerPool
from maildesk.security.signing import SecretFileError, load_or_create_secret
from maildesk.storage import quarantine
from maildesk.storage.db import Database
from maildesk.storage.inbox import Inbox


def build_pipeline(settings: Settings, db: Database) -> Pipeline:
    """Load rules, templates and the secret; raises ConfigError (with FILE:LINE) on any fault.

    Everything is validated before anything is written: the article files are
    copied into the knowledge base only then, so a refused reload changes nothing.
    """
    from maildesk.kb.articles import article_file_slugs, known_articles, sync_articles

    # an `answer` may name an article already stored or one about to be synced from the files
    ruleset: RuleSet = load_ruleset(
        list(settings.rule_files),
        levels={lvl.id for lvl in settings.levels},
        articles=known_articles(db) | article_file_slugs(settings.kb.dir),
        members=settings.technicians,
        own_addresses=settings.desk_addresses,
        teams=settings.team_index,
        applications=[app.name for app in settings.applications],
    )
    for warning in ruleset.warnings:
        structlog.get_logger("maildesk").warning("rule_warning_found", warning=warning)
    renderer = Renderer(settings.templates_dir, default_language=settings.desk.language)
    secret = _secret(settings)
    if settings.kb.dir is not None and settings.kb.dir.is_dir():
        sync_articles(db, settings.kb.dir)
    return Pipeline(settings=settings, ruleset=ruleset, renderer=renderer, secret=secret)


def _secret(settings: Settings) -> bytes:
    """The signing secret; a file that cannot be the secret is a config error naming the key."""
    from maildesk.config import ConfigError, key_line

    try:
        return load_or_create_secret(settings.security.secret_file)
    except SecretFileError as exc:
        line = key_line(settings.path, ("security", "secret_file"))
        raise ConfigError([f"{settings.path}:{line}: security.secret_file: {exc}"]) from None
    except OSError as exc:  # the directory cannot be made or written: the file cannot be created
        line = key_line(settings.path, ("security", "secret_file"))
        why = f"cannot create {exc.filename}: {exc.strerror}"
        raise ConfigError([f"{settings.path}:{line}: security.secret_file: {why}"]) from None


@dataclass
class App:
    """The database, inbox, pipeline in force, processor and outbox sender."""

    settings: Settings
    db: Database
    inbox: Inbox
    pipeline: Pipeline
    sender: OutboxSender
    processor: Processor = field(init=False)
    workers: WorkerPool | None = field(init=False)

    def __post_init__(self) -> None:
        # A change of [processing] workers takes a restart, like the listeners.
        self.workers = WorkerPool(self.settings.workers) if self.settings.workers > 0 else None
        self._outgoing, self._base_dir = self.settings.outgoing, self.settings.base_dir
        self._sending: Future | None = None
        # The processor asks for the pipeline in force at each batch, so a reload reaches it.
        self.processor = Processor(self.db, lambda: self.pipeline, self.workers)

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_upgrade: bool = False) -> App:
        from maildesk.notify.transport import make_transport

        db = Database(settings.database_url)
        db.ensure_schema(allow_upgrade=allow_upgrade, carry_over=settings.carry_over())
        pipeline = build_pipeline(settings, db)
        return cls(
            settings=settings,
            db=db,
            inbox=Inbox(db),
            pipeline=pipeline,
            sender=OutboxSender(
                db,
                make_transport(settings.outgoing, settings.base_dir),
                settings.outgoing.retry,
                pipeline.secret,
            ),
        )

    @classmethod
    def from_config(cls, path: Path | str) -> App:
        return cls.from_settings(load_settings(path))

    def reload(self, path: Path | str | None = None) -> None:
        """Load config, rules and templates anew and swap them in at once; raises and keeps the old on error.

        Settings that need a restart (database, listeners) keep their running values.
        """
        settings = load_settings(path or self.settings.path)
        pipeline = build_pipeline(settings, self.db)
        self.settings, self.pipeline = settings, pipeline  # in-flight messages keep the Pipeline they took

    def send_due(self) -> int:
        """Deliver what is due now: in a worker process once a burst has started the pool, else here."""
        if self.workers is None or not self.workers.started:
            return self.sender.send_due()
        # The settings the app started with: like the listeners, the transport changes with a restart.
        return self.workers.send_due(self.db.url, self._outgoing, self._base_dir, self.sender.secret).result()

    def send_in_background(self) -> None:
        """Backlog imports: start delivering what is queued while the next batch is processed."""
        if self.workers is None:
            while self.sender.send_due():
                pass
            return
        if self._sending is not None and not self._sending.done():
            return  # the running call will pick up this batch's mail too, or the final one will
        self._finish_background_send()
        self._sending = self.workers.send_due(self.db.url, self._outgoing, self._base_dir, self.sender.secret)

    def finish_sending(self) -> None:
        """Wait for background delivery, then deliver whatever is still due."""
        self._finish_background_send()
        while self.send_due():
            pass

    def _finish_background_send(self) -> None:
        sending, self._sending = self._sending, None
        if sending is not None:
            sending.result()

    def process_pending(self) -> int:
        return len(self.processor.process_pending())

    def process(self, only_ids: list[int]) -> list[Outcome]:
        return self.processor.process_pending(only_ids=only_ids)

    def retry_quarantined(self, entry_id: int | None) -> list[tuple[int, Outcome]] | None:
        """Put a quarantined message (None: every one not yet retried) back in the inbox and process it now.

        Returns (entry id, outcome) pairs; None when the entry was retried
        before; raises LookupError when there is no such entry.
        """
        requeued = quarantine.requeue(self.db, entry_id)
        if requeued.already_retried:
            return None
        outcomes = self.process(list(requeued.entry_of))
        self.sender.send_due()
        return [(requeued.entry_of[outcome.inbox_id], outcome) for outcome in outcomes]

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
        close = getattr(self.sender.transport, "close", None)
        if close:
            close()
        self.db.dispose()


class Wakeup:
    """A level-triggered wake-up shared by the intakes and the worker threads.

    ``event`` may be a ``multiprocessing`` Event, to wake a thread of another process.
    """

    def __init__(self, event: Any = None) -> None:  # threading.Event or a multiprocessing Event
        self._event = event if event is not None else threading.Event()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        fired = self._event.wait(timeout)
        self._event.clear()
        return fired
