"""Raw 8-bit text with no charset or a wrong one, bodies and headers alike: read in its own (issue 10)."""

from __future__ import annotations

import base64

import pytest

from maildesk.message.charsets import decode_text
from maildesk.message.parse import parse_message
from tests.support import CORPUS

CHINESE = "您好，我的打印机坏了，从昨天开始就不能打印了。请尽快帮忙处理，谢谢！"
TRADITIONAL = "您好，我的印表機壞了，從昨天開始就不能列印了。請盡快幫忙處理，謝謝！"
JAPANESE = "こんにちは。プリンターが昨日から壊れていて、印刷できません。よろしくお願いします。"
KOREAN = "안녕하세요. 프린터가 어제부터 고장나서 인쇄할 수 없습니다. 도와주세요."
RUSSIAN = "Здравствуйте! У меня со вчерашнего дня не работает принтер. Помогите, пожалуйста."
POLISH = "Dzień dobry, drukarka nie działa od wczoraj. Proszę o szybką pomoc, zażółć gęślą jaźń."
FRENCH = "Bonjour, l'imprimante ne marche plus depuis hier. Merci d'avance, Élodie."


def message(body: bytes, charset: str | None, subject: bytes = b"Printer", sender: bytes = b"ann@client.com"):
    ctype = b"Content-Type: text/plain" + (b"; charset=" + charset.encode() if charset else b"")
    return b"From: " + sender + b"\nSubject: " + subject + b"\n" + ctype + b"\n\n" + body + b"\n"


@pytest.mark.parametrize(
    ("text", "codec", "label"),
    [
        (CHINESE, "gbk", None),
        (CHINESE, "gb2312", "us-ascii"),
        (CHINESE, "gbk", "iso-8859-1"),
        (TRADITIONAL, "big5", "iso-8859-1"),
        (JAPANESE, "shift_jis", None),
        (JAPANESE, "shift_jis", "us-ascii"),
        (KOREAN, "euc-kr", "us-ascii"),
        (KOREAN, "euc-kr", "iso-8859-1"),
        (RUSSIAN, "koi8-r", None),
        (RUSSIAN, "koi8-r", "iso-8859-1"),
        (RUSSIAN, "windows-1251", "iso-8859-1"),
        (RUSSIAN, "windows-1251", "utf-8"),
        (POLISH, "windows-1250", "iso-8859-1"),
        (CHINESE, "gbk", "utf-8"),
    ],
)
def test_body_in_an_undeclared_or_wrong_charset_is_read_in_its_own(text, codec, label):
    parsed = parse_message(message(text.encode(codec), label))
    assert parsed.text == text + "\n"
    (said,) = parsed.repairs
    assert said.startswith("charset guessed: text/plain part ")
    assert ("with no charset" if label is None else f"labelled {label!r}") in said


@pytest.mark.parametrize(
    ("text", "codec", "label"),
    [
        (CHINESE, "gbk", "gb2312"),  # GBK under the narrower label Outlook writes: the alias reads it
        (TRADITIONAL, "big5", "big5"),
        (JAPANESE, "shift_jis", "shift_jis"),
        (KOREAN, "euc-kr", "ks_c_5601-1987"),
        (RUSSIAN, "koi8-r", "koi8-r"),
        (FRENCH, "cp1252", "iso-8859-1"),
        (CHINESE, "utf-8", "iso-8859-1"),  # valid UTF-8 is UTF-8 whatever the label: never Latin-1 mojibake
    ],
)
def test_text_its_label_reads_is_left_alone(text, codec, label):
    parsed = parse_message(message(text.encode(codec), label))
    assert parsed.text == text + "\n"
    assert parsed.repairs == ()


def test_western_text_without_a_charset_stays_windows_1252():
    parsed = parse_message(message(FRENCH.encode("cp1252"), None))
    assert parsed.text == FRENCH + "\n"
    assert parsed.repairs == ("charset guessed: text/plain part with no charset read as cp1252",)


