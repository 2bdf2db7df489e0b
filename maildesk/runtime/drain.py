"""The drainer: processes what pipe clients stored when no daemon runs, then leaves.

``maildesk ingest`` under an MTA stores the message and exits; the ticket,
its events and its mail are made here, in a background process started on
demand (see ``maildesk.ingest.drain_lock``) that holds the drain lock while
it works. It waits a little for more mail (a burst pays for one start-up),
then lets the lock go and looks at the inbox a last time before it leaves.
What it cannot do (a database failing, a config broken since) stays pending
for the next drainer or the daemon: nothing stored is lost.

    python -m maildesk.runtime.drain --config PATH [--lock-fd N] [--log-level LEVEL]
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maildesk.config import Settings
    from maildesk.runtime.app import App

LINGER = 2.0  # seconds of an empty inbox before the drainer leaves
POLL = 0.1  # seconds between looks at the inbox meanwhile
MAX_EMPTY_RETURNS = 3  # the lock taken again for rows it could not process: give up (they wait)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="maildesk-drain")
    parser.add_argument("--config", required=True)
    parser.add_argument("--lock-fd", type=int)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    from maildesk.config import ConfigError, load_settings
    from maildesk.ingest.drain_lock import drain_lock
    from maildesk.runtime.logs import configure_logging

    configure_logging(args.log_level)
    try:
        settings = load_settings(args.config)
    except ConfigError:
        return 78  # the message stays pending; `maildesk rules check` says what is wrong
    lock = drain_lock(settings.database_url, args.lock_fd)
    try:
        if not lock.held and not lock.try_acquire():
            return 0  # another drainer runs
        return _run(settings, lock)
    finally:
        lock.close()


def _run(settings: Settings, lock: Any) -> int:
    import structlog

    from maildesk.runtime.app import App

    log = structlog.get_logger("maildesk.drain")
    app = App.from_settings(settings)
    try:
        drain(app, lock)
    except Exception as exc:  # noqa: BLE001 - the database failing, or a bug: what is pending stays pending
        log.error("drain_failed", error=f"{type(exc).__name__}: {exc}")
        return 75
    finally:
        app.close()
    return 0


def drain(app: App, lock: Any, linger: float = LINGER) -> None:
    """Process and send until the inbox stays empty for ``linger`` seconds, then leave under the protocol."""
    from maildesk.storage.inbox import pending_ids

    idle_since = time.monotonic()
    returns = 0
    while True:
        if app.process_pending():
            _send(app)
            idle_since, returns = time.monotonic(), 0
            continue
        if time.monotonic() - idle_since < linger:
            time.sleep(POLL)
            continue
        lock.release()
        # A client that stored while the lock was held started nobody: its message is seen here.
        if returns >= MAX_EMPTY_RETURNS or not pending_ids(app.db, 1, 1) or not lock.try_acquire():
            _send(app)
            return
        idle_since, returns = time.monotonic(), returns + 1


def _send(app: App) -> None:
    """Deliver what is due; mail a transport refuses stays queued for a later drainer or the daemon."""
    try:
        app.finish_sending()
    except Exception as exc:  # noqa: BLE001 - the relay down: retried on its schedule
        import structlog

        structlog.get_logger("maildesk.drain").warning("outbox_send_deferred", error=str(exc))


if __name__ == "__main__":
    raise SystemExit(main())
