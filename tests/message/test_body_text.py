"""Which text is the message, and what text its HTML gives, as a mail client shows them."""

from __future__ import annotations

import pytest

from maildesk.message.html_text import html_to_text
from maildesk.message.parse import parse_message
from tests.support import CORPUS

HTML = (
    "<html><body><p>Hello,</p><p>The printer on the <b>third</b> floor prints only blank pages "
    "since this morning. Could you send someone?</p><p>Thanks, Ann</p></body></html>"
)
HTML_TEXT = (
    "Hello,\n\nThe printer on the third floor prints only blank pages since this morning. "
    "Could you send someone?\n\nThanks, Ann"
)


def alternative(plain: str, html: str = HTML) -> bytes:
    return (
        "From: Ann <ann@client.com>\nSubject: Printer\nMIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="b"\n\n'
        f"--b\nContent-Type: text/plain; charset=utf-8\n\n{plain}\n"
        f"--b\nContent-Type: text/html; charset=utf-8\n\n{html}\n--b--\n"
    ).encode()


def html_only(html: str) -> bytes:
    return (
        f"From: ann@client.com\nSubject: Printer\nContent-Type: text/html; charset=utf-8\n\n{html}".encode()
    )


@pytest.mark.parametrize(
    ("plain", "why"),
    [
        ("", "the plain-text part is empty"),
        ("   \n\n", "the plain-text part is empty"),
        (
            "This is an HTML message, please view it in HTML.",
            "the plain-text part only says to read the HTML",
        ),
        (
            "Your email client does not support HTML messages.",
            "the plain-text part only says to read the HTML",
        ),
        ("Hello,", "the plain-text part lacks most of its text"),
    ],
)
def test_the_html_part_wins_over_an_empty_stub_or_short_plain_part(plain, why):
    parsed = parse_message(alternative(plain))
    assert parsed.text.strip() == HTML_TEXT
    assert parsed.repairs == (f"text taken from the HTML part: {why}",)


def test_a_complete_plain_part_wins():
    plain = (
        "Hello,\n\nThe printer on the third floor prints only blank pages since this morning.\n"
        "Could you send someone?\n\nThanks, Ann\n"
    )
    parsed = parse_message(alternative(plain))
    assert parsed.text == plain
    assert parsed.repairs == ()


def test_a_plain_part_that_says_something_else_than_the_html_wins():
    """The HTML is used only when it holds the plain part's words: no text is ever dropped."""
    plain = "See the attached report."
    parsed = parse_message(alternative(plain))
    assert parsed.text == plain


def test_text_after_the_first_closing_html_tag_is_kept():
    parsed = parse_message(
        html_only(
            "<html><body><p>The VPN is down.</p></body></html>\n"
            "<p>This e-mail is confidential.</p>\n"
            "<html><body><p>Scanned by the gateway.</p></body></html>\n"
        )
    )
    words = " ".join(parsed.text.split())
    assert words == "The VPN is down. This e-mail is confidential. Scanned by the gateway."


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (
            "<p>Pass<span>word</span> re<b>set</b> for <font color=red>Ann</font>e<i>-Marie</i></p>",
            "Password reset for Anne-Marie",
        ),
        (
            "<div>Rechnungs<span style='color:red'>nummer</span>: <strong>4711</strong></div>",
            "Rechnungsnummer: 4711",
        ),
    ],
)
def test_inline_elements_do_not_split_words(markup, expected):
    assert html_to_text(markup).strip() == expected


@pytest.mark.parametrize("depth", [300, 5_000])
def test_deeply_nested_html_still_gives_its_text(depth):
    markup = (
        "<div><font>" * depth + "Deep inside: the <b>order</b> number is 12345." + "</font></div>" * depth
    )
    parsed = parse_message(html_only(f"<html><body><p>Top line.</p>{markup}</body></html>"))
    assert " ".join(parsed.text.split()) == "Top line. Deep inside: the order number is 12345."


@pytest.mark.parametrize(
    ("path", "text_start"),
    [
        # "This is an HTML message. Please use an HTML capable mail program to read this message."
        ("php-mime-mail-parser/m0025", "Testing MIME E-mail composing with cid"),
        # An empty plain part beside the HTML one (the text was empty before).
        ("stalwart-mail-parser/malformed/020.eml", "HTML Body"),
        ("spamscope-mail-parser/mail_test_17", "Test"),
    ],
)
def test_corpus_messages_whose_html_is_the_text(path, text_start):
    parsed = parse_message((CORPUS / path).read_bytes())
    assert parsed.text.strip().startswith(text_start)
    assert parsed.repairs and parsed.repairs[0].startswith("text taken from the HTML part")


def test_corpus_plain_part_that_mentions_html_is_still_the_text():
    parsed = parse_message((CORPUS / "flanker/relative.eml").read_bytes())
    assert parsed.text.startswith("This is html and text message, thanks\n")
    assert parsed.repairs == ()
