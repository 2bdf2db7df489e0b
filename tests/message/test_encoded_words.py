"""RFC 2047 encoded-words as mailers really write them, decoded as Thunderbird does (issue 10)."""

from __future__ import annotations

import pytest

from maildesk.message.encoded_words import decode_header_value
from maildesk.message.parse import parse_message
from tests.support import CORPUS


def subject_of(raw: str) -> str:
    return parse_message(f"From: ann@client.com\nSubject: {raw}\n\nHello.\n".encode()).subject


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # spaces inside the encoded-word
        ("=?UTF-8?Q? Personal=C3=A4nderung?=", "Personaländerung"),
        ("=?UTF-8?Q?Personal=C3=A4nderung ?= ab Mai", "Personaländerung ab Mai"),
        ("=?utf-8?B? UGVyc29uYWzDpG5kZXJ1bmc= ?=", "Personaländerung"),
        # cut in two by header folding
        ("=?UTF-8?Q?Personal=C3=A4nd\n erung_zum_1._Mai?=", "Personaländerung zum 1. Mai"),
        ("=?UTF-8?B?UGVyc29uYWzD\n pG5kZXJ1bmc=?=", "Personaländerung"),
        ("=?UTF-8?Q?Caf=C3=A9_?=\n =?UTF-8?Q?cr=C3=A8me?=", "Café crème"),
        # unknown or missing charset
        ("=?x-unknown?Q?Caf=C3=A9?=", "Café"),
        ("=??Q?Caf=C3=A9?=", "Café"),
        ("=?unknown-8bit?Q?Caf=E9_cr=E8me?=", "Café crème"),
        # adjacent words without white space, and words inside a word
        ("=?UTF-8?Q?Bonjour_?==?UTF-8?Q?=C3=A0_tous?=", "Bonjour à tous"),
        ("Re:=?UTF-8?Q?R=C3=A9union?=s du lundi", "Re:Réunions du lundi"),
        ("Pr=?iso-8859-1?Q?=E9?=sentation", "Présentation"),
        # a multi-byte character split across two words
        ("=?utf-8?q?caf=C3?= =?utf-8?q?=A9?= ok", "café ok"),
        # lower-case encodings and a language suffix (RFC 2231)
        ("=?utf-8*de?q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
    ],
)
def test_encoded_words_in_the_wild(raw, expected):
    assert subject_of(raw) == expected


def test_encoded_display_name_with_spaces_inside():
    parsed = parse_message(
        b"From: =?UTF-8?Q? J=C3=BCrgen M=C3=BCller?= <JM@example.de>\nSubject: x\n\nHello.\n"
    )
    assert (parsed.from_name, parsed.from_addr) == ("Jürgen Müller", "jm@example.de")


def test_text_that_only_looks_like_an_encoded_word_stays():
    assert subject_of("Price =?20% off?= today") == "Price =?20% off?= today"
    assert subject_of("=?UTF-8?B?!!!notbase64?=") == "=?UTF-8?B?!!!notbase64?="


def test_a_header_full_of_unterminated_words_is_linear():
    value = "=?utf-8?q?" * 50_000
    assert decode_header_value(value) == value


def test_corpus_subject_mixing_plain_text_and_encoded_words():
    parsed = parse_message(
        (CORPUS / "mikel-mail/plain_emails/raw_email_with_partially_quoted_subject.eml").read_bytes()
    )
    assert parsed.subject == 'Re: Test: "漢字" mid "漢字" tail'


def test_folded_encoded_from_header_parses_without_a_defect():
    parsed = parse_message(
        b"From: =?utf-8?b?Q8OpbGluZSBMZW1hw650cmU=?=\n <c.lemaitre@example.fr>\n\nHello.\n"
    )
    assert parsed.from_addr == "c.lemaitre@example.fr"
    assert parsed.from_name == "Céline Lemaître"
    assert parsed.defects == ()


def test_display_name_split_over_several_encoded_words_is_joined():
    parsed = parse_message(
        b"From: =?UTF-8?B?TXlTdXJ2ZXk=?=\n =?UTF-8?B?LmNvbSAmIEM=?=\n =?UTF-8?B?YXJvbCBBZGE=?="
        b" <carol@example.com>\n\nHello.\n"
    )
    assert parsed.from_name == "MySurvey.com & Carol Ada"
    assert parsed.from_addr == "carol@example.com"
