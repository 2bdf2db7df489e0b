"""Time loading 500 rules and evaluating one message against them; run from the repo root.

    .venv/bin/python bench/rules.py

Targets: evaluate under 2 ms per message, load under 200 ms. The machine is
noisy, so each figure is also given as a ratio to a baseline measured in the
same run: 500 plain ``re.search`` calls of one case-insensitive regex over a
subject, the least work a naive 500-rule evaluation would do.
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from maildesk.rules import (
    RuleSet,
    evaluate,
    literals,
    load_ruleset,
)
from maildesk.types import Attachment, ParsedMessage

RULES = 500
LOADS = 7
EVALUATIONS = 2000
PLAIN_EVALUATIONS = 200  # without the pre-check: slow, a few are enough

WORDS = [
    "vpn",
    "printer",
    "password",
    "outlook",
    "teams",
    "sharepoint",
    "invoice",
    "purchase order",
    "payroll",
    "laptop",
    "screen",
    "keyboard",
    "wifi",
    "network",
    "badge",
    "access",
    "license",
    "excel",
    "crm",
    "timesheet",
    "expense",
    "backup",
    "restore",
    "server",
    "database",
    "slow",
    "crash",
    "error",
    "login",
    "account",
    "locked",
    "mailbox",
    "quota",
    "calendar",
    "meeting room",
    "phone",
    "headset",
    "docking",
    "imprimante",
    "réseau",
    "écran",
    "facture",
    "congés",
    "mot de passe",
    "compte bloqué",
    "sauvegarde",
    "données",
    "bon de commande",
    "messagerie",
    "lenteur",
    "panne",
    "ordinateur",
    "accès",
    "logiciel",
]
DOMAINS = [f"customer{n}.example.com" for n in range(60)] + [f"partner{n}.example.net" for n in range(20)]
APPS = ["ERP", "CRM", "Mail", "VPN", "Payroll", "Intranet", "Telephony", "Printing"]
CATEGORIES = ["technical", "functional", "regulatory"]
KINDS = ["incident", "question", "complaint", "request"]
URGENCIES = ["critical", "high", "normal", "low"]


def quote(pattern: str) -> str:
    return "'" + pattern + "'"  # TOML literal string: no escaping of backslashes


def alternatives(rng: random.Random, count: int) -> str:
    return "|".join(re.escape(word).replace("\\ ", r"\s+") for word in rng.sample(WORDS, count))


def make_conditions(rng: random.Random, index: int) -> list[str]:
    roll = rng.random()
    if roll < 0.33:
        return ["if.subject = " + quote(r"(?i)\b(" + alternatives(rng, rng.randint(1, 4)) + r")\b")]
    if roll < 0.53:
        return ["if.body = " + quote("(?i)" + alternatives(rng, rng.randint(1, 3)))]
    if roll < 0.61:
        return ["if.from = " + quote(r"(?i)^(it|ops|noreply|alerts)" + str(index) + "@")]
    if roll < 0.71:
        return [
            "if.from_domain = [" + ", ".join(f'"{d}"' for d in rng.sample(DOMAINS, rng.randint(1, 3))) + "]"
        ]
    if roll < 0.77:
        return ["if.to = " + quote(f"^(team{index}|dept{index})@example" + r"\.org$")]
    if roll < 0.83:
        return ['if.header."X-Mailer" = ' + quote(f"(?i)tool{index}" + r"\b|" + f"agent-{index}")]
    if roll < 0.88:  # patterns without a usable literal: the regex always runs
        return ["if.subject = " + quote(r"(?i)[A-Z]{3}-\d{" + str(3 + index % 3) + "}")]
    if roll < 0.94:
        return [
            "if.subject = " + quote(r"(?i)\b(" + alternatives(rng, 2) + r")\b"),
            "if.has_attachment = " + rng.choice(["true", "false"]),
        ]
    return [f'if.from_domain = "{rng.choice(DOMAINS)}"', "if.body = " + quote("(?i)" + alternatives(rng, 2))]


def make_actions(rng: random.Random, index: int) -> list[str]:
    actions = []
    if rng.random() < 0.5:
        actions.append(f'set.category = "{rng.choice(CATEGORIES)}"')
    if rng.random() < 0.4:
        actions.append(f'set.kind = "{rng.choice(KINDS)}"')
    if rng.random() < 0.4:
        actions.append(f'set.urgency = "{rng.choice(URGENCIES)}"')
    if rng.random() < 0.4:
        actions.append(f'set.application = "{rng.choice(APPS)}"')
    if rng.random() < 0.3:
        actions.append(f"set.level = {rng.choice([1, 2])}")
    if rng.random() < 0.2:
        actions.append(f'set.assignee = "tech{index % 7}@example.org"')
    if rng.random() < 0.5:
        actions.append(f'set.tags = ["tag{index % 40}", "{rng.choice(APPS).lower()}"]')
    if rng.random() < 0.05:
        actions.append(f'forward = ["team{index % 5}@example.org"]')
    if rng.random() < 0.02:
        actions.append("stop = false")
    return actions or ['set.tags = ["misc"]']


def write_rules(folder: Path) -> list[Path]:
    """500 rules over five files, as a desk that grew its rules over years might have."""
    rng = random.Random(42)
    paths = []
    for part in range(5):
        lines = [f"# generated part {part}"]
        for index in range(part * RULES // 5, (part + 1) * RULES // 5):
            lines += [
                "",
                "[[rule]]",
                f'name = "rule {index}"',
                *make_conditions(rng, index),
                *make_actions(rng, index),
            ]
        path = folder / f"{part:02d}-rules.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def message(
    subject: str,
    text: str,
    *,
    from_addr: str,
    from_name: str = "",
    to: tuple[str, ...] = (),
    cc: tuple[str, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    attachments: tuple[Attachment, ...] = (),
) -> ParsedMessage:
    return ParsedMessage(
        message_id="<bench@example.com>",
        has_message_id=True,
        subject=subject,
        from_addr=from_addr,
        from_name=from_name,
        to=to or ("support@example.org",),
        cc=cc,
        reply_to=(),
        in_reply_to=(),
        references=(),
        date=None,
        text=text,
        reply_text=text,
        html=None,
        headers=(
            ("Received", "from mx.example.com by mail.example.org"),
            ("From", from_addr),
            ("To", "support@example.org"),
            ("Subject", subject),
            ("Date", "Mon, 2 Nov 2026 09:00:00 +0100"),
            ("Message-ID", "<bench@example.com>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
            *headers,
        ),
        attachments=attachments,
        auto_submitted=None,
        precedence=None,
        list_id=None,
        x_loop=(),
        delivery_report=None,
    )


SIGNATURE = (
    "\n\n--\nJane Doe\nAccounts payable, 3rd floor\nExample Corp - 12 rue de la Paix, 75002 Paris\n"
    "Tel. +33 1 23 45 67 89\nThis e-mail and any attachment are confidential and intended solely for "
    "the addressee. If you have received it in error, please notify the sender and delete it.\n"
)
QUOTED = "".join(
    f"> {line}\n"
    for line in (
        "On Mon, 2 Nov 2026 at 08:12, IT Support <support@example.org> wrote:",
        "Thank you for your message. Could you tell us which version of the client you use,",
        "whether the problem happens on the office network or at home, and send a screenshot?",
        "Best regards, the support team",
    )
    * 6
)

MESSAGES = [
    message(
        "VPN keeps disconnecting since this morning",
        "Hello,\n\nsince this morning the VPN client disconnects every ten minutes when I work from home. "
        "I already restarted the laptop twice. It worked fine yesterday.\n" * 4 + QUOTED + SIGNATURE,
        from_addr="jane.doe@customer7.example.com",
        from_name="Jane Doe",
    ),
    message(
        "Facture bloquée dans l'ERP - bon de commande 4500012345",
        "Bonjour,\n\nla facture du fournisseur ne peut pas être rapprochée du bon de commande, l'écran "
        "affiche une erreur de tolérance de prix. Pouvez-vous regarder ? C'est assez urgent pour la "
        "clôture du mois.\n\nMerci d'avance,\n" * 3 + SIGNATURE,
        from_addr="compta@example.fr",
        from_name="Service Comptabilité",
        headers=(("X-Mailer", "Microsoft Outlook 16.0"), ("Content-Language", "fr-FR")),
        attachments=(Attachment("capture.png", "image/png", b"\x89PNG" + bytes(2000)),),
    ),
    message(
        "Re: printer on 2nd floor",
        "It is still printing blank pages.\n" + QUOTED * 2 + SIGNATURE,
        from_addr="bob@example.org",
        from_name="Bob",
        cc=("facilities@example.org",),
    ),
    message(
        "[ALERT] disk usage above 90% on db-prod-2",
        "Trigger: disk usage above 90%\nHost: db-prod-2\nSeverity: High\nValue: 93.4%\n" * 8,
        from_addr="alerts@monitoring.example.org",
        from_name="Zabbix",
        headers=(("X-Mailer", "Zabbix 6.4"), ("Auto-Submitted", "auto-generated")),
    ),
]


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def time_each(call: Callable[[], object], count: int) -> list[float]:
    samples = []
    clock = time.perf_counter
    for _ in range(count):
        start = clock()
        call()
        samples.append(clock() - start)
    return samples


def time_loads(paths: list[Path], *, cold: bool) -> tuple[float, RuleSet]:
    samples = []
    ruleset = RuleSet()
    for _ in range(LOADS):
        if cold:
            re.purge()  # a reload compiles every regex afresh
        start = time.perf_counter()
        ruleset = load_ruleset(paths, levels=(1, 2), articles=None)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3, ruleset


def time_evaluations(ruleset: RuleSet, count: int = EVALUATIONS) -> tuple[list[float], list[int]]:
    samples: list[float] = []
    for index in range(count):
        parsed = MESSAGES[index % len(MESSAGES)]
        samples += time_each(
            lambda parsed=parsed: evaluate(parsed, ("support@example.org",), ruleset, default_level=1), 1
        )
    matched = [len(evaluate(parsed, ("support@example.org",), ruleset).matched) for parsed in MESSAGES]
    return samples, matched


def time_baseline() -> list[float]:
    regex = re.compile(r"(?i)\b(vpn|printer|invoice)\b")
    subject = MESSAGES[0].subject
    search = regex.search

    def naive() -> None:
        for _ in range(RULES):
            search(subject)

    return time_each(naive, EVALUATIONS)


def main() -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        paths = write_rules(Path(folder))
        warm_ms, ruleset = time_loads(paths, cold=False)
        cold_ms, ruleset = time_loads(paths, cold=True)
        baseline = time_baseline()
        evaluations, matched = time_evaluations(ruleset)
        baseline_us = median_us(baseline)
        eval_us = median_us(evaluations)
        p90_us = statistics.quantiles(evaluations, n=10)[-1] * 1e6

        # The same rules without the needle pre-check, to show what it saves.
        original = literals.find_prefilter
        literals.find_prefilter = lambda regex: None  # type: ignore[assignment]
        try:
            plain = load_ruleset(paths, levels=(1, 2), articles=None)
        finally:
            literals.find_prefilter = original  # type: ignore[assignment]
        plain_us = median_us(time_evaluations(plain, PLAIN_EVALUATIONS)[0])

    print(
        f"rules: {len(ruleset.rules)} in {len(paths)} files; messages: {len(MESSAGES)}, "
        f"rules matched per message: {matched}"
    )
    print(
        f"load (median of {LOADS}):      cold {cold_ms:7.1f} ms   warm re cache {warm_ms:7.1f} ms"
        f"   target < 200 ms"
    )
    print(f"evaluate (median of {EVALUATIONS}): {eval_us:7.1f} us   p90 {p90_us:7.1f} us   target < 2000 us")
    print(f"  without needle pre-check (median of {PLAIN_EVALUATIONS}): {plain_us:7.1f} us")
    print(f"baseline, {RULES} x re.search over a subject: {baseline_us:7.1f} us")
    print(
        f"ratios to baseline: evaluate {eval_us / baseline_us:5.2f}x, "
        f"without pre-check {plain_us / baseline_us:5.2f}x, cold load {cold_ms * 1e3 / baseline_us:5.0f}x"
    )
    print(f"bench took {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
