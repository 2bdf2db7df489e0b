"""Fixtures for the team tests: a desk with teams, driven in-process over its real pipeline."""

from __future__ import annotations

import pytest

from tests.levels.helpers import Local
from tests.teams.desks import team_desk


@pytest.fixture
def teams_desk(tmp_path, sink):
    return team_desk(tmp_path / "desk", sink=sink)


@pytest.fixture
def local(teams_desk):
    app = Local(teams_desk)
    yield app
    app.close()
