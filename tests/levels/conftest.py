"""Fixtures for the level tests: the desk run in-process over its real pipeline."""

from __future__ import annotations

import pytest

from tests.levels.helpers import Local


@pytest.fixture
def local(desk):
    """The ``desk`` fixture's installation driven in-process (no daemon), mail queued in its outbox."""
    app = Local(desk)
    yield app
    app.close()
