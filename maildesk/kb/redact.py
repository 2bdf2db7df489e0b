"""Mask what identifies a person in a draft article: names, addresses, phone, bank, card and ID numbers.

A draft is made from one requester's ticket and may later be sent to anyone,
so whatever could name or reach that person, or pay with their money, is
replaced by ``[redacted]`` (SPEC section 11). Numbers are masked only when
their check digits hold (IBAN mod 97, Luhn, the NIR key), so an order number
or a version string survives; phone numbers are recognised by the
``phonenumbers`` library, which knows each country's numbering plan.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import phonenumbers
from stdnum import iban, luhn
from stdnum.be import nn as belgian_nn
from stdnum.es import dni as spanish_dni
from stdnum.fr import nir as french_nir

MASK = "[redacted]"

# Countries whose national phone formats are tried (numbers written with +CC match in any of them).
PHONE_REGIONS = ("FR", "BE", "CH", "DE", "GB", "US")

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{1,4}){3,9}\b", re.IGNORECASE)
_CARD = re.compile(r"(?<![\w-])\d{4}(?:[ -]?\d{1,4}){2,4}(?![\w-])")
_NATIONAL_IDS: tuple[tuple[re.Pattern[str], Callable[[str], bool]], ...] = (
    (
        re.compile(r"\b[12][ .]?\d{2}[ .]?\d{2}[ .]?(?:\d{2}|2[AB])[ .]?\d{3}[ .]?\d{3}[ .]?\d{2}\b"),
        french_nir.is_valid,
    ),
    (re.compile(r"\b\d{2}[ .]?\d{2}[ .]?\d{2}[ .-]?\d{3}[ .-]?\d{2}\b"), belgian_nn.is_valid),
    (re.compile(r"\b\d{8}[ -]?[A-Z]\b"), spanish_dni.is_valid),
)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_STREET = re.compile(
    r"\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|chemin|impasse|place|all[ée]e|route|"
    r"quai|cours|street|st\.|road|rd\.|lane|drive|way)\b[^\n,;]{0,60}",
    re.IGNORECASE,
)
_POSTCODE_CITY = re.compile(r"\b\d{5}\s+[A-ZÀ-Ý][\w'-]+(?:[ -][A-ZÀ-Ý][\w'-]+)*")
_NAME_WORD = re.compile(r"[^\W\d_]{3,}")
# Words of a display name or address local part that name no one (roles, particles, titles).
_NOT_NAMES = frozenset(
    {
        "info",
        "contact",
        "support",
        "admin",
        "user",
        "help",
        "service",
        "services",
        "team",
        "desk",
        "noreply",
        "no-reply",
        "sales",
        "mail",
        "office",
        "the",
        "and",
        "van",
        "von",
        "der",
        "den",
        "del",
        "della",
        "mme",
        "mrs",
        "miss",
        "monsieur",
        "madame",
    }
)


@dataclass(frozen=True)
class People:
    """Who a ticket is about: display names and e-mail addresses from its headers."""

    names: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()  # addresses that stay (the desk's own, which anyone may write to)


def redact(text: str, people: People = People()) -> str:
    """``text`` with every identifying piece replaced by ``[redacted]``.

    Order matters: long checked numbers first (an IBAN holds digit runs a
    phone matcher would take for a number), then addresses, phone numbers
    and finally names, so that a name inside an address goes with it.
    """
    text = _mask_checked(text, _IBAN, _valid_iban)
    text = _mask_checked(text, _CARD, _valid_card)
    for pattern, valid in _NATIONAL_IDS:
        text = _mask_checked(text, pattern, functools.partial(_quiet, valid))
    keep = {address.lower() for address in people.keep}
    text = _EMAIL.sub(lambda m: m.group(0) if m.group(0).lower() in keep else MASK, text)
    text = _mask_phones(text)
    text = _STREET.sub(MASK, text)
    text = _POSTCODE_CITY.sub(MASK, text)
    return _mask_names(text, _name_words(people))


def _quiet(check: Callable[[str], bool], value: str) -> bool:
    try:
        return bool(check(value))
    except Exception:  # noqa: BLE001 - a validator that chokes on a candidate means "not one"
        return False


def _valid_iban(candidate: str) -> int:
    """The length of the longest prefix (whole groups) of ``candidate`` that is a valid IBAN, else 0."""
    groups = re.split(r"([ -])", candidate)
    for end in range(len(groups), 0, -2):
        piece = "".join(groups[:end])
        compact = re.sub(r"[ -]", "", piece)
        if 15 <= len(compact) <= 34 and _quiet(iban.is_valid, compact.upper()):
            return len(piece)
    return 0


def _valid_card(candidate: str) -> int:
    digits = re.sub(r"\D", "", candidate)
    return len(candidate) if 13 <= len(digits) <= 19 and _quiet(luhn.is_valid, digits) else 0


def _mask_checked(text: str, pattern: re.Pattern[str], valid: Callable[[str], int | bool]) -> str:
    """Mask each match of ``pattern`` that ``valid`` accepts (an int: the length of the part to mask)."""
    pieces: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        if match.start() < last:
            continue
        verdict = valid(match.group(0))
        length = len(match.group(0)) if verdict is True else int(verdict)
        if length:
            pieces += [text[last : match.start()], MASK]
            last = match.start() + length
    return "".join(pieces) + text[last:]


def _mask_phones(text: str) -> str:
    for region in PHONE_REGIONS:
        spans = [
            (m.start, m.end)
            for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
        ]
        for start, end in reversed(spans):
            text = text[:start] + MASK + text[end:]
    return text


def _name_words(people: People) -> set[str]:
    """Words that name someone: those of each display name, and of address local parts like ann.martin."""
    sources: list[str] = list(people.names)
    for address in people.addresses:
        local = address.partition("@")[0]
        if re.search(r"[._-]", local):
            sources.append(re.sub(r"[._-]+", " ", local))
    return {
        word for source in sources for word in _NAME_WORD.findall(source) if word.lower() not in _NOT_NAMES
    }


def _mask_names(text: str, words: Iterable[str]) -> str:
    """Each name word as written capitalised or in capitals ("Martin", "MARTIN"): "will" is no "Will"."""
    forms = {form for word in words for form in (word[:1].upper() + word[1:].lower(), word.upper())}
    if not forms:
        return text
    alternatives = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    return re.sub(rf"(?<!\w)(?:{alternatives})(?!\w)", MASK, text)
