"""The processing process of ``maildesk run``: drains the inbox and delivers the outbox beside the listeners.

Why a process of its own: in one process the listeners, the processor and
the sender share one interpreter lock, and a busy processor delays every
SMTP reply (and the reverse). With ``[processing] workers`` above zero the
daemon runs the processor and the sender here, with their worker pool, and
keeps the listeners, IMAP pollers, timer sweep and reload checks itself.
The two share only the database and three signals: wake up, reload, stop.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import structlog

from maildesk.config import load_settings
from maildesk.runtime.app import App, Wakeup
from maildesk.runtime.logs import configure_logging, logging_settings
from maildesk.runtime.workers import watch_owner

log = structlog.get_logger("maildesk.processing")


class ProcessingProcess:
    """The daemon's handle on its processing process: start, wake, reload, restart if it died, stop."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._context = multiprocessing.get_context("forkserver")
        self._wake = self._context.Event()
        self._stop = self._context.Event()
        self._reloads = self._context.Value("i", 0)  # a counter: the child reloads when it changes
        self._ready = self._context.Event()
        self.process = None

    def start(self, timeout: float = 120) -> None:
        """Start it and wait until it has loaded config, rules and templates.

        The daemon does this before it listens, so both hold the same files
        before anything is accepted (an edit after that waits for a reload).
        """
        level, json_logs = logging_settings()
        self._ready.clear()
        self.process = self._context.Process(
            target=run_processing,
            name="maildesk-processing",
            daemon=False,
            args=(
                str(self.config_path),
                level,
                json_logs,
                os.getpid(),
                self._wake,
                self._stop,
                self._reloads,
                self._ready,
            ),
        )
        self.process.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if not self.process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the processing process did not start (exit code {self.process.exitcode})"
                )

    def wake(self) -> None:
        self._wake.set()

    def reload(self) -> None:
        with self._reloads.get_lock():
            self._reloads.value += 1
        self._wake.set()

    def check(self) -> None:
        """Start it again if it died (the OOM killer, a bug): stored mail waits in the inbox meanwhile."""
        if self.process is not None and not self.process.is_alive() and not self._stop.is_set():
            log.error("processing_restarted", exitcode=self.process.exitcode)
            self.start()

    def stop(self, timeout: float = 30) -> None:
        """Let the batch in hand finish, then end the process."""
        self._stop.set()
        self._wake.set()
        if self.process is None:
            return
        self.process.join(timeout)
        if self.process.is_alive():
            log.warning("processing_killed", reason=f"still busy after {timeout:.0f}s")
            self.process.kill()  # it ignores SIGTERM (see run_processing); its batch rolls back and waits
            self.process.join(5)


def run_processing(
    config_path: str, log_level: str, json_logs: bool, owner: int, wake, stop, reloads, ready
) -> None:
    """The child's main: the processor loop here, the sender in a thread."""
    # The daemon decides when to reload and stop: a Ctrl-C to the terminal's process group, or SIGTERM
    # to the whole service, must not cut a batch short here.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    configure_logging(log_level, json=json_logs)
    watch_owner(owner)
    app = App.from_settings(load_settings(config_path))
    inbox, outbox = Wakeup(wake), Wakeup()
    sender = threading.Thread(target=deliver_outbox, args=(app, stop, outbox), name="sender", daemon=True)
    sender.start()
    seen_reloads = reloads.value
    log.info("processing_started", pid=os.getpid())
    ready.set()

    def reload_if_asked() -> None:
        nonlocal seen_reloads
        if reloads.value != seen_reloads:
            seen_reloads = reloads.value
            _reload(app, config_path)

    try:
        drain_inbox(app, stop, inbox, outbox, before_batch=reload_if_asked)
    finally:
        outbox.set()
        sender.join(30)
        app.close()


def drain_inbox(app, stop, inbox: Wakeup, outbox: Wakeup, before_batch=None) -> None:  # noqa: ANN001
    """Process what is pending, batch after batch, until ``stop``: at start-up and whenever an intake stores."""
    while not stop.is_set():
        if before_batch is not None:
            before_batch()
        try:
            # Whatever is pending, up to a batch, in one transaction: one commit for a burst.
            outcomes = app.processor.process_batch(50)
        except Exception as exc:  # noqa: BLE001 - the database may be briefly unavailable
            log.error("processing_failed", error=f"{type(exc).__name__}: {exc}")
            stop.wait(2)
            continue
        if outcomes:
            outbox.set()
            continue
        if inbox.wait(1):  # also picks up what pipe clients stored without a nudge
            outbox.set()  # a nudge may come from the timer sweep, which queues mail


def deliver_outbox(app, stop, outbox: Wakeup) -> None:  # noqa: ANN001
    """Send what is due until ``stop``; woken when mail is queued, else every two seconds for retries."""
    while not stop.is_set():
        try:
            sent = app.send_due()
        except Exception as exc:  # noqa: BLE001 - a transport or database fault: try again shortly
            log.error("outbox_failed", error=f"{type(exc).__name__}: {exc}")
            stop.wait(2)
            continue
        if not sent:
            outbox.wait(2)


def _reload(app, config_path: str) -> None:  # noqa: ANN001 - an App
    """The daemon checked the new files before asking; a failure here keeps the old ones, as there."""
    try:
        app.reload(config_path)
    except Exception as exc:  # noqa: BLE001 - files changed again since the daemon checked them
        log.error("reload_refused", problems=[f"{type(exc).__name__}: {exc}"], where="processing")
