"""parse_message over the shared corpus of real-world messages (../shared/corpus): nothing crashes or is lost."""

from __future__ import annotations

import re

import pytest

from maildesk.message.parse import parse_message
from maildesk.types import ParsedMessage
from tests.support import CORPUS

INDEX = CORPUS / "index.tsv"

if not INDEX.is_file():
    pytest.skip(f"the shared message corpus is not at {CORPUS}", allow_module_level=True)


def _index() -> list[tuple[str, str, str]]:
    rows = [line.split("\t") for line in INDEX.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    return [(path, category, note) for path, category, note in rows]


ROWS = _index()
BOUNCE_SHARE = 0.70


def _parse(path: str) -> ParsedMessage:
    return parse_message((CORPUS / path).read_bytes())


def _is_abuse_report(note: str) -> bool:
    return "ARF" in note or "feedback-report" in note


@pytest.mark.parametrize("path", [row[0] for row in ROWS])
def test_corpus_message_parses(path):
    parsed = _parse(path)
    assert isinstance(parsed, ParsedMessage)
    assert re.fullmatch(r"<[^<>\s]+>", parsed.message_id)
    assert len(parsed.message_id) <= 998
    assert "\x00" not in parsed.text and "\x00" not in parsed.subject
    for name, value in parsed.headers:
        assert "\n" not in value and "\r" not in value, name
    for attachment in parsed.attachments:
        assert attachment.filename and "/" not in attachment.filename and "\\" not in attachment.filename
        assert ".." not in attachment.filename and len(attachment.filename) <= 200
    if parsed.date is not None:
        assert parsed.date.utcoffset() is not None


def test_most_bounces_are_detected_with_a_failed_address():
    bounces = [path for path, category, note in ROWS if category == "bounce" and not _is_abuse_report(note)]
    misses = []
    for path in bounces:
        report = _parse(path).delivery_report
        if report is None or not report.failed:
            misses.append(path)
    print(f"\n{len(bounces) - len(misses)}/{len(bounces)} bounces detected; missed:", *misses, sep="\n  ")
    assert len(bounces) >= 40
    assert (len(bounces) - len(misses)) / len(bounces) >= BOUNCE_SHARE


@pytest.mark.parametrize(
    "path", [path for path, category, note in ROWS if category == "bounce" and _is_abuse_report(note)]
)
def test_abuse_reports_are_not_delivery_reports(path):
    assert _parse(path).delivery_report is None


@pytest.mark.parametrize("path", [path for path, category, _ in ROWS if category == "plain"])
def test_plain_messages_are_never_delivery_reports(path):
    assert _parse(path).delivery_report is None


@pytest.mark.parametrize("path", [path for path, category, _ in ROWS if category == "autoreply"])
def test_auto_replies_keep_their_auto_submitted_header(path):
    data = (CORPUS / path).read_bytes()
    parsed = parse_message(data)
    header_block = re.split(rb"\r?\n\r?\n|\r\r", data, maxsplit=1)[0]
    if re.search(rb"^auto-submitted:", header_block, re.IGNORECASE | re.MULTILINE):
        assert parsed.auto_submitted is not None and parsed.auto_submitted != "no"
    assert parsed.delivery_report is None
