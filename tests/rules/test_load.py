"""Loading rule files: what compiles, and every problem reported as FILE:LINE: rule "NAME": KEY: ...."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from maildesk.config import ConfigError
from maildesk.rules import RulesError, RuleSet, load_ruleset

REPO = Path(__file__).resolve().parents[2]


def problems_of(load: Callable[..., RuleSet], text: str, **options: object) -> list[str]:
    with pytest.raises(RulesError) as caught:
        load(text, **options)
    return caught.value.problems


def only_problem(load: Callable[..., RuleSet], text: str, **options: object) -> str:
    problems = problems_of(load, text, **options)
    assert len(problems) == 1, problems
    return problems[0]


# --- what loads ------------------------------------------------------------------


def test_rules_load_in_file_order(load: Callable[..., RuleSet]) -> None:
    ruleset = load("""
[[rule]]
name = "first"
if.subject = "a"

[[rule]]
name = "second"
set.urgency = "high"
""")
    assert [rule.name for rule in ruleset.rules] == ["first", "second"]
    assert ruleset.rules[0].origin.endswith("rules.toml:2")
    assert ruleset.rules[1].settings == (("urgency", "high"),)


def test_empty_file_is_an_empty_rule_set(load: Callable[..., RuleSet]) -> None:
    assert load("# nothing yet\n").rules == ()


def test_rule_set_is_immutable(load: Callable[..., RuleSet]) -> None:
    ruleset = load('[[rule]]\nname = "a"\nset.tags = ["x"]\n')
    assert isinstance(ruleset.rules, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ruleset.rules[0].name = "b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ruleset.rules = ()  # type: ignore[misc]


def test_rule_written_with_sub_tables_loads(load: Callable[..., RuleSet]) -> None:
    ruleset = load("""
[[rule]]
name = "tables"
[rule.if]
subject = "x"
[rule.if.header]
"X-Mailer" = "y"
[rule.set]
level = 2
""")
    assert len(ruleset.rules[0].tests) == 2
    assert ruleset.rules[0].settings == (("level", 2),)


def test_directory_is_read_in_sorted_order(tmp_path: Path) -> None:
    folder = tmp_path / "rules.d"
    folder.mkdir()
    (folder / "20-second.toml").write_text('[[rule]]\nname = "second"\n')
    (folder / "10-first.toml").write_text('[[rule]]\nname = "first"\n')
    (folder / "notes.txt").write_text("not a rule file")
    extra = tmp_path / "last.toml"
    extra.write_text('[[rule]]\nname = "last"\n')
    ruleset = load_ruleset([folder, extra], levels=(1,), articles=None)
    assert [rule.name for rule in ruleset.rules] == ["first", "second", "last"]
    assert ruleset.files == (folder / "10-first.toml", folder / "20-second.toml", extra)


def test_a_file_named_twice_is_read_once(write_rules: Callable[..., Path]) -> None:
    path = write_rules('[[rule]]\nname = "only"\n')
    ruleset = load_ruleset([path, path.parent], levels=(1,), articles=None)
    assert [rule.name for rule in ruleset.rules] == ["only"]


def test_addresses_and_tags_are_normalised(load: Callable[..., RuleSet]) -> None:
    rule = load("""
