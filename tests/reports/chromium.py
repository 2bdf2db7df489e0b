"""Headless Chromium (Debian's ``chromium``): render a page to PNG, dump its DOM, keep its console log."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)


@dataclass(frozen=True)
class Rendered:
    dom: str
    png: Path
    log: str

    @property
    def console(self) -> list[str]:
        """What the page said on its console (errors included): Chromium logs each as INFO:CONSOLE."""
        return [line for line in self.log.splitlines() if ":CONSOLE" in line]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("headless Chromium is not installed (Debian package chromium; .ci/run installs it)")
    return found


def render(page: Path, work: Path, *, width: int = 1200, height: int = 2000) -> Rendered:
    """Load ``page`` from disk twice: once to a screenshot, once to its DOM after layout."""
    binary = chromium()
    png = work / f"{page.stem}.png"
    base = [binary, *FLAGS, f"--user-data-dir={work / 'profile'}", f"--window-size={width},{height}"]
    try:
        shot = subprocess.run(
            [*base, f"--screenshot={png}", page.as_uri()], capture_output=True, text=True, timeout=120
        )
        dump = subprocess.run(
            [*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"headless Chromium cannot run here: {exc}")
    if not png.exists() or dump.returncode != 0:
        pytest.skip(f"headless Chromium cannot run here: {(shot.stderr or dump.stderr).strip()[-300:]}")
    return Rendered(dom=dump.stdout, png=png, log=shot.stderr + dump.stderr)
