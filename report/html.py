"""The operations driver report as one self-contained HTML file (figures inlined as PNG data URIs,
styles inline, no network needed to view it).

In: the report's sections as small tables and matplotlib figures. Out: the HTML text.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.kpi{display:flex;gap:1.5em;flex-wrap:wrap;margin:1em 0}
.kpi div{background:#f4f7f6;border-radius:8px;padding:.8em 1.2em} .kpi b{display:block;font-size:1.6em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0} td,th{padding:.25em .6em;border-bottom:1px solid #eee;
text-align:right} th{background:#fafafa} td:first-child,th:first-child{text-align:left}
img.chart{max-width:100%;height:auto;display:block;margin:.5em 0}
.note{color:#555;font-size:.92em} .grid{display:flex;flex-wrap:wrap;gap:1em}
"""


def figure_tag(fig: Figure, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img class="chart" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _header(column: str) -> str:
    words = column.replace("_", " ").split()
    words = [w.upper() if w in ("fcr", "ci", "id", "shap") else w for w in words]
    return " ".join(words)[:1].upper() + " ".join(words)[1:]


def table_tag(df: pd.DataFrame, percent: tuple[str, ...] = (), digits: int = 3) -> str:
    """An HTML table with readable headers, `percent` columns as percentages and counts with separators."""
    fmt = {c: (lambda v: "" if pd.isna(v) else f"{v:.1%}") for c in percent if c in df}
    out = df.copy()
    for c in out.columns:
        if c in fmt:
            continue
        if pd.api.types.is_integer_dtype(out[c]):
            fmt[c] = lambda v: "" if pd.isna(v) else f"{v:,.0f}"
        elif pd.api.types.is_float_dtype(out[c]):
            fmt[c] = lambda v, d=digits: "" if pd.isna(v) else f"{v:.{d}f}"
    out.columns = [_header(c) for c in out.columns]
    fmt = {_header(c): f for c, f in fmt.items()}
    return out.to_html(index=False, formatters=fmt, border=0, escape=True)


def render(title: str, subtitle: str, kpis: list[tuple[str, str]], sections: list[tuple[str, str, list[str]]]) -> str:
    """`sections`: (heading, plain-words introduction, HTML blocks)."""
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
             f"<p class='note'>{html.escape(subtitle)}</p>", "<div class='kpi'>"]
    parts += [f"<div><b>{html.escape(v)}</b>{html.escape(k)}</div>" for k, v in kpis]
    parts.append("</div>")
    for heading, intro, blocks in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(intro)}</p>")
        parts += blocks
    # For readers and for the browser test: how many charts the browser actually rendered.
    parts.append("<script>window.addEventListener('load',function(){var i=document.querySelectorAll('img.chart');"
                 "var ok=0;i.forEach(function(e){if(e.naturalWidth>0&&e.getBoundingClientRect().height>0)ok++;});"
                 "document.body.dataset.charts=i.length;document.body.dataset.chartsRendered=ok;});</script>")
    parts.append("</body></html>")
    return "\n".join(parts)