def test_raw_8bit_headers_are_read_in_the_charset_of_the_body():
    data = message(
        CHINESE.encode("gbk"),
        None,
        subject="打印机坏了".encode("gbk"),
        sender="张先生 <zhang@client.cn>".encode("gbk"),
    )
    parsed = parse_message(data)
    assert parsed.subject == "打印机坏了"
    assert (parsed.from_name, parsed.from_addr) == ("张先生", "zhang@client.cn")
    assert parsed.text == CHINESE + "\n"
    assert "charset guessed: header text read as gb18030" in parsed.repairs


def test_raw_8bit_headers_alone_are_read_together():
    data = (
        "From: Иван Петров <ivan@client.ru>\nSubject: Не работает принтер в бухгалтерии\n\nHello.\n"
    ).encode("koi8-r")
    parsed = parse_message(data)
    assert parsed.subject == "Не работает принтер в бухгалтерии"
    assert parsed.from_name == "Иван Петров"
    assert parsed.repairs == ("charset guessed: header text read as koi8-r",)


def test_encoded_word_with_a_wrong_charset_is_read_in_its_own():
    encoded = base64.b64encode("关于发票的问题，请尽快回复".encode("gbk")).decode()
    parsed = parse_message(
        message(CHINESE.encode("gbk"), "gbk", subject=f"=?iso-8859-1?B?{encoded}?=".encode())
    )
    assert parsed.subject == "关于发票的问题，请尽快回复"


def test_shift_jis_body_labelled_iso_2022_jp_and_utf8_header_in_a_corpus_bounce():
    """A KDDI bounce: UTF-8 subject and body under an ISO-2022-JP label (U+FFFD all over, before)."""
    parsed = parse_message((CORPUS / "sisimai-set-of-emails/maildir/bsd/lhost-kddi-01.eml").read_bytes())
    assert parsed.subject == "メールエラー通知"
    assert parsed.text.startswith("送信先のメールボックスが一杯のため、送信できませんでした。\n")
    assert parsed.from_addr == "no-reply@x0000000000000.dion.ne.jp"


@pytest.mark.parametrize(
    ("path", "sender", "subject", "text_start"),
    [
        (
            "flufl-bounce/sina_01.txt",
            "mailer-daemon@sina.com",
            "邮件传输失败！",
            "sina.com.\n邮件无法发送到您指定的地址中。",
        ),
        (
            "spamscope-mail-parser/mail_test_12",
            "baoguan@hotmail.com",
            "代开各地增值税发票",
            "你好！我公司可代开各类增值税发票",
        ),
        (
            "mikel-mail/plain_emails/raw_email.eml",
            "jamis@37signals.com",
            "NOTE: 한국말로 하는 것",
            "대부분의 마찬가지로",
        ),
        ("mikel-mail/multi_charset/japanese_shift_jis.eml", "xxxxxxx@docomo.ne.jp", "test", "あいうえお\n"),
    ],
)
def test_corpus_cjk_messages_keep_their_text(path, sender, subject, text_start):
    parsed = parse_message((CORPUS / path).read_bytes())
    assert (parsed.from_addr, parsed.subject) == (sender, subject)
    assert parsed.text.startswith(text_start)


def test_detection_is_not_asked_when_the_label_reads_cleanly(monkeypatch):
    import charset_normalizer

    def refuse(*args, **kwargs):
        raise AssertionError("detector called")

    monkeypatch.setattr(charset_normalizer, "from_bytes", refuse)
    assert decode_text(FRENCH.encode("cp1252"), "iso-8859-1").text == FRENCH
    assert decode_text(RUSSIAN.encode("koi8-r"), "koi8-r").text == RUSSIAN
    assert decode_text(CHINESE.encode(), None).text == CHINESE


def test_html_without_a_mime_charset_goes_by_its_meta_tag():
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head>'
    data = b"Subject: x\nContent-Type: text/html\n\n" + (
        html + "<body><p>打印机坏了</p></body></html>"
    ).encode("gbk")
    parsed = parse_message(data)
    assert parsed.text.strip() == "打印机坏了"
    assert parsed.repairs == ("charset guessed: text/html part with no charset read as gb18030",)