[[rule]]
name = "n"
set.assignee = "Carol@Example.org"
set.tags = ["a", "b", "a"]
forward = "CERT@example.org"
""").rules[0]
    assert rule.settings == (("assignee", "carol@example.org"),)
    assert rule.tags == ("a", "b")
    assert rule.forward == ("cert@example.org",)


# --- the shipped example -----------------------------------------------------------


@pytest.mark.parametrize("articles", [None, {"password-reset"}])
def test_shipped_rules_toml_loads_cleanly(articles: set[str] | None) -> None:
    ruleset = load_ruleset([REPO / "rules.toml"], levels=(1, 2), articles=articles)
    assert len(ruleset.rules) >= 10


def test_shipped_rules_toml_needs_the_password_reset_article() -> None:
    with pytest.raises(RulesError) as caught:
        load_ruleset([REPO / "rules.toml"], levels=(1, 2), articles=set())
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [
        'rule "password reset": answer: no knowledge-base article with slug "password-reset"'
    ]


# --- each problem, with its line --------------------------------------------------


def test_rules_error_is_a_config_error_listing_problems(load: Callable[..., RuleSet]) -> None:
    with pytest.raises(ConfigError) as caught:
        load('[[rule]]\nname = "a"\nif.subject = "("\n')
    assert isinstance(caught.value, RulesError)
    assert str(caught.value) == "\n".join(caught.value.problems)


def test_toml_syntax_error(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(load, '[[rule]]\nname = "a"\nif.subject = "unclosed\n')
    assert problem.startswith(f"{tmp_path / 'rules.toml'}:3: TOML syntax: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_ruleset([tmp_path / "absent.toml"], levels=(1,), articles=None)
    assert caught.value.problems[0].startswith(f"{tmp_path / 'absent.toml'}:1: cannot read")


def test_unknown_top_level_key(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(load, '[[rule]]\nname = "a"\n\n[[rules]]\nname = "b"\n')
    assert problem == (
        f"{tmp_path / 'rules.toml'}:4: rules: unknown top-level key (a rule file holds [[rule]] tables)"
    )


def test_rule_that_is_not_an_array_of_tables(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(load, 'rule = "x"\n')
    assert problem == f"{tmp_path / 'rules.toml'}:1: rule: must be an array of tables ([[rule]])"


def test_unknown_key_in_a_rule(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(load, '[[rule]]\nname = "a"\n\nstpo = true\n')
    assert problem.startswith(f'{tmp_path / "rules.toml"}:4: rule "a": stpo: unknown key (expected one of: ')


def test_unknown_condition(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(load, '[[rule]]\nname = "a"\nif.subjet = "x"\n')
    assert problem == (
        f'{tmp_path / "rules.toml"}:3: rule "a": if.subjet: unknown condition '
        "(expected one of: body, from, from_domain, has_attachment, header, subject, to)"
    )


def test_unknown_setting(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(load, '[[rule]]\nname = "a"\nset.priority = "high"\n')
    assert problem.startswith(
        f'{tmp_path / "rules.toml"}:3: rule "a": set.priority: unknown setting (expected'
    )


def test_missing_name(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(load, '[[rule]]\nname = "a"\n\n[[rule]]\nif.subject = "x"\n')
    assert problem == f"{tmp_path / 'rules.toml'}:4: rule #2: name: missing: every rule needs a name"


def test_name_that_is_not_a_string(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(load, "[[rule]]\nname = 7\n")
    assert problem == f"{tmp_path / 'rules.toml'}:2: rule #1: name: must be a non-empty string, not 7"


def test_duplicate_name_in_one_file(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    problem = only_problem(load, '[[rule]]\nname = "vpn"\n\n[[rule]]\nname = "vpn"\n')
    assert problem == f'{path}:5: rule "vpn": name: "vpn" is already the name of the rule at {path}:1'


def test_duplicate_name_in_an_inline_array(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(load, 'rule = [{name = "a"}, {name = "a"}]\n')
    assert problem.startswith(
        f'{tmp_path / "rules.toml"}:1: rule "a": name: "a" is already the name of the rule'
    )


def test_duplicate_name_across_files(write_rules: Callable[..., Path]) -> None:
    first = write_rules('[[rule]]\nname = "vpn"\n', "a.toml")
    second = write_rules('\n[[rule]]\nname = "vpn"\n', "b.toml")
    with pytest.raises(RulesError) as caught:
        load_ruleset([first, second], levels=(1,), articles=None)
    assert caught.value.problems == [
        f'{second}:3: rule "vpn": name: "vpn" is already the name of the rule at {first}:1'
    ]


def test_bad_regex(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(
        load, '[[rule]]\nname = "sec"\nset.urgency = "high"\nif.subject = "(?i)virus|(phish"\n'
    )
    assert problem == (
        f'{tmp_path / "rules.toml"}:4: rule "sec": if.subject: '
        "bad regex: missing ), unterminated subpattern at position 10"
    )


def test_bad_regex_in_a_header_names_the_header(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(load, '[[rule]]\nname = "h"\nif.header."X-Mailer" = "["\n')
    assert problem == (
        f'{tmp_path / "rules.toml"}:3: rule "h": if.header.X-Mailer: '
        "bad regex: unterminated character set at position 0"
    )


def test_bad_regex_in_a_header_sub_table(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    problem = only_problem(
        load, '[[rule]]\nname = "h"\n[rule.if.header]\n"X-Priority" = "1"\n"X-Mailer" = "["\n'
    )
    assert problem.startswith(f'{tmp_path / "rules.toml"}:5: rule "h": if.header.X-Mailer: bad regex')


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("if.has_attachment = 1", "if.has_attachment: must be true or false, not 1"),
        (
            'if.from_domain = ["a.com", 2]',
            'if.from_domain: must be a domain or a list of domains, not ["a.com", 2]',
        ),
        ("if.from = 3", "if.from: must be a string (a regular expression), not 3"),
        ('if = "everything"', 'if: must be a table of conditions, not "everything"'),
        ('set = ["x"]', 'set: must be a table of settings, not ["x"]'),
        (
            'set.category = "hardware"',
            'set.category: "hardware" is not one of: technical, functional, regulatory',
        ),
        ('set.kind = "bug"', 'set.kind: "bug" is not one of: incident, question, complaint, request'),
        ('set.urgency = "urgent"', 'set.urgency: "urgent" is not one of: critical, high, normal, low'),
        ('set.language = "de"', 'set.language: "de" is not one of: en, fr'),
        ("set.level = 3", "set.level: 3 is not a configured level (levels: 1, 2)"),
        ('set.level = "2"', 'set.level: must be a level number, not "2"'),
        ("set.level = true", "set.level: must be a level number, not true"),
        ('set.assignee = "carol"', 'set.assignee: "carol" is not an email address'),
        ('set.application = ""', 'set.application: must be a non-empty string, not ""'),
        ("set.tags = [1]", "set.tags: must be a list of non-empty strings, not [1]"),
        ('forward = ["cert@example.org", "cert"]', 'forward: "cert" is not an email address'),
        ("forward = 5", "forward: must be an address or a list of addresses, not 5"),
        ("answer = 5", "answer: must be a knowledge-base article slug, not 5"),
        ('drop = "yes"', 'drop: must be true or false, not "yes"'),
        ("stop = 1", "stop: must be true or false, not 1"),
    ],
)
def test_each_bad_value_is_reported_on_its_line(
    load: Callable[..., RuleSet], tmp_path: Path, line: str, message: str
) -> None:
    problem = only_problem(load, f'# comment\n[[rule]]\nname = "r"\n{line}\n')
    assert problem == f'{tmp_path / "rules.toml"}:4: rule "r": {message}'


def test_unknown_article(load: Callable[..., RuleSet], tmp_path: Path) -> None:
    text = '[[rule]]\nname = "pw"\nanswer = "pasword-reset"\n'
    assert load(text, articles=None).rules[0].answer == "pasword-reset"  # no knowledge base: not checked
    assert load(text, articles={"pasword-reset"}).rules[0].answer == "pasword-reset"
    problem = only_problem(load, text, articles={"password-reset"})
    assert problem == (
        f'{tmp_path / "rules.toml"}:3: rule "pw": answer: no knowledge-base article with slug "pasword-reset"'
    )


def test_unverifiable_article(write_rules: Callable[..., Path], tmp_path: Path) -> None:
    path = write_rules('[[rule]]\nname = "pw"\nanswer = "pasword-reset"\n')
    why = "no such article file, and the database cannot be read"
    assert (
        load_ruleset([path], levels=(1,), articles={"pasword-reset"}, articles_unverified=why).rules[0].answer
        == "pasword-reset"
    )
    with pytest.raises(RulesError) as caught:
        load_ruleset([path], levels=(1,), articles={"password-reset"}, articles_unverified=why)
    assert caught.value.problems == [
        f'{tmp_path / "rules.toml"}:3: rule "pw": answer: cannot verify article slug "pasword-reset": {why}'
    ]


def test_assignee_must_be_a_member_of_a_level(write_rules: Callable[..., Path], tmp_path: Path) -> None:
    path = write_rules('[[rule]]\nname = "a"\n\nset.assignee = "Dave@Example.org"\n')
    assert load_ruleset([path], levels=(1,), articles=None).rules[0].settings == (
        ("assignee", "dave@example.org"),
    )
    assert load_ruleset([path], levels=(1,), articles=None, members={"dave@example.org"}).rules[
        0
    ].settings == (("assignee", "dave@example.org"),)
    with pytest.raises(RulesError) as caught:
        load_ruleset([path], levels=(1,), articles=None, members={"alice@example.org", "carol@example.org"})
    assert caught.value.problems == [
        f'{tmp_path / "rules.toml"}:4: rule "a": set.assignee: dave@example.org is not a member of any level'
    ]


@pytest.mark.parametrize(
    "address", ["support@example.org", "Support-L2@example.org", "support+42-abcdefghij@example.org"]
)
def test_forward_to_the_desk_itself_is_refused(
    write_rules: Callable[..., Path], tmp_path: Path, address: str
) -> None:
    path = write_rules(f'[[rule]]\nname = "f"\nforward = ["cert@example.org",\n  "{address}"]\n')
    own = {"support@example.org", "support-l2@example.org"}
    assert load_ruleset([path], levels=(1,), articles=None).rules[0].forward[1] == address.lower()
    with pytest.raises(RulesError) as caught:
        load_ruleset([path], levels=(1,), articles=None, own_addresses=own)
    assert caught.value.problems == [
        f'{tmp_path / "rules.toml"}:3: rule "f": forward: {address.lower()} is one of the desk\'s own addresses '
        "(the desk would mail itself)"
    ]
    other = write_rules('[[rule]]\nname = "f"\nforward = "support-team@example.org"\n', "other.toml")
    assert load_ruleset([other], levels=(1,), articles=None, own_addresses=own).rules[0].forward == (
        "support-team@example.org",
    )


def test_level_checked_against_the_configured_levels(load: Callable[..., RuleSet]) -> None:
    text = '[[rule]]\nname = "l3"\nset.level = 3\n'
    assert load(text, levels=(1, 2, 3)).rules[0].settings == (("level", 3),)
    assert only_problem(load, text, levels=()).endswith(
        "set.level: 3 is not a configured level (levels: none)"
    )


def test_every_problem_in_every_file_is_listed(write_rules: Callable[..., Path]) -> None:
    broken = write_rules("[[rule]\n", "a.toml")
    bad = write_rules(
        """
[[rule]]
name = "one"
if.subject = "("
set.urgency = "now"

[[rule]]
if.body = "["
set.level = 9
""",
        "b.toml",
    )
    with pytest.raises(RulesError) as caught:
        load_ruleset([broken, bad], levels=(1, 2), articles=None)
    lines = [problem.split(": ", 2)[:2] for problem in caught.value.problems]
    assert lines == [
        [f"{broken}:1", "TOML syntax"],
        [f"{bad}:4", 'rule "one"'],
        [f"{bad}:5", 'rule "one"'],
        [f"{bad}:7", "rule #2"],
        [f"{bad}:8", "rule #2"],
        [f"{bad}:9", "rule #2"],
    ]
