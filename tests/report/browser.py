"""Open a report file in headless Debian Chromium (no server, no network) and read what the page reports
about itself (report/templates/report.html.j2 writes it on <body> once loaded)."""

from __future__ import annotations

import re
import os
import shutil
import subprocess
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
]
WIDTHS = {"desktop": 1280, "phone": 390}


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    """A system Chromium or Chrome: $FCR_BROWSER, else the first of BROWSERS on PATH (as .ci/ensure-browser)."""
    for name in (os.environ.get("FCR_BROWSER"), *BROWSERS):
        if name and (found := shutil.which(name)):
            return found
    return None


def chromium() -> str:
    path = find_browser()
    assert path, "no headless browser: `make test` installs Debian's chromium where it can (.ci/ensure-browser)"
    return path


def open_page(report: Path, width: int, profile: Path) -> tuple[dict[str, str], list[str]]:
    """The page's self-check (charts, rendered charts, sections, overflow, errors) and any console lines."""
    _, attrs, console = dump_dom(report, width, profile)
    return attrs, console


def dump_dom(report: Path, width: int, profile: Path) -> tuple[str, dict[str, str], list[str]]:
    """The page as the browser built it (its DOM), its self-check and any console lines."""
    run = subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},2000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", run.stdout)
    assert body, run.stdout[:500]
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return run.stdout, attrs, console


def screenshot(report: Path, width: int, out: Path, profile: Path, height: int = 6000) -> Path:
    subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return out
