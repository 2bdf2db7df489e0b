"""What evaluate decides: order, overrides, accumulation, stop, defaults and the JSON shape."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from maildesk.rules import RuleSet, evaluate, load_ruleset
from maildesk.types import Decision

from .factory import PDF, make_message

REPO = Path(__file__).resolve().parents[2]

Load = Callable[..., RuleSet]


def test_no_rules_gives_the_defaults() -> None:
    decision = evaluate(make_message(), ("support@example.org",), RuleSet(), default_level=1)
    assert decision == Decision(level=1)
    assert (decision.kind, decision.category, decision.urgency) == ("request", None, "normal")


def test_level_defaults_to_none_when_the_caller_gives_none() -> None:
    assert evaluate(make_message(), (), RuleSet()).level is None


def test_rule_without_conditions_matches_everything(load: Load) -> None:
    ruleset = load('[[rule]]\nname = "all"\nset.tags = ["seen"]\n')
    assert evaluate(make_message(), (), ruleset).tags == ("seen",)


def test_every_setting_is_applied(load: Load) -> None:
    ruleset = load("""
[[rule]]
name = "everything"
set.category = "technical"
set.kind = "incident"
set.urgency = "critical"
set.application = "Mail"
set.level = 2
set.assignee = "carol@example.org"
set.language = "fr"
set.tags = ["security"]
forward = ["cert@example.org"]
answer = "password-reset"
drop = true
""")
    decision = evaluate(make_message(), (), ruleset, default_level=1)
    assert decision == Decision(
        category="technical",
        kind="incident",
        urgency="critical",
        application="Mail",
        level=2,
        assignee="carol@example.org",
        language="fr",
        tags=("security",),
        matched=("everything",),
        forward=("cert@example.org",),
        answer="password-reset",
        drop=True,
    )


def test_all_conditions_of_a_rule_must_hold(load: Load) -> None:
    ruleset = load("""
[[rule]]
name = "erp screenshot"
if.subject = "(?i)erp"
if.has_attachment = true
set.kind = "incident"
""")
    assert evaluate(make_message(subject="ERP error", attachments=(PDF,)), (), ruleset).kind == "incident"
    assert evaluate(make_message(subject="ERP error"), (), ruleset).kind == "request"
    assert evaluate(make_message(subject="Printer", attachments=(PDF,)), (), ruleset).kind == "request"


def test_later_rules_override_earlier_ones_and_tags_accumulate(load: Load) -> None:
    ruleset = load("""
[[rule]]
name = "vip"
if.from_domain = "bigcustomer.example.com"
set.urgency = "high"
set.level = 2
set.tags = ["vip", "customer"]

[[rule]]
name = "virus"
if.subject = "(?i)virus"
set.urgency = "critical"
set.tags = ["security", "vip"]

[[rule]]
name = "never"
if.subject = "nothing like this"
set.urgency = "low"
""")
    message = make_message(subject="Virus on my PC", from_addr="ceo@bigcustomer.example.com")
    decision = evaluate(message, (), ruleset, default_level=1)
    assert decision.matched == ("vip", "virus")
    assert decision.urgency == "critical"
    assert decision.level == 2
    assert decision.tags == ("vip", "customer", "security")


def test_forward_accumulates_without_duplicates(load: Load) -> None:
    ruleset = load("""
[[rule]]
name = "a"
forward = ["cert@example.org", "soc@example.org"]

[[rule]]
name = "b"
forward = "cert@example.org"

[[rule]]
name = "c"
forward = ["dpo@example.org"]
""")
    assert evaluate(make_message(), (), ruleset).forward == (
        "cert@example.org",
        "soc@example.org",
        "dpo@example.org",
    )


def test_answer_and_drop_come_from_the_last_rule_that_sets_them(load: Load) -> None:
    ruleset = load("""
[[rule]]
name = "spam"
answer = "first"
drop = true

[[rule]]
name = "not really"
if.from_domain = "example.org"
drop = false

