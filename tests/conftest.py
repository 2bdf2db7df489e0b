"""Shared fixtures: desk configs in temp dirs, a real SMTP sink, the daemon as a subprocess, PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support import (  # fixtures are re-exported for pytest
    Desk,
    SmtpSink,
    postgres_url,
)


@pytest.fixture
def sink():
    """A real aiosmtpd server on a free port that keeps every message it is sent."""
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_sink():
    """One sink for a module whose tests share one daemon."""
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """The same test on SQLite and on a fresh PostgreSQL database (skipped when PostgreSQL is unreachable)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/maildesk.db"
        return
    with postgres_url() as url:
        yield url


@pytest.fixture
def desk(tmp_path, sink):
    """A desk directory with the shipped templates, rules and articles, sending to the sink over SMTP."""
    return Desk(tmp_path / "desk", sink=sink)
