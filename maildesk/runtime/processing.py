"""The processing process of ``maildesk run``: drains the inbox and delivers the outbox beside the listeners.

Why a process of its own: in one process the listeners, the processor and
the sender share one interpreter lock, and a busy processor delays every
SMTP reply (and the reverse). With ``[processing] workers`` above zero the
daemon runs the processor and the sender here, with their worker pool, and
keeps the listeners, IMAP pollers, timer sweep and reload checks itself.
The two share only the database and three signals: wake up, reload, stop.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import structlog

from maildesk.config import load_settings
from maildesk.runtime.app import App, Wakeup
from maildesk.runtime.backoff import Backoff
from maildesk.runtime.logs import configure_logging, logging_settings
from maildesk.runtime.pool import daemon_settings
from maildesk.runtime.workers import watch_owner

log = structlog.get_logger("maildesk.processing")


class WakeChannel:
    """Wake-ups from the daemon to its processing process that can never block the daemon.

    A ``multiprocessing.Event`` cannot do that: ``set()`` waits until every
    process sleeping in ``wait()`` has woken, so a processing process killed
    (OOM killer) or stopped while idle would freeze the daemon's event loop,
    listeners included, at the next stored message. A datagram on a socket
    pair is sent without waiting (a full buffer already holds a wake-up).
    """

    def __init__(self) -> None:
        self._daemon_end, self.child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._daemon_end.setblocking(False)

    def set(self) -> None:
        with contextlib.suppress(OSError):  # BlockingIOError: wake-ups are pending already
            self._daemon_end.send(b"w")


class _ChildWake:
    """The processing process's end of a WakeChannel, with the Event methods ``Wakeup`` uses."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._sock.setblocking(False)

    def set(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.send(b"w")

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(OSError):
            while self._sock.recv(64):  # every wake-up sent meanwhile is answered by this one
                pass
        return True

    def clear(self) -> None:
        pass  # wait() drains


class _StopFlag:
    """The daemon's "stop" in shared memory, read without a lock (see WakeChannel for why)."""

    def __init__(self, flag: Any, wake: _ChildWake) -> None:  # a multiprocessing RawValue("b")
        self._flag = flag
        self._wake = wake

    def is_set(self) -> bool:
        return bool(self._flag.value)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.is_set() and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
        return self.is_set()


class ProcessingProcess:
    """The daemon's handle on its processing process: start, wake, reload, restart if it died, stop."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._context = multiprocessing.get_context("forkserver")
        self._wake = WakeChannel()
        self._stop = self._context.RawValue("b", 0)
        self._reloads = self._context.RawValue("i", 0)  # a counter only the daemon writes: no lock needed
        self._ready = self._context.Event()  # the daemon waits, the child sets: a dead child blocks nothing
        self.process: multiprocessing.process.BaseProcess | None = None

    def start(self, timeout: float = 120) -> None:
        """Start it and wait until it has loaded config, rules and templates.

        The daemon does this before it listens, so both hold the same files
        before anything is accepted (an edit after that waits for a reload).
        """
        level, json_logs = logging_settings()
        self._ready.clear()
        self.process = process = self._context.Process(
            target=run_processing,
            name="maildesk-processing",
            daemon=False,
            args=(
                str(self.config_path),
                level,
                json_logs,
                os.getpid(),
                self._wake.child_end,
                self._stop,
                self._reloads,
                self._ready,
            ),
        )
        process.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if not process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the processing process did not start (exit code {process.exitcode})")

    def wake(self) -> None:
        self._wake.set()

    def reload(self) -> None:
        self._reloads.value += 1
        self._wake.set()

    def check(self) -> None:
        """Start it again if it died (the OOM killer, a bug): stored mail waits in the inbox meanwhile."""
        if self.process is not None and not self.process.is_alive() and not self._stop.value:
            log.error("processing_restarted", exitcode=self.process.exitcode)
            self.start()

    def stop(self, timeout: float = 30) -> None:
        """Let the batch in hand finish, then end the process."""
        self._stop.value = 1
        self._wake.set()
        if self.process is None:
            return
        self.process.join(timeout)
        if self.process.is_alive():
            log.warning("processing_killed", reason=f"still busy after {timeout:.0f}s")
            self.process.kill()  # it ignores SIGTERM (see run_processing); its batch rolls back and waits
            self.process.join(5)


def run_processing(
    config_path: str,
    log_level: str,
    json_logs: bool,
    owner: int,
    wake: socket.socket,
    stop: Any,
    reloads: Any,
    ready: Any,
) -> None:  # stop, reloads: multiprocessing RawValues; ready: a multiprocessing Event
    """The child's main: the processor loop here, the sender in a thread."""
    # The daemon decides when to reload and stop: a Ctrl-C to the terminal's process group, or SIGTERM
    # to the whole service, must not cut a batch short here.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    configure_logging(log_level, json=json_logs)
    watch_owner(owner)
    app = App.from_settings(daemon_settings(load_settings(config_path)))
    child_wake = _ChildWake(wake)
    stop_flag = _StopFlag(stop, child_wake)
    inbox, outbox = Wakeup(child_wake), Wakeup()
    sender = threading.Thread(
        target=deliver_outbox, args=(app, stop_flag, outbox), name="sender", daemon=True
    )
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
        drain_inbox(app, stop_flag, inbox, outbox, before_batch=reload_if_asked)
    finally:
        outbox.set()
        sender.join(30)
        app.close()


class Stop(Protocol):
    """What the loops ask of "stop": a threading.Event in the daemon, a shared flag in the child."""

    def is_set(self) -> bool: ...
    def wait(self, timeout: float) -> bool: ...


def drain_inbox(
    app: App,
    stop: Stop,
    inbox: Wakeup,
    outbox: Wakeup,
    before_batch: Callable[[], None] | None = None,
) -> None:
    """Process what is pending, batch after batch, until ``stop``: at start-up and whenever an intake stores."""
    backoff = Backoff("processing")
    while not stop.is_set():
        if before_batch is not None:
            before_batch()
        try:
            # Whatever is pending, up to a batch, in one transaction: one commit for a burst.
            outcomes = app.processor.process_batch(50)
        except Exception as exc:  # noqa: BLE001 - storage failing for a while, or a bug: the batch waits, stored
            stop.wait(backoff.failed(exc, app.db))
            continue
        backoff.succeeded()
        if outcomes:
            outbox.set()
            continue
        if inbox.wait(1):  # also picks up what pipe clients stored without a nudge
            outbox.set()  # a nudge may come from the timer sweep, which queues mail


def deliver_outbox(app: App, stop: Stop, outbox: Wakeup) -> None:
    """Send what is due until ``stop``; woken when mail is queued, else every two seconds for retries."""
    backoff = Backoff("outbox")
    while not stop.is_set():
        try:
            sent = app.send_due()
        except Exception as exc:  # noqa: BLE001 - a transport or database fault: try again shortly
            stop.wait(backoff.failed(exc, app.db))
            continue
        backoff.succeeded()
        if not sent:
            outbox.wait(2)


def _reload(app: App, config_path: str) -> None:
    """The daemon checked the new files before asking; a failure here keeps the old ones, as there."""
    try:
        app.reload(config_path)
    except Exception as exc:  # noqa: BLE001 - files changed again since the daemon checked them
        log.error("reload_refused", problems=[f"{type(exc).__name__}: {exc}"], where="processing")
