"""The report in a real browser: at desktop and phone widths every section is there, every chart renders,
nothing is wider than a phone screen, no console error; screenshots are saved beside the file."""

from __future__ import annotations

import pytest

from report.config import ReportConfig
from report.build import build_report
from tests.report.browser import BROWSERS, WIDTHS, find_browser, open_page, screenshot
from tests.report.exports import report_inputs, scenarios
from tests.report.test_build import SECTIONS

CFG = ReportConfig.default(min_segment_contacts=20, scorecard_min_contacts=10)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ordinary", "no_agent_column"])
def test_report_opens_at_desktop_and_phone_widths(tmp_path, name):
    if find_browser() is None:  # `make test` installs Debian's chromium where it can (.ci/ensure-browser)
        pytest.skip(f"no headless browser: none of {BROWSERS} on PATH and FCR_BROWSER unset")
    page = tmp_path / f"{name}.html"
    page.write_text(build_report(report_inputs(scenarios()[name], True), CFG).html)
    for label, width in WIDTHS.items():
        attrs, console = open_page(page, width, tmp_path / "profile")
        assert not console, console
        assert attrs["sections"].split() == SECTIONS
        assert int(attrs["charts"]) >= 5 and attrs["charts"] == attrs["charts-rendered"], attrs
        assert attrs["overflow"] == "0", (label, attrs)
        assert attrs["errors"] == "0"
        shot = screenshot(page, width, tmp_path / f"{name}-{label}.png", tmp_path / "profile")
        assert shot.stat().st_size > 20_000


@pytest.mark.slow
def test_browser_check_catches_overflow_and_script_errors(tmp_path):
    """The self-check can fail: a page wider than the phone, and a script error, are both seen."""
    html = build_report(report_inputs(scenarios()["one_week"], True), CFG).html
    page = tmp_path / "broken.html"
    page.write_text(
        html.replace("<main>", "<main><div style='width:2000px'>wide</div><script>undefinedFunction()</script>")
    )
    attrs, console = open_page(page, WIDTHS["phone"], tmp_path / "profile")
    assert int(attrs["overflow"]) > 1000 and attrs["errors"] == "1" and console
