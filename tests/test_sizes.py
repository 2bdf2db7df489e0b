"""Small modules with one job: no module of ``maildesk/`` over 400 lines, no function over 60 (STYLE.md).

Lines are counted as written (docstrings and comments included): what a
reader has to hold in mind. The migrations are history and stay as written;
the exemptions below each say why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "maildesk"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

EXEMPT_MODULES = {
    "storage/models.py": "the declarative tables: one class per table, read as the schema",
    "types.py": "the hand-off values and the reason sentences: declarative, one frozen class or entry each",
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.relative_to(PACKAGE).parts)


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_module_is_at_most_400_lines(path):
    if _name(path) in EXEMPT_MODULES:
        pytest.skip(EXEMPT_MODULES[_name(path)])
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_name(path)}: {lines} lines; split it by job"


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_functions_are_at_most_60_lines(path):
    if _name(path) in EXEMPT_MODULES:
        pytest.skip(EXEMPT_MODULES[_name(path)])
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    long = [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], f"{_name(path)}: functions over {MAX_FUNCTION_LINES} lines"


def test_every_exemption_names_a_module_that_exists():
    """An exemption outlives its reason silently otherwise."""
    assert {name for name in EXEMPT_MODULES if not (PACKAGE / name).exists()} == set()
