"""Recognise robots that carry none of the standard markers (SPEC section 5, "Robots without markers").

RFC 3834 asks auto-responders to send ``Auto-Submitted``, and ``loops.py``
honours that; many do not (Apple's and Outlook's vacation replies, carrier
notices, list managers). What they do carry is listed here as data, each
pattern with why it is there, so that a new robot is one line to add:

- the words auto-replies put at the head of their subject, in English,
  French, German and the other languages the desk's requesters write in;
- headers that only robots write (``X-Autoreply``, Apple's
  ``X-Apple-Action: VACATION``, ezmlm's ``Mailing-List``, ...) and the
  ``X-Mailer`` of known auto-responders;
- sender addresses that say nobody reads the answer (``no-reply@``).

Subjects are matched at the start and only when the label stands alone or
before a colon: "Out of Office: VPN down" is a robot, "Out of office replies
do not work" is a person asking the desk for help. What the other projects
do was read first: Zammad's auto-response and out-of-office filters, Sisimai's
RFC 3834 detector, Zotonic's receive check and EmailEngine's ``isAutoreply``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Sign(StrEnum):
    """Which kind of evidence made a message a robot's (recorded on the ticket as ``automatic``)."""

    AUTO_REPLY = "auto-reply"  # subject or header of an out-of-office / vacation / automatic reply
    LIST = "list"  # a mailing-list header other than List-Id
    NO_REPLY = "no-reply-sender"  # a sender address that takes no answers


@dataclass(frozen=True)
class RobotSign:
    """A reason to treat a message as automatic, and what matched (to tell why when a person asks)."""

    sign: Sign
    evidence: str


# -- subjects -----------------------------------------------------------------------------

#: Labels auto-replies put first in their subject, accent- and case-insensitive (see ``_fold``).
#: Each counts when it stands alone or is followed by ":" (often with a space before it in French).
AUTO_REPLY_LABELS: tuple[str, ...] = (
    # English: Outlook/Exchange ("Automatic reply:", 2003's "Out of Office AutoReply:"), Apple Mail
    # ("Auto reply:"), Sieve and Dovecot ("Automated reply:").
    "automatic reply",
    "automatic response",
    "automated reply",
    "automated response",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "out of office",
    "out of the office",
    "out-of-office",
    "ooo",
    "oof",
    "away from the office",
    "away from office",
    "vacation reply",
    "vacation notice",
    # French: Outlook ("Réponse automatique :"), Thunderbird and webmail vacation filters.
    "reponse automatique",
    "reponse automatique d'absence",
    "message d'absence",
    "avis d'absence",
    "notification d'absence",
    "absence du bureau",
    "absent du bureau",
    "absente du bureau",
    "repondeur automatique",
    # German: Outlook ("Automatische Antwort:"), Exchange 2003 ("Abwesenheitsnotiz:"), Lotus Notes.
    "automatische antwort",
    "abwesenheitsnotiz",
    "automatische abwesenheitsnotiz",
    "nicht im buro",
    "ausser haus",
    # Neighbours the desk hears from: Dutch, Italian, Spanish, Portuguese, Nordic, Polish, Czech.
    "automatisch antwoord",
    "risposta automatica",
    "fuori sede",
    "fuori ufficio",
    "respuesta automatica",
    "fuera de la oficina",
    "resposta automatica",
    "autosvar",
    "automatisk svar",
    "automatiskt svar",
    "franvaro",
    "automatyczna odpowiedz",
    "automaticka odpoved",
)
#: Words a vacation reply often has as its whole subject (the owner typed it), but that a person
#: may well put before a colon ("Vacation: how do I book days off?"): they count only alone.
ALONE_AUTO_REPLY_SUBJECTS: tuple[str, ...] = (
    "vacation",
    "on vacation",
    "on leave",
    "away",
    "absence",
    "absent",
    "absente",
    "conges",
    "en conges",
    "abwesend",
    "abwesenheit",
    "urlaub",
    "im urlaub",
    "afwezig",
)
#: "Auto:" is what Sieve's vacation extension puts before the subject by default, but "Auto: the car
#: park is full" could be a person: it counts only on a reply (In-Reply-To set), as EmailEngine does.
WEAK_AUTO_REPLY_LABELS: tuple[str, ...] = ("auto",)


def _fold(text: str) -> str:
    """Lower case without accents (Réponse → reponse, Büro → buro, Außer → ausser), spaces squeezed."""
    text = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss"))
    text = "".join(char for char in text if not unicodedata.combining(char))
    return " ".join(text.split())


def _labels_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so that "out of office autoreply" wins over "out of office"; one or more labels
    # in a row ("Out of Office AutoReply:"), then a colon or the end of the subject.
    alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(rf"^(?:{alternatives})(?:\s+(?:{alternatives}))*\s*(?::|$)")


_AUTO_REPLY_SUBJECT = _labels_pattern(AUTO_REPLY_LABELS)
_WEAK_AUTO_REPLY_SUBJECT = _labels_pattern(WEAK_AUTO_REPLY_LABELS)
_ALONE_AUTO_REPLY_SUBJECTS = frozenset(ALONE_AUTO_REPLY_SUBJECTS)


def auto_reply_subject(subject: str, *, is_reply: bool) -> str | None:
    """The label that makes ``subject`` an auto-reply's, or None."""
    folded = _fold(subject)
    if folded.rstrip(" .!:") in _ALONE_AUTO_REPLY_SUBJECTS:
        return folded.rstrip(" .!:")
    match = _AUTO_REPLY_SUBJECT.match(folded)
    if match is None and is_reply:
        match = _WEAK_AUTO_REPLY_SUBJECT.match(folded)
    return match.group(0).rstrip(" :") if match else None


