"""DVC plots render offline: the template inlines the Vega libraries and DVC's renderer adds no CDN tag."""

from __future__ import annotations

import re

from dvc_render import VegaRenderer
from dvc_render.html import render_html

from report.offline_plots import offline_plots_template


def test_dvc_plots_page_has_vega_inline_and_no_cdn(tmp_path):
    template = tmp_path / "template.html"
    template.write_text(offline_plots_template())
    points = [{"week": "2025-01-06", "fcr": 0.8, "rev": "workspace", "filename": "fcr.csv"},
              {"week": "2025-01-13", "fcr": 0.82, "rev": "workspace", "filename": "fcr.csv"}]
    renderer = VegaRenderer(points, "plots/fcr_by_week.csv", x="week", y="fcr", title="FCR by week")
    out = tmp_path / "index.html"
    render_html([renderer], out, html_template=str(template))
    page = out.read_text()
    assert not re.findall(r'<script[^>]+src="https?://', page)  # nothing fetched from a CDN
    assert "window.vegaEmbed=" in page and "vegaEmbed('#" in page  # the library inline, then the plot calling it
    assert "{plot_divs}" not in page and "FCR by week" in page
