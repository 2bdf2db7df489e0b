"""Worker processes for the CPU-bound stages: parsing stored mail, rendering the mail it causes, sending it.

One Python process uses one core, and most of a message's cost is pure
computation (the MIME parser, Jinja2, the MIME generator) that needs no
database. The processor hands that work to this pool and keeps only the
ticket changes for itself, so a burst uses every core and the database
write lock is held for the short part only. Workers hold no state but
compiled templates; anything that fails in a worker is redone in the
calling process, where failures have their usual consequences.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from maildesk.config import OutgoingSettings
from maildesk.message.parse import parse_message
from maildesk.notify.mailjob import DeskIdentity, MailJob, render_mails
from maildesk.notify.render import Renderer
from maildesk.notify.sender import OutboxSender
from maildesk.notify.transport import make_transport
from maildesk.runtime.logs import configure_logging, logging_settings
from maildesk.storage.db import Database
from maildesk.types import ParsedMessage


@dataclass(frozen=True)
class TemplateSet:
    """Which templates a worker must render with: a reload makes a new generation."""

    templates_dir: str
    languages: tuple[str, ...]
    default_language: str
    generation: int

    @classmethod
    def of(cls, renderer: Renderer) -> TemplateSet:
        return cls(
            str(renderer.templates_dir), renderer.languages, renderer.default_language, renderer.generation
        )


log = structlog.get_logger("maildesk.workers")
_renderers: dict[TemplateSet, Renderer] = {}  # in a worker: the templates of the generations it has seen
_senders: dict[tuple, OutboxSender] = {}  # in a worker: the outbox sender, with its open relay connection


def _init_worker(log_level: str, json_logs: bool, owner: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the daemon, which shuts the pool down
    configure_logging(log_level, json=json_logs)
    watch_owner(owner)


def watch_owner(owner: int) -> None:
    """In a helper process: leave when the process that owns it is gone.

    A worker waits on its task queue forever, and the forkserver waits for its
    workers: a daemon killed with SIGKILL would otherwise leave them behind.
    """
    threading.Thread(target=_exit_with_owner, args=(owner,), name="owner-watch", daemon=True).start()


def _exit_with_owner(owner: int) -> None:
    while True:
        time.sleep(1)
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass  # the pid exists (a process of another user took it only if ours is gone; rare enough)


def _parse_chunk(raws: Sequence[bytes]) -> list[ParsedMessage]:
    return [parse_message(raw) for raw in raws]


def _render_chunk(
    templates: TemplateSet, desk: DeskIdentity, jobs: Sequence[MailJob]
) -> list[tuple[str, bytes]]:
    renderer = _renderers.get(templates)
    if renderer is None:
        _renderers.clear()  # an older generation is never asked for again
        renderer = _renderers[templates] = Renderer(
            templates.templates_dir, templates.languages, default_language=templates.default_language
        )
    return render_mails(renderer, desk, jobs)


def _send_due(database_url: str, outgoing: OutgoingSettings, base_dir: Path, secret: bytes) -> int:
    """Deliver every mail due now; the sender (and its SMTP connection) stays for the next call."""
    key = (database_url, outgoing, base_dir, secret)
    sender = _senders.get(key)
    if sender is None:
        for old in _senders.values():
            old.transport.close()
            old.db.dispose()
        _senders.clear()
        sender = _senders[key] = OutboxSender(
            Database(database_url), make_transport(outgoing, base_dir), outgoing.retry, secret
        )
    handled = 0
    try:
        while sent := sender.send_due():
            handled += sent
    except Exception as exc:  # re-raised below, once this worker's connections are dropped
        # This worker's connections may be spoilt (opened while the files were read-only): drop them
        # here, where they live; the processing process backs off and asks again.
        sender.db.recover(exc)
        raise
    return handled


class WorkerPool:
    """A process pool started on first use (a quiet desk or a one-message pipe delivery never starts it)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._executor is not None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # forkserver, not fork: the daemon has threads (listeners, sender, scheduler) whose
            # locks a forked child would inherit in whatever state they were.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["maildesk.runtime.workers"])
            level, json_logs = logging_settings()
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(level, json_logs, os.getpid()),
            )
        return self._executor

    def start(self) -> None:
        """Start every worker now rather than on first use (a backlog import knows it will need them)."""
        pool = self._pool()
        for _ in range(self.workers):
            pool.submit(int)  # the pool starts its processes as work arrives

    def _submit(self, function: Callable[..., Any], *args: Any) -> Future:
        """Submit to the pool; a pool broken by a dead worker (OOM killer, kill -9) is replaced once."""
        try:
            return self._pool().submit(function, *args)
        except BrokenProcessPool:
            log.warning("worker_pool_restarted", reason="a worker process died")
            self._executor = None
            return self._pool().submit(function, *args)

    def parse(self, raws: Sequence[bytes], chunk: int = 4) -> list[Future]:
        """One future per chunk of ``chunk`` messages, in order; each gives a list of ParsedMessage."""
        return [self._submit(_parse_chunk, list(raws[i : i + chunk])) for i in range(0, len(raws), chunk)]

    def render(self, renderer: Renderer, desk: DeskIdentity, jobs: Sequence[MailJob]) -> Future:
        return self._submit(_render_chunk, TemplateSet.of(renderer), desk, list(jobs))

    def send_due(
        self, database_url: str, outgoing: OutgoingSettings, base_dir: Path, secret: bytes
    ) -> Future:
        """Deliver the due outbox rows in a worker: sending costs CPU too (MIME to the relay, files).

        ``secret`` signs each mail's bounce address (its envelope sender).
        """
        return self._submit(_send_due, database_url, outgoing, base_dir, secret)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