[[rule]]
name = "other article"
answer = "second"

[[rule]]
name = "silent"
set.tags = ["x"]
""")
    inside = evaluate(make_message(from_addr="a@example.org"), (), ruleset)
    outside = evaluate(make_message(from_addr="a@example.com"), (), ruleset)
    assert (inside.answer, inside.drop) == ("second", False)
    assert (outside.answer, outside.drop) == ("second", True)


def test_matching_stop_rule_ends_the_list(load: Load) -> None:
    ruleset = load("""
[[rule]]
name = "spam"
if.subject = "(?i)lottery"
drop = true
stop = true

[[rule]]
name = "everything"
set.tags = ["seen"]
""")
    spam = evaluate(make_message(subject="LOTTERY winner"), (), ruleset)
    assert spam.matched == ("spam",)
    assert spam.drop is True
    assert spam.tags == ()
    assert evaluate(make_message(), (), ruleset).matched == ("everything",)


def test_stop_false_does_not_stop(load: Load) -> None:
    ruleset = load('[[rule]]\nname = "a"\nstop = false\n\n[[rule]]\nname = "b"\n')
    assert evaluate(make_message(), (), ruleset).matched == ("a", "b")


def test_envelope_recipients_reach_the_to_condition(load: Load) -> None:
    ruleset = load('[[rule]]\nname = "dpo"\nif.to = "^dpo@"\nset.category = "regulatory"\n')
    message = make_message(to=("support@example.org",))
    assert evaluate(message, ("dpo@example.org",), ruleset).category == "regulatory"
    assert evaluate(message, ("support@example.org",), ruleset).category is None


def test_as_dict_has_the_rules_test_json_shape(load: Load) -> None:
    ruleset = load("""
[[rule]]
name = "security"
if.subject = "(?i)phishing"
set.kind = "incident"
set.urgency = "critical"
set.tags = ["security"]
forward = "cert@example.org"
""")
    decision = evaluate(make_message(subject="Phishing mail received"), (), ruleset, default_level=1)
    assert decision.as_dict() == {
        "set": {
            "category": None,
            "kind": "incident",
            "urgency": "critical",
            "application": None,
            "level": 1,
            "assignee": None,
            "language": None,
            "tags": ["security"],
        },
        "matched": ["security"],
        "forward": ["cert@example.org"],
        "answer": None,
        "drop": False,
    }


def test_trace_says_which_rule_set_what(load: Load) -> None:
    ruleset = load("""
[[rule]]
name = "vpn"
if.subject = "(?i)vpn"
set.kind = "incident"
set.application = "VPN"
set.tags = ["network"]

[[rule]]
name = "never"
if.subject = "nothing like this"
set.application = "Nope"

[[rule]]
name = "erp"
if.subject = "(?i)erp"
set.application = "ERP"
forward = "erp-team@example.org"
answer = "erp-login"
drop = false
stop = true

[[rule]]
name = "after stop"
set.urgency = "low"
""")
    decision = evaluate(make_message(subject="VPN drops inside the ERP"), (), ruleset, default_level=1)
    assert decision.application == "ERP"
    assert [effect.as_dict() for effect in decision.trace] == [
        {
            "rule": "vpn",
            "set": {"kind": "incident", "application": "VPN", "tags": ["network"]},
            "forward": [],
            "answer": None,
            "drop": None,
            "stop": False,
        },
        {
            "rule": "erp",
            "set": {"application": "ERP"},
            "forward": ["erp-team@example.org"],
            "answer": "erp-login",
            "drop": False,
            "stop": True,
        },
    ]
    # defaults (urgency, level) are in the decision but in no rule's entry
    assert decision.event_data() == {**decision.as_dict(), "trace": [e.as_dict() for e in decision.trace]}
    assert "trace" not in decision.as_dict()  # the rules test JSON shape stays as SPEC section 8 has it
    assert decision == Decision(
        kind="incident",
        application="ERP",
        level=1,
        tags=("network",),
        matched=("vpn", "erp"),
        forward=("erp-team@example.org",),
        answer="erp-login",
    )
    assert (
        evaluate(make_message(subject="Printer"), (), RuleSet(), default_level=1).event_data()["trace"] == []
    )


def test_in_flight_evaluation_keeps_its_rule_set(load: Load, write_rules: Callable[..., Path]) -> None:
    old = load('[[rule]]\nname = "old"\nset.urgency = "low"\n')
    new = load_ruleset(
        [write_rules('[[rule]]\nname = "new"\nset.urgency = "high"\n', "new.toml")],
        levels=(1,),
        articles=None,
    )
    assert evaluate(make_message(), (), old).urgency == "low"
    assert evaluate(make_message(), (), new).urgency == "high"


def test_evaluation_compiles_nothing(load: Load, monkeypatch: pytest.MonkeyPatch) -> None:
    ruleset = load("""
