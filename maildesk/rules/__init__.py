"""Rules admins write in TOML: load them once into a RuleSet, evaluate each new request against it."""

from maildesk.rules.conditions import CONDITIONS, Condition, ConditionError, MatchInput, Predicate
from maildesk.rules.evaluate import evaluate
from maildesk.rules.load import load_ruleset
from maildesk.rules.ruleset import Rule, RulesError, RuleSet

__all__ = [
    "CONDITIONS",
    "Condition",
    "ConditionError",
    "MatchInput",
    "Predicate",
    "Rule",
    "RuleSet",
    "RulesError",
    "evaluate",
    "load_ruleset",
]
