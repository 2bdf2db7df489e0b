"""Run a message through the rules and say what they decided."""

from __future__ import annotations

from collections.abc import Sequence

from maildesk.rules.conditions import MatchInput
from maildesk.rules.ruleset import RuleSet
from maildesk.types import Decision, ParsedMessage, RuleEffect


def evaluate(
    parsed: ParsedMessage, rcpt_tos: Sequence[str], ruleset: RuleSet, *, default_level: int | None = None
) -> Decision:
    """Apply every matching rule in order; a matching rule with ``stop`` ends the list.

    Later settings override earlier ones; tags and forward addresses
    accumulate; ``answer`` and ``drop`` come from the last rule that sets
    them. ``default_level`` is the level of the address the message was sent to.
    The decision's ``trace`` lists each matching rule with what it alone set.
    """
    message = MatchInput(parsed, rcpt_tos)
    settings: dict[str, object] = {}
    matched: list[str] = []
    trace: list[RuleEffect] = []
    tags: list[str] = []
    forward: list[str] = []
    answer: str | None = None
    drop = False
    for rule in ruleset.rules:
        for test in rule.tests:
            if not test(message):
                break
        else:
            matched.append(rule.name)
            trace.append(rule.trace_entry())
            settings.update(rule.settings)
            for tag in rule.tags:
                if tag not in tags:
                    tags.append(tag)
            for address in rule.forward:
                if address not in forward:
                    forward.append(address)
            if rule.answer is not None:
                answer = rule.answer
            if rule.drop is not None:
                drop = rule.drop
            if rule.stop:
                break
    settings.setdefault("level", default_level)
    return Decision(
        **settings,  # type: ignore[arg-type]  # keys and values checked when the rules were loaded
        tags=tuple(tags),
        matched=tuple(matched),
        forward=tuple(forward),
        answer=answer,
        drop=drop,
        trace=tuple(trace),
    )
