"""parse_message on small hand-written messages: one behaviour per test."""

from __future__ import annotations

import re

import pytest

from maildesk.message.parse import MAX_ID_CHARS, parse_message


def msg(*lines: str, body: str = "Hello.\n") -> bytes:
    """A message from header lines and a body, LF line endings, UTF-8."""
    return ("\n".join(lines) + "\n\n" + body).encode()


PLAIN = msg(
    "From: Alice Example <Alice@Example.COM>",
    "To: support@example.org, Bob <BOB@example.net>",
    "Subject: Printer on fire",
    "Date: Mon, 03 Mar 2025 08:04:00 +0100",
    "Message-ID: <abc-123@example.com>",
)


def test_plain_message_fields():
    parsed = parse_message(PLAIN)
    assert parsed.message_id == "<abc-123@example.com>"
    assert parsed.has_message_id
    assert parsed.from_addr == "alice@example.com"
    assert parsed.from_name == "Alice Example"
    assert parsed.to == ("support@example.org", "bob@example.net")
    assert parsed.subject == "Printer on fire"
    assert parsed.date is not None and parsed.date.utcoffset() is not None
    assert parsed.text == "Hello.\n"
    assert parsed.delivery_report is None
    assert parsed.defects == ()
    assert parsed.header("subject") == "Printer on fire"


def test_missing_message_id_gets_a_stable_digest():
    data = msg("From: a@example.com", "Subject: no id")
    first, second = parse_message(data), parse_message(data)
    assert re.fullmatch(r"<sha256-[0-9a-f]{32}@maildesk>", first.message_id)
    assert first.message_id == second.message_id
    assert not first.has_message_id
    assert parse_message(data + b"x").message_id != first.message_id


def test_empty_message_id_counts_as_missing():
    parsed = parse_message(msg("From: a@example.com", "Message-ID:   "))
    assert not parsed.has_message_id
    assert parsed.message_id.startswith("<sha256-")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" <abc@example.com> (sent by a robot)", "<abc@example.com>"),
        ("<abc @ example.com>", "<abc@example.com>"),
        ("abc@example.com", "<abc@example.com>"),
    ],
)
def test_message_id_is_normalised(raw, expected):
    assert parse_message(msg(f"Message-ID:{raw}")).message_id == expected


def test_absurd_message_id_is_truncated_the_same_way_in_references():
    long_id = "<" + "x" * 2000 + "@example.com>"
    parsed = parse_message(
        msg(f"Message-ID: {long_id}", f"In-Reply-To: {long_id}", f"References: <a@b> {long_id}")
    )
    assert len(parsed.message_id) <= MAX_ID_CHARS
    assert parsed.message_id.startswith("<xxx") and parsed.message_id.endswith(">")
    assert parsed.in_reply_to == (parsed.message_id,)
    assert parsed.references == ("<a@b>", parsed.message_id)


def test_rfc2047_subject_is_decoded_and_folded():
    parsed = parse_message(
        msg("Subject: =?utf-8?q?Caf=C3=A9_cr=C3=A8me?=\n =?iso-8859-1?q?_br=FBl=E9e?=\n\tand\r\n  more")
    )
    assert parsed.subject == "Café crème brûlée and more"


def test_html_only_message_becomes_text():
    parsed = parse_message(
        msg(
            "Content-Type: text/html; charset=utf-8",
            body="<html><body><h1>Problème</h1><p>The <b>VPN</b> is down.</p>"
            "<script>x()</script></body></html>",
        )
    )
    assert parsed.html is not None and "<b>VPN</b>" in parsed.html
    assert "Problème" in parsed.text
    assert "The VPN is down." in parsed.text
    assert "<" not in parsed.text


def test_plain_part_is_preferred_over_html():
    body = (
        "--b\nContent-Type: text/plain; charset=utf-8\n\nplain words\n"
        "--b\nContent-Type: text/html; charset=utf-8\n\n<p>html words</p>\n--b--\n"
    )
    parsed = parse_message(msg('Content-Type: multipart/alternative; boundary="b"', body=body))
    assert parsed.text.strip() == "plain words"
    assert parsed.html is not None and "html words" in parsed.html
    assert parsed.attachments == ()


def test_english_quoted_reply_is_stripped():
    body = (
        "Thanks, it works now.\n\n"
        "On Mon, 3 Mar 2025 at 08:04, Support <support@example.org> wrote:\n"
        "> Please restart the printer.\n> Regards\n"
    )
    parsed = parse_message(msg("Subject: Re: printer", body=body))
    assert parsed.reply_text == "Thanks, it works now."
    assert "restart the printer" in parsed.text


def test_french_quoted_reply_is_stripped():
    body = (
        "Merci, ça marche.\n\n"
        "Le lun. 3 mars 2025 à 08:04, Support <support@example.org> a écrit :\n"
        "> Redémarrez l'imprimante.\n"
    )
    parsed = parse_message(msg("Subject: Re: imprimante", body=body))
    assert parsed.reply_text == "Merci, ça marche."


