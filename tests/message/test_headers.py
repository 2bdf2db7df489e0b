"""Header blocks and address fields mailers get wrong, read as mail clients and help desks read them."""

from __future__ import annotations

import pytest

from maildesk.message.parse import parse_message
from tests.support import CORPUS


def parse(*lines: str, body: str = "Hello.\n"):
    return parse_message(("\n".join(lines) + "\n\n" + body).encode())


def test_unindented_continuation_lines_are_joined():
    parsed = parse(
        "From: Ann <ann@client.com>",
        "To: support@example.org,",
        "bob@example.org",
        "Subject: Printer on the third floor",
        "is on fire",
        "Message-ID: <fire@client.com>",
    )
    assert parsed.to == ("support@example.org", "bob@example.org")
    assert parsed.subject == "Printer on the third floor is on fire"
    assert parsed.from_addr == "ann@client.com"
    assert parsed.text == "Hello.\n"
    assert parsed.repairs == ("header block repaired: 2 unindented continuation line(s) joined",)


def test_unindented_continuation_of_the_last_field_after_a_comma():
    parsed = parse("From: ann@client.com", "Subject: Printer", "Cc: carl@client.com,", "dora@client.com")
    assert parsed.cc == ("carl@client.com", "dora@client.com")
    assert parsed.text == "Hello.\n"


def test_an_unindented_encoded_word_continues_the_last_field():
    parsed = parse(
        "From: ann@client.com", "Subject: =?UTF-8?Q?Personal=C3=A4nderung?=", "=?UTF-8?Q?_ab_Mai?="
    )
    assert parsed.subject == "Personaländerung ab Mai"
    assert parsed.text == "Hello.\n"


def test_a_body_without_blank_line_is_not_taken_for_headers():
    parsed = parse_message(b"From: ann@client.com\nSubject: Printer\nIt is on fire.\nPlease help.\n")
    assert parsed.subject == "Printer"
    assert parsed.text == "It is on fire.\nPlease help.\n"
    assert parsed.repairs == ()


@pytest.mark.parametrize(
    "junk",
    [
        ["---- Original email message ----"],
        ["From ann@client.com Mon Mar  3 08:04:00 2025"],
        [">From ann@client.com Mon Mar  3 08:04:00 2025", "-------- Forwarded Message --------"],
    ],
)
def test_junk_lines_before_the_first_header_are_skipped(junk):
    parsed = parse(*junk, "From: Ann Example <ann@client.com>", "To: support@example.org", "Subject: Printer")
    assert (parsed.from_addr, parsed.from_name) == ("ann@client.com", "Ann Example")
    assert parsed.subject == "Printer"
    assert parsed.text == "Hello.\n"


def test_a_junk_line_is_said_on_the_ticket():
    parsed = parse("---- Original email message ----", "From: ann@client.com", "Subject: Printer")
    assert parsed.repairs == ("header block repaired: 1 line(s) before the first header field skipped",)


def test_text_without_any_header_stays_text():
    parsed = parse_message(b"Just some words\nand more words\n")
    assert parsed.from_addr == "" and parsed.subject == ""
    assert parsed.text == "Just some words\nand more words\n"


@pytest.mark.parametrize(
    ("field", "name", "address"),
    [
        ('"Clement.Si" <claudia@example.com.>', "Clement.Si", "claudia@example.com"),
        ("alice@example.com <bob@example.com>", "alice@example.com", "bob@example.com"),
        ('"bob@example.com" <Carol@Example.com>', "bob@example.com", "carol@example.com"),
        ("Dan Example <dan@example.com.>", "Dan Example", "dan@example.com"),
        ("John Doe <jdoe@machine(comment).  example>", "John Doe", "jdoe@machine.example"),
    ],
)
def test_the_address_in_angle_brackets_is_the_address(field, name, address):
    parsed = parse(f"From: {field}", "Subject: x")
    assert (parsed.from_name, parsed.from_addr) == (name, address)
    assert parsed.from_header == "from"


@pytest.mark.parametrize(
    ("lines", "address", "header"),
    [
        (
            ['From: "Name" <>', "Reply-To: Ann <ann@client.com>", "Sender: bot@client.com"],
            "ann@client.com",
            "reply-to",
        ),
        (["Sender: Ben <ben@client.com>", "Return-Path: <bounce@client.com>"], "ben@client.com", "sender"),
        (["From: undisclosed", "Return-Path: <carl@client.com>"], "carl@client.com", "return-path"),
    ],
)
def test_without_a_from_address_the_requester_comes_from_the_next_header(lines, address, header):
    parsed = parse(*lines, "Subject: Printer")
    assert (parsed.from_addr, parsed.from_header) == (address, header)
    assert f"requester taken from {header.title()}: From has no address" in parsed.repairs


def test_an_empty_return_path_gives_no_requester():
    parsed = parse("From: <>", "Return-Path: <>", "Subject: Delivery failure")
    assert (parsed.from_addr, parsed.from_header, parsed.repairs) == ("", "from", ())


def test_a_from_address_is_never_replaced_by_reply_to():
    parsed = parse("From: Ann <ann@client.com>", "Reply-To: list@client.com", "Subject: x")
    assert (parsed.from_addr, parsed.from_header, parsed.repairs) == ("ann@client.com", "from", ())


@pytest.mark.parametrize(
    ("path", "address", "name", "header"),
    [
        # An address as display name, the real one in the angle brackets (was "jang.abcdef@xyzlinu").
        ("mimekit/messages/issue358.txt", "jang.abcdef@xyzlinux12345678.it", "jang.abcdef@xyzlinu", "from"),
        ("spamscope-mail-parser/mail_test_19", "bob@example.com", "alice@example.com", "from"),
        # A bounce with no From: the MTA's Return-Path.
        ("flufl-bounce/simple_13.txt", "mailer-daemon@sb7.songbird.com", "", "return-path"),
        # Obsolete syntax: spaces before the colons, a comment inside the address.
        ("mikel-mail/rfc2822/example13.eml", "jdoe@machine.example", "John Doe", "from"),
    ],
)
def test_corpus_senders(path, address, name, header):
    parsed = parse_message((CORPUS / path).read_bytes())
    assert (parsed.from_addr, parsed.from_name, parsed.from_header) == (address, name, header)
