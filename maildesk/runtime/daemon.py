"""The composition root of ``maildesk run``: listeners, pollers, workers and scheduler.

Built up in order and torn down in reverse. Signal handlers only set
events; the main loop decides what to do with them.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import socket
import threading
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from maildesk.config import ConfigError, Settings
from maildesk.ingest.smtp import IntakeHandler, start_listener
from maildesk.runtime.app import App, Wakeup
from maildesk.runtime.backoff import Backoff
from maildesk.runtime.processing import ProcessingProcess, deliver_outbox, drain_inbox
from maildesk.runtime.sdnotify import notify
from maildesk.runtime.sweep import sweep

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

log = structlog.get_logger("maildesk.daemon")


class Daemon:
    def __init__(self, app: App, *, watch: bool = False) -> None:
        self.app = app
        self.watch = watch
        self.stop = threading.Event()
        self.inbox_wakeup = Wakeup()
        self.outbox_wakeup = Wakeup()
        self._reload_requested = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._threads: list[threading.Thread] = []
        self.handlers: list[IntakeHandler] = []
        self._scheduler: BackgroundScheduler | None = None
        self._scheduled_every: timedelta | None = None
        self._scheduled_report = ""  # the [reports] schedule the report job follows ("" when none)
        self.ports: list[int] = []
        self._processing: ProcessingProcess | None = None  # the processing process, when runtime.pool says so
        self._sweep_backoff = Backoff("timer_sweep")  # its schedule is the wait; this logs and reconnects

    def _stored(self) -> None:
        """An intake stored a message (or a pipe client nudged us): wake whoever processes."""
        self.inbox_wakeup.set()
        if self._processing is not None:
            self._processing.wake()

    @property
    def settings(self) -> Settings:
        return self.app.settings

    # -- background work ---------------------------------------------------------

    def _sweep_timers(self) -> None:
        """The APScheduler job: escalate what is due (timers are data, so a missed run loses nothing)."""
        try:
            if sweep(self.app.db, self.app.pipeline, datetime.now(UTC)):
                self.outbox_wakeup.set()
                if self._processing is not None:
                    self._processing.wake()
        except Exception as exc:  # noqa: BLE001 - the next run tries again (timers are data: nothing is lost)
            self._sweep_backoff.failed(exc, self.app.db)
        else:
            self._sweep_backoff.succeeded()

    def _mail_report(self, catching_up: bool = False) -> None:
        """The APScheduler job of ``[reports] schedule`` (and, at start-up, a run missed while stopped)."""
        from maildesk.reports.schedule import run_schedule

        try:
            if run_schedule(
                self.app.db,
                self.settings,
                self.app.pipeline.renderer,
                datetime.now(UTC),
                catching_up=catching_up,
            ):
                self.outbox_wakeup.set()
                if self._processing is not None:
                    self._processing.wake()
        except Exception as exc:  # noqa: BLE001 - the period stays unclaimed: the next run or start sends it
            log.error("report_failed", error=f"{type(exc).__name__}: {exc}")

    def _schedule_report(self, scheduler: BackgroundScheduler) -> None:
        """Follow ``[reports] schedule``: add, move or drop the report job."""
        from maildesk.reports.schedule import parse_schedule

        schedule = self.settings.reports.schedule if self.settings.reports.recipients else ""
        if schedule == self._scheduled_report:
            return
        if self._scheduled_report:
            scheduler.remove_job("report")
        if schedule:
            scheduler.add_job(
                self._mail_report,
                parse_schedule(schedule, self.settings.desk.timezone),
                id="report",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=3600,
            )
        self._scheduled_report = schedule

    def _start_processing(self) -> None:
        """The processor and sender: in a process of their own (see ``runtime.pool``), else threads here."""
        from maildesk.runtime.pool import separate_processing

        if separate_processing(self.settings):
            self._processing = processing = ProcessingProcess(self.settings.path.resolve())
            processing.start()
        else:
            self._start_thread(
                "processor", lambda: drain_inbox(self.app, self.stop, self.inbox_wakeup, self.outbox_wakeup)
            )
            self._start_thread("sender", lambda: deliver_outbox(self.app, self.stop, self.outbox_wakeup))

    def _start_thread(self, name: str, target: Callable[[], object]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _listen_for_pipe_clients(self, stack: AsyncExitStack) -> None:
        """On SQLite, let ``maildesk ingest`` see this daemon (lock) and nudge it (datagram)."""
        from maildesk.ingest.handoff import WakeListener, hold_daemon_lock, sqlite_file

        database = sqlite_file(self.app.db.url)
        if database is None:
            return
        stack.callback(hold_daemon_lock(database).close)
        listener = WakeListener(database, self._stored)
        if listener.start():
            stack.callback(listener.close)

    def _start_imap(self) -> None:
        if not self.settings.imap:
            return
        from maildesk.ingest.imap import ImapPoller

        for account in self.settings.imap:
            poller = ImapPoller(account, self.app.inbox, self.app.db, on_stored=self._stored)
            self._start_thread(f"imap-{account.name}", functools.partial(poller.run, self.stop))

    def _start_scheduler(self) -> BackgroundScheduler:
        """APScheduler runs the timer sweep every ``[timers] check_every`` and the scheduled report."""
        from apscheduler.schedulers.background import BackgroundScheduler  # deferred at run time

        scheduler = BackgroundScheduler(timezone=self.settings.desk.timezone)
        scheduler.add_job(
            self._sweep_timers,
            "interval",
            id="timers",
            coalesce=True,
            max_instances=1,
            seconds=self.settings.timers_check_every.total_seconds(),
        )
        self._schedule_report(scheduler)
        if self._scheduled_report:
            scheduler.add_job(self._mail_report, id="report-catch-up", kwargs={"catching_up": True})
        scheduler.start()
        self._scheduled_every = self.settings.timers_check_every
        return scheduler

    def _reschedule(self) -> None:
        """After a reload, follow a changed ``check_every`` and ``[reports] schedule``."""
        if self._scheduler is not None:
            self._schedule_report(self._scheduler)
        if self._scheduler is not None and self.settings.timers_check_every != self._scheduled_every:
            self._scheduler.reschedule_job(
                "timers", trigger="interval", seconds=self.settings.timers_check_every.total_seconds()
            )
            self._scheduled_every = self.settings.timers_check_every

    # -- reload ---------------------------------------------------------------

    def reload(self) -> bool:
        notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            self.app.reload()
        except ConfigError as exc:
            log.error("reload_refused", problems=exc.problems)
            return False
        except Exception as exc:  # noqa: BLE001 - a reload must never take the daemon down
            log.error("reload_refused", problems=[f"{type(exc).__name__}: {exc}"])
            return False
        finally:
            notify("READY=1")
        self._reschedule()
        if self._processing is not None:
            self._processing.reload()  # it loads the same files, which passed the checks just now
        log.info("config_reloaded", rules=len(self.app.pipeline.ruleset.rules))
        return True

    def _watched_files(self) -> dict[Path, tuple[float, int]]:
        """Modification time and size of every config, rule, template and article file."""
        paths = [self.settings.path, *self.settings.rule_files]
        files: list[Path] = []
        for path in paths:
            files.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
        files.extend(self.settings.templates_dir.rglob("*.j2"))
        if self.settings.kb.dir is not None:
            files.extend(self.settings.kb.dir.glob("*.md"))
        found = {}
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue
            found[file] = (stat.st_mtime, stat.st_size)
        return found

    async def _watch_files(self, seen: dict[Path, tuple[float, int]]) -> None:
        """``run --watch``: reload when a watched file changes (polling; ``seen`` is the state at start-up)."""
        while not self._stop_requested.is_set():
            await asyncio.sleep(1)
            current = self._watched_files()
            if current != seen:
                seen = current
                log.info("config_changed")
                self._reload_requested.set()

    # -- main -------------------------------------------------------------------

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop_requested.set)
        loop.add_signal_handler(signal.SIGINT, self._stop_requested.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload_requested.set)
        hostname = socket.getfqdn()
        # Taken before accepting anything, so that an edit made as soon as we listen is seen as a change.
        watched = self._watched_files() if self.watch else {}
        async with AsyncExitStack() as stack:
            stack.callback(self._join_threads)
            self._start_processing()  # before listening: it must hold the files this process checked
            servers = []
            for intake in self.settings.smtp:
                domains = intake.domains or tuple(self.settings.desk_domains)
                handler = IntakeHandler(
                    self.app.inbox, domains=domains, protocol=intake.protocol, on_stored=self._stored
                )
                server = await start_listener(intake, handler, hostname=hostname)
                self.handlers.append(handler)
                self.ports.append(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]  # a Server
                servers.append(server)
            self._listen_for_pipe_clients(stack)
            self._start_imap()
            self._scheduler = scheduler = self._start_scheduler()
            stack.callback(scheduler.shutdown, wait=True)
            watcher = asyncio.create_task(self._watch_files(watched)) if self.watch else None
            log.info(
                "daemon_started",
                ports=self.ports,
                database=self.app.db.safe_url,
                imap=[a.name for a in self.settings.imap],
                transport=self.settings.outgoing.transport,
            )
            notify("READY=1\nSTATUS=accepting mail")
            while not self._stop_requested.is_set():
                reload_wait = asyncio.create_task(self._reload_requested.wait())
                stop_wait = asyncio.create_task(self._stop_requested.wait())
                await asyncio.wait({reload_wait, stop_wait}, return_when=asyncio.FIRST_COMPLETED, timeout=1)
                reload_wait.cancel()
                stop_wait.cancel()
                if self._processing is not None:
                    self._processing.check()
                if self._reload_requested.is_set() and not self._stop_requested.is_set():
                    self._reload_requested.clear()
                    await loop.run_in_executor(None, self.reload)
            notify("STOPPING=1")
            log.info("daemon_stopping")
            if watcher:
                watcher.cancel()
            for server in servers:
                server.close()  # stop accepting connections; open transactions finish and are stored first
            for handler in self.handlers:
                handler.stopping = True  # no new transaction: a new RCPT gets 421, the client retries later
            deadline = loop.time() + 30
            while any(h.in_flight or h.in_transaction() for h in self.handlers) and loop.time() < deadline:
                await asyncio.sleep(0.05)
            for handler in self.handlers:
                handler.close_sessions()
        log.info("daemon_stopped")
        return 0

    def _join_threads(self) -> None:
        if self._processing is not None:
            self._processing.stop()
        self.stop.set()
        self.inbox_wakeup.set()
        self.outbox_wakeup.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.app.close()


def run_daemon(app: App, *, watch: bool = False) -> int:
    return asyncio.run(Daemon(app, watch=watch).serve())
