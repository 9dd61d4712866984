"""The report as one self-contained HTML file, rendered from Jinja2 templates (report/templates/).

In: the context assembled by report/build.py (sentences, tables as DataFrames, charts as inlined <img>
tags). Out: the HTML text: styles inline, figures as PNG data URIs, no script or font from the network;
readable on a phone (fluid layout, wide tables scroll inside their own box) and printable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
ACRONYMS = {"fcr": "FCR", "ci": "CI", "id": "ID", "shap": "SHAP"}


def header(column: str) -> str:
    words = [ACRONYMS.get(w, w) for w in column.replace("_", " ").split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _cell(value: object, column: str, percent: tuple[str, ...], digits: int) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if column in percent:
        return f"{value:.1%}"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    if isinstance(value, (float, np.floating)):
        return f"{value:,.{digits}f}"
    return str(value)


def table(
    df: pd.DataFrame,
    percent: tuple[str, ...] = (),
    digits: int = 3,
    labels: dict[str, str] | None = None,
    row_class: str | None = None,
) -> Markup:
    """An HTML table with headers in words, `percent` columns as percentages and counts with separators,
    inside a box that scrolls sideways on a narrow screen. `row_class`: a column whose value becomes the
    row's CSS class (it is not shown)."""
    labels = labels or {}
    shown = [c for c in df.columns if c != row_class]
    env = _env()
    rows = [
        {
            "class": str(r[row_class]).replace(" ", "-") if row_class else "",
            "cells": [_cell(r[c], c, percent, digits) for c in shown],
        }
        for _, r in df.iterrows()
    ]
    return Markup(
        env.get_template("table.html.j2").render(headers=[header(labels.get(c, c)) for c in shown], rows=rows)
    )


def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["j2", "html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(context: dict) -> str:
    return _env().get_template("report.html.j2").render(**context)