def test_message_without_quote_keeps_its_text_as_reply():
    parsed = parse_message(msg(body="The printer is on fire.\nPlease hurry.\n"))
    assert parsed.reply_text == "The printer is on fire.\nPlease hurry."


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        ('filename="../../etc/passwd"', "passwd"),
        ('filename="..\\\\..\\\\windows\\\\win.ini"', "win.ini"),
        ('filename="/abs/path/report.pdf"', "report.pdf"),
        ('filename="..."', "attachment-1.bin"),
        ('filename="evil\x01name..txt"', "evil name.txt"),
        ("filename*=utf-8''..%2F..%2Fr%C3%A9sum%C3%A9.pdf", "résumé.pdf"),
    ],
)
def test_attachment_filename_is_sanitised(parameter, expected):
    body = (
        "--b\nContent-Type: text/plain\n\nsee attached\n"
        f"--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; {parameter}\n"
        "Content-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n"
    )
    parsed = parse_message(msg('Content-Type: multipart/mixed; boundary="b"', body=body))
    (attachment,) = parsed.attachments
    assert attachment.filename == expected
    assert attachment.data == b"hello"


def test_long_filename_is_cut_keeping_its_extension():
    name = "a" * 300 + ".pdf"
    body = f'--b\nContent-Type: application/pdf; name="{name}"\n\n%PDF\n--b--\n'
    parsed = parse_message(msg('Content-Type: multipart/mixed; boundary="b"', body=body))
    assert len(parsed.attachments[0].filename) == 200
    assert parsed.attachments[0].filename.endswith(".pdf")


def test_bad_base64_attachment_keeps_what_decodes():
    body = (
        "--b\nContent-Type: image/png; name=x.png\nContent-Transfer-Encoding: base64\n\n"
        "aGVsbG8gd29ybGQ=!!!*garbage*\n--b--\n"
    )
    parsed = parse_message(msg('Content-Type: multipart/mixed; boundary="b"', body=body))
    assert parsed.attachments[0].data.startswith(b"hello world")


def test_forwarded_message_is_an_eml_attachment_not_body():
    inner = "From: c@example.com\nSubject: inner\nMessage-ID: <inner@example.com>\n\ninner body\n"
    body = f"--b\nContent-Type: text/plain\n\nouter body\n--b\nContent-Type: message/rfc822\n\n{inner}--b--\n"
    parsed = parse_message(msg('Content-Type: multipart/mixed; boundary="b"', body=body))
    assert parsed.text.strip() == "outer body"
    (attachment,) = parsed.attachments
    assert attachment.filename.endswith(".eml")
    assert b"Subject: inner" in attachment.data and b"inner body" in attachment.data


def test_unknown_charset_decodes_with_replacement_and_a_defect():
    data = b"Subject: x\nContent-Type: text/plain; charset=x-unknown\n\ncaf\xc3\xa9 \xff\n"
    parsed = parse_message(data)
    assert parsed.text.startswith("café \ufffd")
    assert any("x-unknown" in d for d in parsed.defects)


@pytest.mark.parametrize(
    ("charset", "raw", "expected"),
    [
        ("uft-8", "Grüße".encode(), "Grüße"),
        ("ks_c_5601-1987", "안녕하세요".encode("cp949"), "안녕하세요"),
        ("x-mac-cyrillic", "Привет".encode("mac_cyrillic"), "Привет"),
        ("iso-8859-8-i", "שלום".encode("iso-8859-8"), "שלום"),
        ("unicode-1-1-utf-7", "Hé".encode("utf-7"), "Hé"),
        ("iso-8859-1", "Crème".encode(), "Crème"),  # mislabelled UTF-8
        ("utf-8", "Crème".encode("cp1252"), "Crème"),  # mislabelled windows-1252
    ],
)
def test_charsets_are_decoded_through_aliases_and_guesses(charset, raw, expected):
    parsed = parse_message(b"Content-Type: text/plain; charset=" + charset.encode() + b"\n\n" + raw)
    assert parsed.text == expected


def test_raw_8bit_header_is_decoded_as_utf8():
    parsed = parse_message("Subject: Réunion à 10h\nFrom: Zoé <zoe@example.fr>\n\nx\n".encode())
    assert parsed.subject == "Réunion à 10h"
    assert parsed.from_name == "Zoé"


def test_cr_only_message_parses_its_headers():
    data = b"From: a@example.com\rSubject: old mac\rMessage-ID: <mac@example.com>\r\rline one\rline two\r"
    parsed = parse_message(data)
    assert parsed.subject == "old mac"
    assert parsed.message_id == "<mac@example.com>"
    assert parsed.text == "line one\nline two\n"


def test_leading_byte_order_mark_does_not_hide_the_headers():
    parsed = parse_message(b"\xef\xbb\xbf" + PLAIN)
    assert parsed.subject == "Printer on fire"


def test_group_syntax_the_policy_chokes_on_still_parses():
    parsed = parse_message(msg("From: a@example.com", "To: unlisted-recipients:; (no To-header on input)"))
    assert parsed.to == ()
    assert parsed.from_addr == "a@example.com"


