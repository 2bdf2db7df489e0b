"""The HTML report: self-contained, and rendered by headless Chromium without console errors."""

from __future__ import annotations

import re

from tests.reports.chromium import render
from tests.reports.helpers import NOVEMBER
from tests.support import run_cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _page(november, tmp_path, *args: str):
    target = tmp_path / "report.html"
    code, out, err = run_cli(
        november.desk.config, "report", *args, "--format", "html", "--output", str(target)
    )
    assert code == 0, err
    return target


def test_the_page_holds_no_script_and_loads_nothing(november, tmp_path):
    html = _page(november, tmp_path, *NOVEMBER).read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"""\b(src|href)\s*=|url\(|@import""", html, re.IGNORECASE)
    # The only address in the page is the SVG namespace, which names and loads nothing.
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}
    assert (
        html.count("<svg") == 4
    )  # volume per day, per group, first-response spread, within target per level
    assert "<style>" in html and "@media print" in html


def test_chromium_renders_the_page_and_its_text_holds_the_figures(november, tmp_path):
    rendered = render(_page(november, tmp_path, *NOVEMBER), tmp_path)
    assert rendered.console == [], rendered.console
    assert rendered.png.read_bytes()[:8] == PNG_SIGNATURE and rendered.png.stat().st_size > 20_000
    text = re.sub(r"<[^>]+>", " ", rendered.dom)
    text = " ".join(text.split())
    # The groups table, row by row (received, closed, open, reopened, problems, medians, shares).
    assert "ERP 5 4 3 1 2 2h 50m 2h 50% 75% L2: 1, L3: 1 0 2h" in text
    assert "Mail 1 1 0 0 0 - 0s 0s 100% 100%" in text
    assert "VPN 1 1 0 0 0 - - 1h - 100%" in text
    assert "Total 7 6 3 1 2 2h 40m 1h 60% 83%" in text
    assert "7 received" in text and "2h time spent" in text
    assert "Volume per day" in text and "Share within target per level" in text


def test_an_empty_period_renders_and_says_so(november, tmp_path):
    rendered = render(_page(november, tmp_path, "--since", "2025-01-01", "--until", "2025-02-01"), tmp_path)
    assert rendered.console == []
    assert "No tickets in this period" in rendered.dom


def test_the_console_check_sees_a_page_that_errs(tmp_path):
    """The check above is meaningful: a page that logs an error is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<html><body><script>console.error("boom")</script></body></html>')
    assert any("boom" in line for line in render(page, tmp_path).console)
