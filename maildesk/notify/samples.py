"""Sample contexts of every mail: what the templates are checked against at load time (SPEC section 9).

The values are made up but shaped as the desk passes them, with text that
tries the escaping (``<script>``) and, with ``sparse``, every optional value
empty, so that a template that would fail on a real mail fails when loaded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from maildesk.types import REASON_TEXTS, Reason, reason_parameters

#: Sample values of reason parameters, by name (a name not listed gets "sample").
_SAMPLE_PARAMS: dict[str, Any] = {
    "tag": "[colour=blue]",
    "name": "urgency",
    "value": "extreme",
    "address": "eve@example.com",
    "level": 2,
    "levels": "1, 2, 3",
    "teams": "Front desk, functional, technical",
    "allowed": "critical, high, normal, low",
    "slug": "vpn-rest",
    "ticket": 42,
    "sender": "alice@example.org",
    "domain": "example.org",
    "after": "4h",
    "urgency": "high",
    "requester": "user@example.com",
    "cap": 20,
    "status": "draft",
}
#: A code no template knows: it must still render (its English text, or the code).
_SAMPLE_UNKNOWN = {
    "code": "maildesk-sample-unknown",
    "params": {"value": 1},
    "text": "a reason no template has a sentence for",
}


def sample_reasons() -> list[dict[str, Any]]:
    """One reason of every code with sample parameters, one refused command whose text was held back,
    and one code no template knows: rendering them checks each language's sentence for each code."""
    reasons = [
        Reason.of(code, **{name: _SAMPLE_PARAMS.get(name, "sample") for name in reason_parameters(code)})
        for code in REASON_TEXTS
    ]
    held = Reason.of("no_such_article", slug="vpn-rest", held_back=True)
    return [*(reason.as_context() for reason in reasons), held.as_context(), dict(_SAMPLE_UNKNOWN)]


def _sample_report() -> dict[str, Any]:
    """A report as ``maildesk.reports.mailing.mail_context`` gives it: the JSON of SPEC section 12, and more."""

    def duration(count: int, median: Any, p90: Any, mean: Any) -> dict[str, Any]:
        return {"count": count, "median_s": median, "p90_s": p90, "mean_s": mean}

    group = {
        "key": "technical",
        "received": 12,
        "closed": 9,
        "open": 3,
        "reopened": 1,
        "problems": 2,
        "taken_into_account": duration(12, 900, 5400, 2100),
        "first_response": duration(11, 1800, 7200, 2400.5),
        "resolution": duration(9, 14400, 172800, 36000),
        "within_target": {"first_response": 0.92, "resolve": 0.83},
        "escalations": {"2": 3, "3": 1},
        "self_care": 2,
        "time_spent": "4h10m",
        "amount": 375.0,
    }
    sparse = {
        "key": None,
        "received": 0,
        "closed": 0,
        "open": 0,
        "reopened": 0,
        "problems": 0,
        "taken_into_account": duration(0, None, None, None),
        "first_response": duration(0, None, None, None),
        "resolution": duration(0, None, None, None),
        "within_target": {"first_response": None, "resolve": None},
        "escalations": {},
        "self_care": 0,
        "time_spent": "0m",
        "amount": None,
    }
    total = {k: v for k, v in group.items() if k != "key"}
    return {
        "since": "2026-11-16T00:00:00Z",
        "until": "2026-11-23T00:00:00Z",
        "start": "2026-11-16",
        "end": "2026-11-23",
        "timezone": "Europe/Paris",
        "by": "category",
        "calendar": "office",
        "currency": "EUR",
        "empty": False,
        "groups": [group, sparse],
        "total": total,
        "levels": [
            {"level": 1, "name": "Front desk", "first_response": 0.9, "resolve": 0.8},
            {"level": 2, "name": "Back desk", "first_response": None, "resolve": None},
        ],
    }


def sample_context(name: str, *, sparse: bool = False) -> dict[str, Any]:
    """A context as the desk would pass it for mail ``name``.

    ``sparse`` leaves every optional value empty (None, []), so that a
    template which does not guard an optional value fails at load time.
    """
    context: dict[str, Any] = {
        "desk": {"name": "Example Support", "address": "support@example.org", "tag": "Support"},
        "ticket": _sample_ticket(),
        "message": {
            "from_addr": "user@example.com",
            "from_name": "Jane Doe",
            "text": "Hello,\n\nThe VPN <script>alert(1)</script> refuses my password.\n\nJane",
            "subject": "VPN down since this morning",
        },
        "articles": [
            {
                "slug": "vpn-reset",
                "title": "Resetting your VPN password",
                "excerpt": "Open the self-service portal and choose <Reset>.",
                "body": '1. Open the self-service portal.\n2. Choose "Reset".',
            }
        ],
        "article": {
            "slug": "vpn-reset",
            "title": "Resetting your VPN password",
            "body": '1. Open the self-service portal.\n2. Choose "Reset".',
        },
        "level": {"id": 2, "name": "Back desk", "address": "support-l2@example.org", "team": "technical"},
        "errors": [reason["text"] for reason in sample_reasons()],
        "refusals": sample_reasons(),
        "reason": "; ".join(reason["text"] for reason in sample_reasons()),
        "reasons": sample_reasons(),
        "report": None,
        "updates": {"slug": "vpn-reset", "title": "Resetting your VPN password"},
    }
    if name == "report":
        context.update(
            ticket=None,
            message=None,
            articles=[],
            article=None,
            level=None,
            errors=[],
            refusals=[],
            reason=None,
            reasons=[],
            report=_sample_report(),
        )
    elif name == "self_service":  # a mail about no ticket: the question and the articles that answer it
        context.update(ticket=None, article=None, level=None, errors=[], refusals=[], reason=None, reasons=[])
        if sparse:
            context.update(message={**context["message"], "from_name": "", "subject": ""})
    elif sparse:
        _leave_optional_values_empty(name, context)
    return context


def _sample_ticket() -> dict[str, Any]:
    return {
        "number": 42,
        "subject": "VPN down since this morning",
        "status": "open",
        "level": 2,
        "level_name": "Back desk",
        "team": "technical",
        "organisation": "Client SA",
        "urgency": "high",
        "category": "technical",
        "kind": "incident",
        "application": "VPN",
        "requester": "user@example.com",
        "assignee": "carol@example.org",
        "created_at": datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        "closed_at": datetime(2026, 11, 22, 11, 20, tzinfo=UTC),
        "time_spent": "1h20m",
        "url": None,
    }


def _leave_optional_values_empty(name: str, context: dict[str, Any]) -> None:
    """What mail ``name`` may get with nothing optional: a template must guard each of these."""
    context["ticket"].update(
        subject="",
        level_name=None,
        category=None,
        application=None,
        assignee=None,
        closed_at=None,
        time_spent="0m",
    )
    context.update(articles=[], article=None, reason=None, reasons=[], updates=None)
    if name not in ("ack", "reply", "forward"):
        context["message"] = None
    if name not in ("notify_level", "escalated", "storm"):
        context["level"] = None
    if name != "command_error":
        context.update(errors=[], refusals=[])
    else:
        context["ticket"] = None  # a command mail that names no ticket