# -- headers ------------------------------------------------------------------------------

#: Headers whose mere presence marks an auto-responder, unless their value says no.
AUTO_REPLY_HEADERS: tuple[str, ...] = (
    "x-autoreply",  # qmail's and many hosting panels' vacation programs
    "x-autorespond",  # Yahoo, cPanel
    "x-autoresponder",
    "x-autoresponse",
    "x-auto-reply",
    "x-mail-autoreply",  # Courier's mailbot
    "x-vacation",
    "x-autoreply-from",
)
#: Values of those headers that deny being automatic.
_DENIALS = frozenset({"no", "false", "0", "off", "none"})

#: Headers that say what a robot is doing, by the value that means "automatic reply".
AUTO_REPLY_HEADER_VALUES: dict[str, re.Pattern[str]] = {
    # Apple iCloud's vacation replies carry no Auto-Submitted, only this.
    "x-apple-action": re.compile(r"vacation", re.IGNORECASE),
    # Precedence: auto_reply is older than RFC 3834 and still sent by some vacation programs.
    "precedence": re.compile(r"^\s*auto[_-]?reply\b", re.IGNORECASE),
    "x-precedence": re.compile(r"^\s*(?:auto[_-]?reply|bulk|junk|list)\b", re.IGNORECASE),
    # Yahoo's vacation responder.
    "x-autogenerated": re.compile(r"reply", re.IGNORECASE),
}

#: ``X-Mailer`` (or ``User-Agent``) of known auto-responders: words no mail client a person uses has
#: in its name. Matched as words, so "Microsoft Outlook 16.0" or "Apple Mail" never match.
AUTO_REPLY_MAILERS = re.compile(
    r"\b(?:vacation|auto[-_ ]?respon(?:d|der|se)|auto[-_ ]?reply|autoreply|out[-_ ]of[-_ ]office|"
    r"mailbot|abwesenheit)\b",
    re.IGNORECASE,
)

#: Exchange marks what an inbox rule generated; with X-Auto-Response-Suppress it is an out-of-office
#: reply (Zammad uses the same pair). X-Auto-Response-Suppress alone is on ordinary Outlook mail too.
EXCHANGE_RULE_LOOP = "x-ms-exchange-inbox-rules-loop"
EXCHANGE_SUPPRESS = "x-auto-response-suppress"

#: Mailing-list headers besides List-Id (which ``loops.py`` handles): ezmlm's Mailing-List, the
#: RFC 2369 List-* headers that newsletters and list managers (fml, Mailman 2) send without List-Id.
LIST_HEADERS: tuple[str, ...] = (
    "mailing-list",
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-help",
    "list-owner",
    "x-mlserver",  # fml
    "x-ml-name",  # fml
    "x-mailing-list",
)


# -- senders ------------------------------------------------------------------------------

#: Local parts of senders that say no person reads the answer (carrier and shop notices, web forms).
NO_REPLY_LOCAL_PART = re.compile(r"^(?:no|do[-_.]?not|dont)[-_.]?reply(?:[-_.+].*)?$", re.IGNORECASE)


def _headers_of(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Lower-case header names to their first value."""
    first: dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name.lower(), value)
    return first


def _header_sign(headers: Mapping[str, str]) -> RobotSign | None:
    for name in AUTO_REPLY_HEADERS:
        value = headers.get(name)
        if value is not None and value.strip().lower() not in _DENIALS:
            return RobotSign(Sign.AUTO_REPLY, f"{name}: {value.strip()[:80]}")
    for name, pattern in AUTO_REPLY_HEADER_VALUES.items():
        value = headers.get(name)
        if value is not None and pattern.search(value):
            return RobotSign(Sign.AUTO_REPLY, f"{name}: {value.strip()[:80]}")
    for name in ("x-mailer", "user-agent"):
        value = headers.get(name)
        if value is not None and AUTO_REPLY_MAILERS.search(value):
            return RobotSign(Sign.AUTO_REPLY, f"{name}: {value.strip()[:80]}")
    if EXCHANGE_RULE_LOOP in headers and EXCHANGE_SUPPRESS in headers:
        return RobotSign(Sign.AUTO_REPLY, f"{EXCHANGE_RULE_LOOP} with {EXCHANGE_SUPPRESS}")
    for name in LIST_HEADERS:
        if name in headers:
            return RobotSign(Sign.LIST, name)
    return None


def find_robot_sign(
    subject: str,
    headers: tuple[tuple[str, str], ...],
    senders: tuple[str | None, ...],
    *,
    is_reply: bool,
) -> RobotSign | None:
    """The first sign that a message without the standard markers was written by a robot, or None.

    ``senders`` are the From address and the envelope sender (either may be None or empty);
    ``is_reply`` says whether the message answers another (In-Reply-To is set).
    """
    header_sign = _header_sign(_headers_of(headers))
    if header_sign is not None:
        return header_sign
    label = auto_reply_subject(subject, is_reply=is_reply)
    if label is not None:
        return RobotSign(Sign.AUTO_REPLY, f"subject: {label}")
    for sender in senders:
        local = (sender or "").strip("<> ").rpartition("@")[0]
        if local and NO_REPLY_LOCAL_PART.match(local):
            return RobotSign(Sign.NO_REPLY, sender or "")
    return None