def test_bad_date_is_none_and_naive_date_becomes_utc():
    assert parse_message(msg("Date: yesterday-ish")).date is None
    parsed = parse_message(msg("Date: Mon, 03 Mar 2025 08:04:00 -0000"))
    assert parsed.date is not None and parsed.date.utcoffset().total_seconds() == 0


def test_automation_headers_are_lower_cased():
    parsed = parse_message(
        msg(
            "Auto-Submitted: Auto-Replied",
            "Precedence: BULK",
            "List-Id: Users <users.lists.example.org>",
            "X-Loop: Support@Example.org",
            "X-Loop: other@example.org",
        )
    )
    assert parsed.auto_submitted == "auto-replied"
    assert parsed.precedence == "bulk"
    assert parsed.list_id == "Users <users.lists.example.org>"
    assert parsed.x_loop == ("support@example.org", "other@example.org")


def test_text_enriched_is_roughly_stripped():
    parsed = parse_message(msg("Content-Type: text/enriched", body="<bold>Now</bold> is the <<time>\n"))
    assert parsed.text.strip() == "Now is the <time>"


DSN = """\
From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: support@example.org
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@mx.example.org>
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; Gone@Example.NET
Original-Recipient: rfc822;gone@example.net
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {code} <gone@example.net>: Recipient address rejected

--R
Content-Type: text/rfc822-headers

From: support@example.org
To: gone@example.net
Subject: [Support #42] Your request
Message-ID: <ack-42@desk.example.org>

--R--
"""


def test_dsn_with_status_5_is_a_permanent_failure():
    parsed = parse_message(DSN.format(action="failed", status="5.1.1", code="550 5.1.1").encode())
    report = parsed.delivery_report
    assert report is not None
    assert report.failed == ("gone@example.net",)
    assert report.permanent
    assert report.original_message_id == "<ack-42@desk.example.org>"
    assert "550 5.1.1" in report.diagnostic


def test_delayed_dsn_is_a_transient_failure():
    parsed = parse_message(DSN.format(action="delayed", status="4.4.1", code="451 4.4.1").encode())
    report = parsed.delivery_report
    assert report is not None and report.failed == ("gone@example.net",)
    assert not report.permanent


def test_text_bounce_from_mailer_daemon_is_found():
    data = msg(
        "From: MAILER-DAEMON@mx.example.net",
        "To: support@example.org",
        "Subject: failure notice",
        body=(
            "Hi. This is the qmail-send program at mx.example.net.\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
            "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
            "<nobody@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
            "--- Below this line is a copy of the message.\n\n"
            "Message-ID: <ack-7@desk.example.org>\nSubject: hello\n"
        ),
    )
    report = parse_message(data).delivery_report
    assert report is not None
    assert report.failed == ("nobody@example.net",)
    assert report.original_message_id == "<ack-7@desk.example.org>"


@pytest.mark.parametrize("report_type", ["feedback-report", "disposition-notification"])
def test_abuse_reports_and_read_receipts_are_not_delivery_reports(report_type):
    body = (
        "--R\nContent-Type: text/plain\n\nreport\n"
        f"--R\nContent-Type: message/{report_type}\n\nFinal-Recipient: rfc822; a@example.net\n\n--R--\n"
    )
    data = msg(f'Content-Type: multipart/report; report-type={report_type}; boundary="R"', body=body)
    assert parse_message(data).delivery_report is None


def test_customer_mail_about_a_failed_delivery_is_not_a_bounce():
    data = msg(
        "From: Carol <carol@example.com>",
        "Subject: Undelivered parcel - delivery failed again",
        body="Hello, my parcel could not be delivered to carol@example.com, error 550 at the depot.\n",
    )
    assert parse_message(data).delivery_report is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x00\x00",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 20,
        b"Subject: " + b"x " * 100_000 + b"\n\nbody",
        b"To: " + b"a@b.c, " * 20_000 + b"\n\n",
        b"Content-Type: multipart/mixed\n\n--nothing\nhere",
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n",
        b"Content-Type: text/plain; charset=idna\n\n\xff\xfe",
        b"Subject: =?utf-8?b?!!!?= =?bogus?q?x?=\n\n",
        b"Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n!!!\nend\n",
        (
            "Content-Type: multipart/mixed; boundary=b\n\n"
            + "--b\nContent-Type: multipart/mixed; boundary=b\n\n" * 200
        ).encode(),
    ],
    ids=[
        "empty",
        "nul",
        "ole",
        "huge-subject",
        "huge-to",
        "no-boundary",
        "empty-rfc822",
        "idna",
        "bad-words",
        "uu",
        "deep",
    ],
)
def test_never_raises(data):
    parsed = parse_message(data)
    assert parsed.message_id.startswith("<") and parsed.message_id.endswith(">")
    assert "\x00" not in parsed.text


def test_binary_input_is_kept_as_an_attachment():
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00" + bytes(range(256))
    parsed = parse_message(data)
    assert parsed.text == ""
    assert parsed.attachments[0].data == data
