"""The whole corpus again, before and after issue 10: no message's sender, subject or text got worse.

``fixtures/corpus_before.json`` holds what main's parser made of every
corpus message before this work (see ``corpus_snapshot.py``). A message
whose sender, name, subject or words differ today must be listed in
CHANGED below, each checked by hand against the message's bytes and what
a mail client shows, with the exact values expected now; any other change
fails. Changes of layout only (the same words, other white space: the
HTML renderer's stricter profile) are allowed and counted. ``pytest -s``
prints the before/after table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.message.corpus_snapshot import corpus_paths, snapshot_of
from tests.support import CORPUS

BEFORE_FILE = Path(__file__).parent / "fixtures" / "corpus_before.json"

if not (CORPUS / "index.tsv").is_file():
    pytest.skip(f"the shared message corpus is not at {CORPUS}", allow_module_level=True)

# path: (why it is better, {field: value expected now}); "text" is how the text starts, "text_end"
# how it ends, white space collapsed.
CHANGED: dict[str, tuple[str, dict[str, str]]] = {
    "flufl-bounce/simple_13.txt": (
        "no From: the requester is the Return-Path (was none)",
        {"from": "mailer-daemon@sb7.songbird.com"},
    ),
    "flufl-bounce/simple_35.txt": (
        "From: <Postmaster\\@xxx.com@xxx.com> is read in its angle brackets (was none)",
        {"from": "postmaster\\@xxx.com@xxx.com"},
    ),
    "mimekit/messages/issue358.txt": (
        "an address as display name; the address is the one in angle brackets (was the name, cut)",
        {"from": "jang.abcdef@xyzlinux12345678.it", "name": "jang.abcdef@xyzlinu"},
    ),
    "spamscope-mail-parser/mail_test_19": (
        "From: alice@example.com <bob@example.com>: bob is the address, as Thunderbird shows (was alice)",
        {"from": "bob@example.com", "name": "alice@example.com"},
    ),
    "sisimai-set-of-emails/maildir/bsd/lhost-kddi-01.eml": (
        "UTF-8 subject and body under an ISO-2022-JP label (were U+FFFD throughout)",
        {"subject": "メールエラー通知", "text": "送信先のメールボックスが一杯のため、送信できませんでした。"},
    ),
    "mikel-mail/error_emails/content_transfer_encoding_empty.eml": (
        "the Yahoo footer after </html> is kept (was dropped)",
        {"text_end": "_____ Yahoo! ¤u¨ã¦C - ¤º¸m¨¾¤î¼u¥Xµøµ¡¤u¯à¡I http://toolbar.yahoo.com.hk"},
    ),
    "php-mime-mail-parser/m0025": (
        "the plain part only says to read the HTML; the HTML is the text (was the stub)",
        {"text": "Testing MIME E-mail composing with cid Hello Name, This message is just to let you know"},
    ),
    "spamscope-mail-parser/mail_malformed_3": (
        "inline <span> no longer splits “brochure” from its quotes",
        {"text": "Problemas para visualizar | Ver on-line “brochure” puede tener información de la compañía"},
    ),
    "spamscope-mail-parser/mail_test_17": (
        "empty plain part beside the HTML one: the HTML is the text (was empty)",
        {"text": "Test"},
    ),
    "stalwart-mail-parser/malformed/020.eml": (
        "empty plain part beside the HTML one: the HTML is the text (was empty)",
        {"text": "HTML Body"},
    ),
    "stalwart-mail-parser/malformed/021.eml": (
        "empty plain part beside the HTML one: the HTML is the text (was empty)",
        {"text": "áóúäöüß"},
    ),
}
FIELDS = ("from", "name", "subject", "words_sha1")


@pytest.fixture(scope="module")
def table() -> dict[str, tuple[dict, dict]]:
    before = json.loads(BEFORE_FILE.read_text(encoding="utf-8"))
    return {path: (before[path], snapshot_of((CORPUS / path).read_bytes())) for path in corpus_paths()}


def test_the_before_table_covers_the_whole_corpus(table):
    assert len(table) == len(json.loads(BEFORE_FILE.read_text(encoding="utf-8"))) >= 350


def test_no_message_changed_except_the_hand_checked_ones(table):
    changed, layout = [], []
    for path, (before, after) in table.items():
        fields = [field for field in FIELDS if before[field] != after[field]]
        if fields:
            changed.append(path)
            print(f"\n{path}: {', '.join(fields)} -- {CHANGED.get(path, ('NOT CHECKED',))[0]}")
            for field in fields:
                key = "text_head" if field == "words_sha1" else field
                print(f"    before {before[key][:100]!r}\n    after  {after[key][:100]!r}")
        elif before["text_sha1"] != after["text_sha1"]:
            layout.append(path)
    print(f"\n{len(table)} messages: {len(changed)} better, {len(layout)} with the same words laid out anew")
    assert sorted(changed) == sorted(CHANGED)


@pytest.mark.parametrize("path", sorted(CHANGED))
def test_each_change_gives_the_expected_values(table, path):
    before, after = table[path]
    for field, expected in CHANGED[path][1].items():
        if field == "text":
            assert after["text_head"].startswith(expected)
            assert not before["text_head"].startswith(expected)
        elif field == "text_end":
            assert after["text_tail"].endswith(expected)
            assert not before["text_tail"].endswith(expected)
        else:
            assert after[field] == expected
            assert before[field] != expected