[[rule]]
name = "all kinds"
if.subject = "(?i)vpn"
if.body = "(?i)disconnect"
if.from = "jane"
if.to = "support@"
if.header."X-Mailer" = "Outlook"
""")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a regex was compiled during evaluation")

    monkeypatch.setattr(re, "compile", refuse)
    monkeypatch.setattr(re, "search", refuse)
    message = make_message(
        subject="VPN",
        text="it disconnects",
        from_addr="jane@example.com",
        headers=(("X-Mailer", "Outlook 16"),),
    )
    assert evaluate(message, (), ruleset).matched == ("all kinds",)


# --- the shipped rules.toml on realistic messages -----------------------------------


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_ruleset([REPO / "rules.toml"], levels=(1, 2), articles={"password-reset"})


def test_shipped_password_reset_is_answered(shipped: RuleSet) -> None:
    decision = evaluate(make_message(subject="Forgot my password"), (), shipped, default_level=1)
    assert decision.answer == "password-reset"
    assert decision.level == 1


def test_shipped_french_password_reset_is_answered(shipped: RuleSet) -> None:
    decision = evaluate(make_message(subject="Mot de passe oublié"), (), shipped, default_level=1)
    assert decision.answer == "password-reset"


def test_shipped_security_incident_goes_to_cert(shipped: RuleSet) -> None:
    message = make_message(
        subject="Phishing: reset your password here", from_addr="ceo@bigcustomer.example.com"
    )
    decision = evaluate(message, (), shipped, default_level=1)
    assert (decision.kind, decision.urgency, decision.level) == ("incident", "critical", 2)
    assert decision.forward == ("cert@example.org",)
    assert decision.answer is None  # stop: no automatic answer to a security report
    assert "security" in decision.tags


def test_shipped_ransom_note_in_the_body(shipped: RuleSet) -> None:
    message = make_message(subject="help", text="This morning: YOUR FILES HAVE BEEN ENCRYPTED, pay 2 BTC")
    assert evaluate(message, (), shipped).urgency == "critical"


def test_shipped_erp_and_regulatory(shipped: RuleSet) -> None:
    erp = evaluate(make_message(subject="SAP purchase order blocked"), (), shipped, default_level=1)
    assert (erp.application, erp.category) == ("ERP", "functional")
    gdpr = evaluate(make_message(subject="Demande RGPD d'accès"), (), shipped, default_level=1)
    assert (gdpr.category, gdpr.level) == ("regulatory", 2)


def test_shipped_spam_is_dropped(shipped: RuleSet) -> None:
    decision = evaluate(make_message(subject="Congratulations, you have won!"), (), shipped)
    assert decision.drop is True
    assert decision.matched == ("obvious spam",)


def test_shipped_monitoring_alert_by_header(shipped: RuleSet) -> None:
    message = make_message(subject="PROBLEM: disk full", headers=(("X-Mailer", "Zabbix 6.4"),))
    decision = evaluate(message, (), shipped)
    assert (decision.kind, decision.urgency) == ("incident", "high")
