"""The rule conditions: each compiles its TOML value once into a predicate over a message."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from maildesk.rules import literals
from maildesk.rules.literals import fold
from maildesk.types import ParsedMessage

_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable ASCII but ":"
_DOMAIN = re.compile(r"[^@\s<>\"]+")


class MatchInput:
    """The facts of one message that conditions look at, computed once per evaluation."""

    __slots__ = (
        "parsed",
        "subject",
        "subject_key",
        "text",
        "text_key",
        "from_addr",
        "from_name",
        "from_domain",
        "recipients",
        "headers",
        "has_attachment",
    )

    def __init__(self, parsed: ParsedMessage, rcpt_tos: Sequence[str] = ()) -> None:
        self.parsed = parsed
        self.subject = parsed.subject
        self.subject_key = fold(parsed.subject)
        self.text = parsed.text
        self.text_key = fold(parsed.text)
        self.from_addr = parsed.from_addr
        self.from_name = parsed.from_name
        self.from_domain = parsed.from_addr.rpartition("@")[2].lower() if "@" in parsed.from_addr else ""
        recipients = list(parsed.to)
        for address in (*parsed.cc, *rcpt_tos):
            address = address.strip().strip("<>").lower()
            if address not in recipients:
                recipients.append(address)
        self.recipients = tuple(recipients)
        headers: dict[str, list[str]] = {}
        for name, value in parsed.headers:
            headers.setdefault(name.lower(), []).append(value)
        self.headers = headers
        self.has_attachment = bool(parsed.attachments)


Predicate = Callable[[MatchInput], bool]


class ConditionError(ValueError):
    """A condition value that cannot be compiled; each problem names its sub-key (for if.header)."""

    def __init__(self, problems: list[tuple[tuple[str, ...], str]]) -> None:
        super().__init__("; ".join(message for _key, message in problems))
        self.problems = problems


@dataclass(frozen=True)
class Condition:
    """One kind of ``if.*`` condition."""

    compile: Callable[[object], Predicate]
    cost: int  # rough relative cost: a rule tests its cheapest conditions first, to fail fast


def show(value: object) -> str:
    """A TOML value as the admin wrote it, for error messages."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _problem(message: str, subkey: tuple[str, ...] = ()) -> ConditionError:
    return ConditionError([(subkey, message)])


def compile_regex(value: object, subkey: tuple[str, ...] = ()) -> re.Pattern[str]:
    """Compile a rule regex; an error or a warning from ``re`` is a problem with the rule."""
    if not isinstance(value, str):
        raise _problem(f"must be a string (a regular expression), not {show(value)}", subkey)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "possible nested set": the meaning is about to change
        try:
            return re.compile(value)
        except re.error as exc:
            raise _problem(f"bad regex: {exc}", subkey) from None
        except (Warning, OverflowError, RecursionError) as exc:
            raise _problem(f"bad regex: {exc}", subkey) from None


def _search_field(regex: re.Pattern[str], field: str) -> Predicate:
    """Search one text field; look for the regex's needles in its folded copy first (see literals)."""
    search = regex.search
    text_of = attrgetter(field)
    prefilter = literals.find_prefilter(regex)
    if prefilter is None:
        return lambda m: search(text_of(m)) is not None
    key_of = attrgetter(field + "_key")
    # (needle, lead, how far past a start position the needle can end); no lead: search from 0
    needles = tuple(
        (needle, lead if lead is not None else -1, (lead or 0) + len(needle) - 1)
        for needle, lead in prefilter.needles
    )

    def test(m: MatchInput) -> bool:
        key = key_of(m)
        start = len(key)  # no match can start before this
        for needle, lead, tail in needles:
            # only an occurrence that would move the start earlier is worth finding
            found = key.find(needle, 0, start + tail)
            if found >= 0:
                if lead < 0 or found <= lead:
                    return search(text_of(m)) is not None
                start = found - lead
        if start == len(key):
            return False
        return search(text_of(m), start) is not None

    return test


def compile_subject(value: object) -> Predicate:
    return _search_field(compile_regex(value), "subject")


def compile_body(value: object) -> Predicate:
    return _search_field(compile_regex(value), "text")


def compile_from(value: object) -> Predicate:
    search = compile_regex(value).search
    return lambda m: search(m.from_addr) is not None or search(m.from_name) is not None


def compile_to(value: object) -> Predicate:
    search = compile_regex(value).search

    def test(m: MatchInput) -> bool:  # a loop, not any(): no generator per message on the hot path
        for address in m.recipients:  # noqa: SIM110
            if search(address) is not None:
                return True
        return False

    return test


def compile_from_domain(value: object) -> Predicate:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
        raise _problem(f"must be a domain or a list of domains, not {show(value)}")
    domains = set()
    for item in items:
        domain = item.strip().lower()
        if domain.startswith("@"):
            domain = domain[1:]
        if not _DOMAIN.fullmatch(domain) or "." not in domain and domain != "localhost":
            raise _problem(f'{show(item)} is not a domain like "example.com"')
        domains.add(domain)
    if len(domains) == 1:
        (only,) = domains
        return lambda m: m.from_domain == only
    wanted = frozenset(domains)
    return lambda m: m.from_domain in wanted


def compile_header(value: object) -> Predicate:
    if not isinstance(value, dict) or not value:
        raise _problem(
            f'must be a table of header names and regexes, like if.header."X-Mailer" = "Outlook", '
            f"not {show(value)}"
        )
    problems: list[tuple[tuple[str, ...], str]] = []
    wanted: list[tuple[str, Callable[[str], object]]] = []
    for name, pattern in value.items():
        if not _HEADER_NAME.fullmatch(name):
            problems.append(((name,), f"{show(name)} is not a header name"))
            continue
        try:
            wanted.append((name.lower(), compile_regex(pattern, (name,)).search))
        except ConditionError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConditionError(problems)
    checks = tuple(wanted)

    # A header that occurs several times (Received, Comments) matches when any occurrence does.
    def test(m: MatchInput) -> bool:
        headers = m.headers
        for name, search in checks:
            values = headers.get(name)
            if values is None:
                return False
            for text in values:
                if search(text) is not None:
                    break
            else:
                return False
        return True

    return test


def compile_has_attachment(value: object) -> Predicate:
    if not isinstance(value, bool):
        raise _problem(f"must be true or false, not {show(value)}")
    if value:
        return lambda m: m.has_attachment
    return lambda m: not m.has_attachment


CONDITIONS: dict[str, Condition] = {
    "has_attachment": Condition(compile_has_attachment, cost=0),
    "from_domain": Condition(compile_from_domain, cost=1),
    "from": Condition(compile_from, cost=2),
    "to": Condition(compile_to, cost=3),
    "header": Condition(compile_header, cost=4),
    "subject": Condition(compile_subject, cost=5),
    "body": Condition(compile_body, cost=9),
}
