"""Every mistake in teams, calendars, applications and organisations is a FILE:LINE: key error,
in ``maildesk rules check`` and on reload (the old config stays in force)."""

from __future__ import annotations

import pytest

from maildesk.config import ConfigError
from maildesk.runtime.app import App
from tests.support import run_cli
from tests.teams.desks import CATALOGUE, TEAM_LEVELS, team_desk

# (what to replace in the good config, with what, the key path in the error, and words of the message)
MISTAKES = [
    ('name = "technical"', 'name = "functional"', "levels[1].teams[1].name", "is already defined at"),
    (
        'handles = { category = ["functional", "regulatory"] }',
        'handles = { categorie = ["functional"] }',
        "levels[1].teams[0].handles.categorie",
        "unknown key",
    ),
    (
        'handles = { category = ["functional", "regulatory"] }',
        'handles = { category = ["functionnal"] }',
        "levels[1].teams[0].handles.category",
        "'functionnal' is not one of",
    ),
    (
        'handles = { application = ["ERP"] }',
        'handles = { application = ["SAGE"] }',
        "levels[2].teams[0].handles.application",
        "'SAGE' is not one of: ERP, Messagerie",
    ),
    (
        'mon = ["08:30-12:30", "13:30-18:00"]',
        'mon = ["08:30-12:30", "12:00-18:00"]',
        "calendars.office.mon[1]",
        "overlaps 08:30-12:30",
    ),
    (
        'mon = ["08:30-12:30", "13:30-18:00"]',
        'monday = ["08:30-12:30", "13:30-18:00"]',
        "calendars.office.monday",
        "unknown day name",
    ),
    ('calendar = "office"', 'calendar = "bureau"', "levels[0].calendar", "'bureau' is not a calendar"),
    ('country = "FR"', 'country = "FX"', "calendars.office.country", "not a country"),
    ('team = "functional"', 'team = "functionnal"', "applications[0].team", "'functionnal' is not a team"),
    ('domains = ["client.com", "client.fr"]', 'domains = ["client.com", "client.fr"]\n\n'
     '[[organisations]]\nname = "Other"\ndomains = ["client.fr"]', "organisations[1].domains",
     "client.fr is already in organisation 'Client SA'"),
]  # fmt: skip


def _line_of(text: str, needle: str) -> int:
    """The last line that holds ``needle``."""
    return [number for number, line in enumerate(text.splitlines(), 1) if needle in line][-1]


@pytest.fixture
def desk(tmp_path):
    return team_desk(tmp_path / "desk")


def test_the_good_config_passes_rules_check(desk):
    code, _out, err = run_cli(desk.config, "rules", "check")
    assert code == 0, err


@pytest.mark.parametrize(("old", "new", "key", "words"), MISTAKES, ids=[m[2] for m in MISTAKES])
def test_each_mistake_is_reported_by_rules_check_and_refused_on_reload(desk, old, new, key, words):
    good = desk.config.read_text()
    assert old in good
    app = App.from_config(desk.config)
    try:
        bad = good.replace(old, new, 1)
        desk.config.write_text(bad)
        code, _out, err = run_cli(desk.config, "rules", "check")
        assert code == 78
        line = _line_of(bad, new.splitlines()[-1])
        expected = f"{desk.config}:{line}: {key}: "
        assert any(row.startswith(expected) and words in row for row in err.splitlines()), err
        with pytest.raises(ConfigError) as refused:
            app.reload()
        assert any(problem.startswith(expected) for problem in refused.value.problems)
        assert app.settings.team("functional") is not None  # the old config stays in force
    finally:
        app.close()


@pytest.mark.parametrize("where", ["desk", "urgency"])
def test_a_calendar_key_naming_no_calendar_is_reported(desk, where):
    text = desk.config.read_text()
    if where == "desk":
        text = text.replace('timezone = "UTC"\n', 'timezone = "UTC"\ncalendar = "night"\n', 1)
        key = "desk.calendar"
    else:
        text = text.replace('resolve = "4h"\n', 'resolve = "4h"\ncalendar = "night"\n', 1)
        key = "urgency.critical.calendar"
    desk.config.write_text(text)
    code, _out, err = run_cli(desk.config, "rules", "check")
    line = _line_of(text, 'calendar = "night"')
    assert code == 78
    assert f"{desk.config}:{line}: {key}: 'night' is not a calendar (known: always, office)" in err


def test_set_team_naming_no_team_is_a_rule_error(tmp_path):
    desk = team_desk(
        tmp_path / "desk", rules='[[rule]]\nname = "x"\nif.subject = "a"\nset.team = "network"\n'
    )
    code, _out, err = run_cli(desk.config, "rules", "check")
    assert code == 78
    assert 'rules.toml:4: rule "x": set.team: "network" is not a team' in err


def test_set_team_at_another_level_than_set_level_is_a_rule_error(tmp_path):
    rules = '[[rule]]\nname = "x"\nif.subject = "a"\nset.level = 3\nset.team = "technical"\n'
    desk = team_desk(tmp_path / "desk", rules=rules)
    code, _out, err = run_cli(desk.config, "rules", "check")
    assert code == 78 and "set.team: team 'technical' is at level 2, not at set.level 3" in err


def test_an_application_outside_the_catalogue_is_a_warning_only(tmp_path):
    rules = '[[rule]]\nname = "x"\nif.subject = "a"\nset.application = "Photoshop"\n'
    desk = team_desk(tmp_path / "desk", rules=rules)
    code, _out, err = run_cli(desk.config, "rules", "check")
    assert code == 0
    assert (
        'rules.toml:4: rule "x": set.application: warning: "Photoshop" is not in the application catalogue'
        in err
    )


def test_without_a_catalogue_any_application_is_fine(tmp_path):
    from tests.support import Desk

    rules = '[[rule]]\nname = "x"\nif.subject = "a"\nset.application = "Photoshop"\n'
    code, _out, err = run_cli(Desk(tmp_path / "desk", rules=rules).config, "rules", "check")
    assert code == 0 and "warning" not in err


def test_catalogue_and_levels_parse(desk):
    from maildesk.config import load_settings

    settings = load_settings(desk.config)
    assert [team.name for team in settings.level(2).teams] == ["functional", "technical"]
    assert settings.level(2).address == "support-functional@example.org"
    assert settings.level(2).members == ("carol@example.org", "erin@example.org")
    assert settings.level_calendar(1).name == "office" and settings.level_calendar(2).name == "always"
    assert settings.organisation_for("jo@CLIENT.fr") == "Client SA"
    assert settings.organisation_for("jo@other.org") == "other.org"
    assert "support-functional@example.org" in settings.desk_addresses
    assert CATALOGUE and TEAM_LEVELS
