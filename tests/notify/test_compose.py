"""Composed mail: the SPEC section 5 headers, threading, encoding, and no header injection."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from maildesk.notify.compose import compose, thread_references
from maildesk.notify.render import RenderedMail

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def _compose(rendered: RenderedMail | None = None, **overrides) -> tuple[str, bytes]:
    arguments = dict(
        from_addr="support@example.org",
        from_name="Example Support",
        to="user@example.com",
        reply_to="support+42-abcdefghij@example.org",
        ticket=42,
        loop_address="support@example.org",
        in_reply_to="<request-1@client.example.com>",
        references=("<root@client.example.com>",),
        message_id_domain="example.org",
        now=NOW,
    )
    arguments.update(overrides)
    return compose(rendered or RenderedMail("[Support #42] VPN down", "Hello.\n", None), **arguments)


def _parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)


def _header_names(data: bytes) -> list[str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line and not line[0].isspace()]


def test_reply_carries_every_spec_header():
    message_id, data = _compose()
    parsed = _parse(data)
    assert parsed["From"] == "Example Support <support@example.org>"
    assert parsed["To"] == "user@example.com"
    assert parsed["Reply-To"] == "support+42-abcdefghij@example.org"
    assert parsed["Subject"] == "[Support #42] VPN down"
    assert parsed["Date"].datetime == NOW
    assert parsed["Message-ID"] == message_id and message_id.endswith("@example.org>")
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Loop"] == "support@example.org"
    assert parsed["X-Maildesk-Ticket"] == "42"
    assert parsed["In-Reply-To"] == "<request-1@client.example.com>"
    assert parsed["References"].split() == ["<root@client.example.com>", "<request-1@client.example.com>"]
    assert parsed["MIME-Version"] == "1.0"
    assert "precedence" not in _header_names(data)
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


def test_message_ids_are_fresh():
    first, _ = _compose()
    second, _ = _compose()
    assert first != second


def test_mail_that_answers_nothing_is_auto_generated_without_threading_headers():
    _, data = _compose(in_reply_to=None, references=(), ticket=None, reply_to=None)
    parsed = _parse(data)
    assert parsed["Auto-Submitted"] == "auto-generated"
    for name in ("in-reply-to", "references", "x-maildesk-ticket", "reply-to"):
        assert name not in _header_names(data)


def test_html_makes_multipart_alternative():
    _, data = _compose(RenderedMail("Subject", "Plain\n", "<p>Rich</p>\n"))
    parsed = _parse(data)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Rich</p>"


@pytest.mark.parametrize(
    "evil",
    [
        "Hi\r\nBcc: evil@x.example",
        "Hi\nBcc: evil@x.example",
        "Hi\rBcc: evil@x.example",
        "Hi\x00\r\n\r\nBody injected",
        "Hi\u2028Bcc: evil@x.example",
        "Hi\x85Bcc: evil@x.example",
    ],
)
def test_subject_and_display_name_cannot_inject_headers(evil):
    _, data = _compose(RenderedMail(evil, "Hello.\n", None), from_name=evil)
    parsed = _parse(data)
    names = _header_names(data)
    assert "bcc" not in names
    assert names.count("subject") == 1 and names.count("from") == 1
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])
    assert str(parsed["Subject"]).startswith("Hi ")
    assert parsed["From"].addresses[0].addr_spec == "support@example.org"
    assert parsed.get_content().replace("\r\n", "\n") == "Hello.\n"


@pytest.mark.parametrize("field", ["to", "from_addr", "reply_to", "loop_address"])
@pytest.mark.parametrize(
    "bad",
    [
        "user@example.com\r\nBcc: evil@x.example",
        "user@example.com, evil@x.example",
        "Name <user@example.com>",
        "user @example.com",
        "not-an-address",
        "user@exa\nmple.com",
        "user@example.com>",
    ],
)
def test_unsafe_addresses_are_refused(field, bad):
    with pytest.raises(ValueError):
        _compose(**{field: bad})


def test_non_ascii_subject_and_name_round_trip_encoded():
    subject = "[Support #42] Réinitialisation du mot de passe — échec 😕"
    _, data = _compose(
        RenderedMail(subject, "Bonjour, ça marche ?\n", None), from_name="Équipe Support, Niveau 2"
    )
    assert data.isascii()  # RFC 2047 in headers, quoted-printable/base64 in the body
    parsed = _parse(data)
    assert parsed["Subject"] == subject
    assert parsed["From"].addresses[0].display_name == "Équipe Support, Niveau 2"
    assert parsed.get_content().replace("\r\n", "\n") == "Bonjour, ça marche ?\n"


def test_long_message_ids_are_folded_but_never_encoded():
    ids = [f"<{'x' * 70}.{n}@very-long-host-name.client.example.com>" for n in range(30)]
    _, data = _compose(in_reply_to=ids[-1], references=ids[:-1])
    assert b"=?" not in data
    parsed = _parse(data)
    references = parsed["References"].split()
    assert len(references) == 20
    assert references[0] == ids[0] and references[-1] == ids[-1]
    assert parsed["In-Reply-To"] == ids[-1]
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        assert len(line) <= 998


def test_thread_references_deduplicates_and_puts_the_parent_last():
    assert thread_references(["<a@x>", "<b@x>", "<a@x>", "<c@x>"], "<b@x>") == ["<a@x>", "<c@x>", "<b@x>"]
    assert thread_references(["bare@x", "<bad id@x>", "<ok@x>\r\nBcc: y"], None) == ["<bare@x>"]


def test_unusable_in_reply_to_still_marks_the_mail_as_a_reply():
    _, data = _compose(in_reply_to="<broken\r\nBcc: evil@x>", references=())
    names = _header_names(data)
    assert "bcc" not in names and "in-reply-to" not in names
    assert _parse(data)["Auto-Submitted"] == "auto-replied"


def test_naive_now_is_taken_as_utc():
    _, data = _compose(now=datetime(2026, 11, 22, 9, 0))
    assert _parse(data)["Date"].datetime == NOW


def test_idn_domain_is_converted():
    _, data = _compose(to="jose@españa.example")
    assert _parse(data)["To"] == "jose@xn--espaa-rta.example"
