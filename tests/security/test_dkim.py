"""dkim_passes: a trusted Authentication-Results header must report dkim=pass for the From domain."""

from __future__ import annotations

import pytest

from maildesk.message.parse import parse_message
from maildesk.security.dkim import dkim_pass_domains, dkim_passes
from tests.support import make_message

TRUSTED = ("mx.example.org",)


def _parsed(*results: str, sender: str = "alice@example.org"):
    headers = {}
    data = make_message(sender=sender, headers=headers)
    head, _, body = data.partition(b"\r\n\r\n")
    extra = b"".join(f"Authentication-Results: {value}\r\n".encode() for value in results)
    return parse_message(extra + head + b"\r\n\r\n" + body)


@pytest.mark.parametrize(
    "header",
    [
        "mx.example.org; dkim=pass header.d=example.org",
        "MX.Example.ORG; DKIM=Pass header.d=Example.Org",
        "mx.example.org 1; dkim=pass header.i=@example.org",
        "mx.example.org; dkim=pass header.i=alice@example.org header.s=sel",
        "mx.example.org (Postfix); spf=pass smtp.mailfrom=example.org;\r\n dkim=pass (2048-bit key; unprotected) "
        "header.d=example.org header.s=s1 header.b=AbCd; dmarc=pass header.from=example.org",
        'mx.example.org; dkim=pass reason="good signature" header.d=example.org',
        'mx.example.org; dkim=pass header.d="example.org"',
    ],
)
def test_a_trusted_pass_for_the_from_domain(header):
    assert dkim_passes(_parsed(header), TRUSTED)


@pytest.mark.parametrize(
    "header",
    [
        "mx.example.org; dkim=fail header.d=example.org",
        "mx.example.org; dkim=neutral header.d=example.org",
        "mx.example.org; dkim=none",
        "mx.example.org; none",
        "mx.example.org; dkim=pass",  # no domain at all
        "mx.example.org; dkim=pass header.d=evil.example",
        "mx.example.org; dkim=pass header.d=mail.example.org",  # a subdomain is not the From domain
        "mx.example.org; dkim=pass header.d=org",
        "mx.example.org; spf=pass smtp.mailfrom=example.org",
        "mx.example.org; dmarc=pass header.from=example.org",
        "relay.evil.example; dkim=pass header.d=example.org",  # untrusted authserv-id
        "example.org; dkim=pass header.d=example.org",
    ],
)
def test_anything_else_does_not_pass(header):
    assert not dkim_passes(_parsed(header), TRUSTED)


@pytest.mark.parametrize(
    "header",
    [
        "",
        ";",
        "garbage",
        "mx.example.org",
        "mx.example.org;",
        "mx.example.org; dkim",
        "mx.example.org; dkim=",
        "mx.example.org; dkim=pass header.d=example.org ((((",
        "mx.example.org; =pass",
        "\x00\x01",
        "mx.example.org; dkim=pass header.d=" + "a" * 5000,
        "mx.example.org/1; dkim=pass header.d=example.org",
        "mx.example.org; dkim/9=pass header.d=example.org",
        "\u00e9\u00e9; dkim=pass header.d=example.org",
    ],
)
def test_garbage_never_raises_and_never_passes_by_accident(header):
    assert dkim_passes(_parsed(header), TRUSTED) in (False, True)
    assert not dkim_passes(_parsed(header), ("relay.evil.example",))


def test_one_good_trusted_header_among_others_is_enough():
    parsed = _parsed(
        "relay.evil.example; dkim=fail header.d=example.org",
        "garbage ;;; (",
        "mx.example.org; dkim=fail header.d=example.org; dkim=pass header.d=example.org",
    )
    assert dkim_passes(parsed, TRUSTED)


def test_an_untrusted_pass_does_not_count_even_next_to_a_trusted_fail():
    parsed = _parsed(
        "relay.evil.example; dkim=pass header.d=example.org", "mx.example.org; dkim=fail header.d=example.org"
    )
    assert not dkim_passes(parsed, TRUSTED)


def test_no_trusted_servers_means_nothing_passes():
    assert not dkim_passes(_parsed("mx.example.org; dkim=pass header.d=example.org"), ())


def test_without_a_from_address_nothing_passes():
    parsed = _parsed("mx.example.org; dkim=pass header.d=example.org")
    import dataclasses

    assert not dkim_passes(dataclasses.replace(parsed, from_addr=""), TRUSTED)


def test_no_header_at_all():
    assert not dkim_passes(_parsed(), TRUSTED)


def test_pass_domains_reads_header_pairs_directly():
    headers = (
        ("Received", "from x"),
        ("authentication-results", "mx.example.org; dkim=pass header.d=a.example"),
        ("Authentication-Results", "mx.example.org; dkim=pass header.i=bob@b.example"),
        ("Authentication-Results", None),
    )
    assert dkim_pass_domains(headers, [" MX.example.org "]) == {"a.example", "b.example"}
