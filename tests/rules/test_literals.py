"""The needle pre-check may let texts through that the regex rejects, never the reverse."""

from __future__ import annotations

import re
import sys

import pytest

from maildesk.rules import CONDITIONS, MatchInput
from maildesk.rules.literals import _SPECIAL, find_prefilter, fold

from .factory import make_message


@pytest.mark.parametrize(
    ("pattern", "needles"),
    [
        ("(?i)virus|phishing|ransom", {"virus", "phishing", "ransom"}),
        (r"(?i)\bERP\b", {"erp"}),  # anchors take no characters
        ("password", {"password"}),
        ("(?i)forgot(ten)? (my )?password", {"password"}),
        ("(?i)mot de passe oubli[ée]", {"mot de passe oubli"}),
        ("(?i)(données|data) protection", {" protection"}),
        ("(abc)+def", {"abc"}),
        ("x*", None),
        ("(?i)a|bc", None),  # needles shorter than 3 are not worth looking for
        (".*", None),
        ("(?x) spaced  out  # comment", {"spacedout"}),
    ],
)
def test_needles_found_for_common_patterns(pattern: str, needles: set[str] | None) -> None:
    found = find_prefilter(re.compile(pattern))
    assert (None if found is None else {needle for needle, _lead in found.needles}) == needles


@pytest.mark.parametrize(
    ("pattern", "leads"),
    [
        (r"(?i)\b(vpn|printer)\b", {"printer": 0, "vpn": 0}),
        (r"error.*", {"error": 0}),
        (r"\d{3}-error", {"-error": 3}),
        (r"(?i)crm|account|purchase\s+order", {"purchase": 0, "account": 0, "crm": 0}),
        (r".*error", {"error": None}),
        (r"(?:ab|x{1,3}abc)def|[a-z]+ghijk", {"def": 6, "ghijk": None}),
    ],
)
def test_leads_bound_where_a_match_starts(pattern: str, leads: dict[str, int | None]) -> None:
    found = find_prefilter(re.compile(pattern))
    assert found is not None
    assert dict(found.needles) == leads


def test_fold_maps_re_case_lookalikes_to_ascii() -> None:
    assert fold("V\u0130RUS \u017fcam \u212aey") == "virus scam key"
    assert fold("Données") == "données"


def test_fold_keeps_positions() -> None:
    changed = [
        cp for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF and len(fold(chr(cp))) != 1
    ]
    assert changed == []


def test_exactly_these_non_ascii_characters_match_ascii_letters_ignoring_case() -> None:
    letters = re.compile("(?i)[a-z]")
    lookalikes = {
        chr(cp)
        for cp in range(0x80, sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF and letters.fullmatch(chr(cp))
    }
    assert lookalikes == set(_SPECIAL)


PATTERNS = [
    "(?i)virus|phishing|ransom",
    r"(?i)\bkey\b",
    "(?i)password",
    "Password",
    r"(?i)\bss\b",
    "(?i)fichiers? chiffr",
    r"(?i)(forgot|reset)\s+(my\s+)?password",
    "(?i)(?:ab|cd)ef{2,}",
    r"(?i)scam(mer)?s?",
    r"(?m)^start error",
    r"(?<=\()error\)",
    r"(?<!x)error",
    r"\bkey\b",
    r"(?i)KEY$",
    "pre.*ransom",
    r"(?i)y{3,}ransom|passwords?",
    r"-{2,5}key",
    r"(?i)\w+\s+password|here",
]
TEXTS = [
    "VIRUS",
    "vİrus",
    "vırus",
    "paſsword",
    "\u212aey",
    "a KEY here",
    "PASSWORD",
    "Password",
    "pass word",
    "ſs",
    "Fichier chiffré",
    "FORGOT  my PASSWORD",
    "reset\tpassword",
    "CDEFF",
    "abef",
    "SCAMMERS",
    "",
    # the needle early but not in a match, the match far later: the search must still find it
    "passwords" + "x" * 300 + " reset my\n password",
    "keys " + "-" * 500 + "KEY",
    "pre" + "y" * 200 + "ransom",
    "mid\nline" * 50 + "\nstart error here",
    "xerror" + "." * 100 + "(error)",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pre_check_never_hides_a_regex_match(pattern: str) -> None:
    regex = re.compile(pattern)
    for field, condition in (("subject", "subject"), ("text", "body")):
        predicate = CONDITIONS[condition].compile(pattern)
        for text in TEXTS:
            message = MatchInput(make_message(**{field: text}))
            assert predicate(message) is (regex.search(text) is not None), (pattern, text)
