"""Parse benchmark (issue 10): per-message cost of ``parse_message``, before and after, in the same run.

    .venv/bin/python bench/parse.py                  # 1,000 generated messages, 5 rounds, before = main
    .venv/bin/python bench/parse.py --before e70677e # any git revision as "before" (e70677e: the
                                                     # parser before issue 10, once main has it)
    .venv/bin/python bench/parse.py --quick          # 300 messages, 3 rounds

The messages come from ../shared/tools/gen_corpus.py (the realistic support
mail the other benchmarks use). "before" is the ``maildesk`` package of a git
revision, extracted with ``git archive`` into a temporary folder; "after" is
this working tree. Each round runs both in fresh processes, one after the
other, and each process also times the stdlib's
``email.message_from_bytes(policy=default)`` over the same messages: the
ratio to that same-process baseline is what is compared, because the
machine is shared and its speed drifts; times are CPU time of the process.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT.parent / "shared" / "tools" / "gen_corpus.py"
TARGET = 1.10  # after / before, per-message cost relative to the stdlib baseline


def generate(count: int, out: Path) -> Path:
    subprocess.run(
        [sys.executable, str(GEN), "--count", str(count), "--seed", "1", "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out / "eml"


def extract(revision: str, into: Path) -> Path:
    """The ``maildesk`` package as it is at ``revision``, in ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "maildesk"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def measure(package_root: Path, eml: Path) -> dict[str, float]:
    """Run one timing pass in a fresh process importing ``maildesk`` from ``package_root``."""
    out = subprocess.run(
        [sys.executable, __file__, "--worker", str(package_root), str(eml)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def worker(package_root: str, eml: str) -> None:
    """Time the stdlib parse and ``parse_message`` over every file in ``eml``; print CPU µs per message."""
    sys.path.insert(0, package_root)
    from maildesk.message.parse import parse_message

    assert Path(sys.modules["maildesk"].__file__).is_relative_to(package_root)
    messages = [path.read_bytes() for path in sorted(Path(eml).iterdir())]
    for data in messages[:50]:  # warm-up: lazy imports (inscriptis, the reply parser), caches
        parse_message(data)
    clock = time.process_time  # CPU time: what a busy machine disturbs least
    started = clock()
    for data in messages:
        email.message_from_bytes(data, policy=email.policy.default)
    stdlib = clock() - started
    started = clock()
    for data in messages:
        parse_message(data)
    maildesk = clock() - started
    per = 1e6 / len(messages)
    print(json.dumps({"stdlib": stdlib * per, "maildesk": maildesk * per}))


def _spread(values: list[float], digits: int = 0) -> str:
    median, low, high = statistics.median(values), min(values), max(values)
    return f"median {median:.{digits}f}, min {low:.{digits}f}, max {high:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", default="main", help="git revision whose parser is 'before' (main)")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    count, rounds = (300, 3) if args.quick else (args.count, args.rounds)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        eml = generate(count, Path(tmp) / "corpus")
        before_root = extract(args.before, Path(tmp))
        runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for _ in range(rounds):
            runs["before"].append(measure(before_root, eml))
            runs["after"].append(measure(ROOT, eml))
    ratios = {}
    for name, results in runs.items():
        ratios[name] = [r["maildesk"] / r["stdlib"] for r in results]
        print(
            f"{name:6} ({args.before if name == 'before' else 'working tree'}): "
            f"parse_message µs/msg {_spread([r['maildesk'] for r in results])}; "
            f"stdlib µs/msg {_spread([r['stdlib'] for r in results])}; "
            f"ratio to stdlib {_spread(ratios[name], 3)}"
        )
    change = statistics.median(ratios["after"]) / statistics.median(ratios["before"])
    verdict = "met" if change <= TARGET else "NOT met"
    print(f"after / before (ratios to the same-process stdlib): {change:.3f} (target <= {TARGET}: {verdict})")
    print(f"messages: {count}, rounds: {rounds}, load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
