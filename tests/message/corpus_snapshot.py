"""Sender, subject and text of every corpus message as a parser reads them (issue 10's before/after table).

    cd /tmp && PYTHONPATH=OLD:REPO REPO/.venv/bin/python -m tests.message.corpus_snapshot > BEFORE

``fixtures/corpus_before.json`` (BEFORE) was written this way by main's parser
(commit c187472, its ``maildesk`` package extracted into OLD with ``git archive
c187472 maildesk | tar -x -C OLD``) before the parsing-fidelity work;
``test_corpus_fidelity.py`` compares today's parser with it. Text is kept as
digests and its first and last characters: enough to tell what changed,
small enough to keep in the repository.
"""

from __future__ import annotations

import hashlib
import json
import sys

from maildesk.message.parse import parse_message
from tests.support import CORPUS

TEXT_HEAD = 160


def snapshot_of(data: bytes) -> dict[str, object]:
    parsed = parse_message(data)
    return {
        "from": parsed.from_addr,
        "name": parsed.from_name,
        "subject": parsed.subject,
        "text_sha1": _digest(parsed.text),
        "words_sha1": _digest(" ".join(parsed.text.split())),  # the same words, whatever the layout
        "text_head": " ".join(parsed.text.split())[:TEXT_HEAD],
        "text_tail": " ".join(parsed.text.split())[-TEXT_HEAD:],
        "text_len": len(parsed.text),
    }


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def corpus_paths() -> list[str]:
    lines = (CORPUS / "index.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0] for line in lines if line.strip()]


def main() -> int:
    table = {path: snapshot_of((CORPUS / path).read_bytes()) for path in corpus_paths()}
    json.dump(table, sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
