"""structlog set-up: JSON lines when stderr is not a terminal (journald, files), readable text when it is."""

from __future__ import annotations

import logging
import sys

import structlog

_settings = ("info", False)


def logging_settings() -> tuple[str, bool]:
    """(level, JSON?) as last configured, for worker processes to log the same way."""
    return _settings


def configure_logging(level: str = "info", *, json: bool | None = None) -> None:
    global _settings
    if json is None:
        json = not sys.stderr.isatty()
    _settings = (level, json)
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries that use the stdlib logger (aiosmtpd, apscheduler) go to stderr at WARNING.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
