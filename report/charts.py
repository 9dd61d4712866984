"""The report's charts, declared as data and drawn by one function.

In: a chart spec (`Bars`, `Lines`, `Scatter`, `Strips`): plain lists of labels and numbers. Out: a
matplotlib Figure (`draw`) or an <img> tag with the PNG inlined (`img`), so the report needs no network.
The rules every chart follows live here once: bars start at zero and are sorted, labels are words,
colours come from the Okabe-Ito palette (safe for colour-blind readers), error bars never go negative
whatever the interval, and a chart with nothing to draw says so instead of failing. No backend is
chosen here, so notebooks show the figures inline; the report stage picks Agg itself.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from report.words import number

# Plain numbers with thousands separators on every axis and label: never 1.57e+04 nor an offset "1e4".
PLAIN = FuncFormatter(lambda v, _pos: number(v))

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
PALETTE = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
    "black": "#000000",
}
CYCLE = [PALETTE[c] for c in ("blue", "orange", "green", "vermillion", "sky", "purple", "yellow", "black")]


@dataclass(frozen=True)
class Bars:
    """Horizontal bars from zero, sorted by value (largest at the top), optional intervals and target."""

    title: str
    labels: Sequence[str]
    values: Sequence[float]
    axis: str
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None
    percent: bool = True
    target: float | None = None
    groups: Sequence[str] | None = None  # colour key per bar (e.g. "the operation can act on it")
    muted: Sequence[bool] | None = None  # drawn in grey and labelled: too few contacts to rank
    sort: bool = True
    colours: dict[str, str] | None = None  # group: palette name, for groups with a fixed meaning


@dataclass(frozen=True)
class Lines:
    """Lines over an ordered x (dates or numbers), an optional interval band around the first series."""

    title: str
    x: Sequence
    series: dict[str, Sequence[float]]
    axis: str
    xaxis: str = ""
    band: tuple[Sequence[float], Sequence[float]] | None = None
    target: float | None = None
    percent: bool = True
    percent_x: bool = False
    diagonal: bool = False
    zero_based: bool = True


@dataclass(frozen=True)
class Scatter:
    title: str
    x: Sequence[float]
    y: Sequence[float]
    xaxis: str
    yaxis: str
    groups: Sequence[str] | None = None
    diagonal: bool = False
    percent: bool = False


@dataclass(frozen=True)
class Strips:
    """One row of points per name (e.g. each contact's attribution to a feature), coloured by a 0-1 value."""

    title: str
    rows: dict[str, Sequence[float]]
    shades: dict[str, Sequence[float]]
    axis: str
    seed: int = 0
    extra: dict = field(default_factory=dict)


Chart = Bars | Lines | Scatter | Strips


def _finite(values: Sequence[float] | None) -> np.ndarray:
    return np.asarray([] if values is None else values, dtype=float)


def _empty(fig: Figure, ax: plt.Axes, title: str) -> Figure:
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, "nothing to show for this data", ha="center", va="center", color=PALETTE["grey"])
    return fig


def _bars(s: Bars) -> Figure:
    v = _finite(s.values)
    n = len(v)
    lines = sum(textwrap.fill(str(x), 34).count("\n") + 1 for x in s.labels)
    fig, ax = plt.subplots(figsize=(7, 0.3 * max(lines, n, 1) + 1.4), dpi=100)
    if n == 0 or not np.isfinite(v).any():
        return _empty(fig, ax, s.title)
    muted_in = np.asarray(s.muted, dtype=bool) if s.muted is not None else np.zeros(n, dtype=bool)
    # Sorted by value, and segments too small to rank kept apart at the bottom, never among the others.
    order = np.lexsort((np.nan_to_num(v, nan=-np.inf), ~muted_in)) if s.sort else np.arange(n)[::-1]
    given = [str(x) for x in s.labels]
    labels = [textwrap.fill(given[i], 34) for i in order]
    vals = np.nan_to_num(v[order], nan=0.0)
    muted = muted_in[order]
    keys = [str(list(s.groups)[i]) for i in order] if s.groups is not None else None
    colour_of = {
        k: (PALETTE[s.colours[k]] if s.colours and k in s.colours else CYCLE[i % len(CYCLE)])
        for i, k in enumerate(dict.fromkeys(keys or []))
    }
    colours = [
        PALETTE["grey"] if m else (colour_of[k] if keys else PALETTE["blue"]) for m, k in zip(muted, keys or [None] * n)
    ]
    xerr = None
    if s.low is not None and s.high is not None:
        lo, hi = np.nan_to_num(_finite(s.low)[order], nan=0.0), np.nan_to_num(_finite(s.high)[order], nan=0.0)
        # An interval bound a hair on the wrong side of the point (floating point) must not fail the chart.
        xerr = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
    ax.barh(range(n), vals, xerr=xerr, color=colours, ecolor="#444444", capsize=2)
    ax.set_yticks(range(n), [lab + ("  (too few contacts)" if m else "") for lab, m in zip(labels, muted)])
    top = float(np.nanmax(np.concatenate([vals, xerr[1] + vals if xerr is not None else vals]))) if n else 1.0
    ax.set_xlim(0, max(1.0, top * 1.02) if s.percent else max(top * 1.08, 1e-9))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0) if s.percent else PLAIN)
    if s.target is not None:
        ax.axvline(
            s.target,
            color=PALETTE["black"],
            linestyle="--",
            linewidth=1,
            label=f"target {s.target:.0%}" if s.percent else f"target {s.target:g}",
        )
    for i, val in enumerate(vals):
        ax.text(val, i, f" {val:.0%}" if s.percent else f" {number(val)}", va="center", fontsize=8)
    if keys:
        for k, c in colour_of.items():
            ax.bar(0, 0, color=c, label=k)
    if keys or s.target is not None:
        ax.legend(frameon=False, loc="lower right", fontsize=8)
    ax.set_xlabel(s.axis)
    ax.set_title(s.title)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _lines(s: Lines) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    x = list(s.x)
    if not x or not s.series:
        return _empty(fig, ax, s.title)
    if s.band is not None:
        ax.fill_between(
            x,
            _finite(s.band[0]),
            _finite(s.band[1]),
            color=PALETTE["sky"],
            alpha=0.35,
            label="range of the measurement (95%)",
        )
    for i, (name, ys) in enumerate(s.series.items()):
        ax.plot(
            x, _finite(ys), color=CYCLE[i % len(CYCLE)], marker="o" if len(x) < 60 else None, markersize=3, label=name
        )
    if s.diagonal:
        ax.plot([0, 1], [0, 1], color=PALETTE["grey"], linestyle="--", label="no better than chance")
    if s.target is not None:
        ax.axhline(s.target, color=PALETTE["black"], linestyle="--", linewidth=1, label=f"target {s.target:.0%}")
    if s.zero_based:
        ax.set_ylim(0, 1.0 if s.percent else None)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0) if s.percent else PLAIN)
    if s.percent_x:
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(ylabel=s.axis, xlabel=s.xaxis, title=s.title)
    ax.legend(frameon=False, loc="lower left", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    if len(x) and not isinstance(x[0], (int, float, np.number)):
        if len(set(x)) == 1:  # one date: a week either side, not matplotlib's default of years
            ax.set_xlim(x[0] - np.timedelta64(7, "D"), x[0] + np.timedelta64(7, "D"))
        fig.autofmt_xdate()
    return fig


def _scatter(s: Scatter) -> Figure:
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    x, y = _finite(s.x), _finite(s.y)
    if not len(x):
        return _empty(fig, ax, s.title)
    keys = [str(g) for g in s.groups] if s.groups is not None else ["all"] * len(x)
    for i, k in enumerate(dict.fromkeys(keys)):
        m = np.array([g == k for g in keys])
        ax.scatter(x[m], y[m], s=12, color=CYCLE[i % len(CYCLE)], label=k if s.groups is not None else None)
    if s.diagonal:
        lo, hi = float(np.nanmin([x.min(), y.min()])), float(np.nanmax([x.max(), y.max()]))
        ax.plot([lo, hi], [lo, hi], color=PALETTE["grey"], linestyle="--")
    if s.percent:
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    if s.groups is not None:
        ax.legend(frameon=False, fontsize=8)
    ax.set(xlabel=s.xaxis, ylabel=s.yaxis, title=s.title)
    return fig


def _strips(s: Strips) -> Figure:
    rng = np.random.default_rng(s.seed)
    names = list(s.rows)
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(names), 1) + 1.2), dpi=100)
    if not names:
        return _empty(fig, ax, s.title)
    for k, name in enumerate(reversed(names)):
        x = _finite(s.rows[name])
        shade = np.nan_to_num(_finite(s.shades.get(name, np.full(len(x), 0.5))), nan=0.5)
        ax.scatter(x, k + rng.uniform(-0.3, 0.3, len(x)), s=2, alpha=0.4, c=shade, cmap="cividis", vmin=0, vmax=1)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_yticks(range(len(names)), list(reversed(names)))
    ax.set(xlabel=s.axis, title=s.title)
    return fig


def draw(spec: Chart) -> Figure:
    fig = {Bars: _bars, Lines: _lines, Scatter: _scatter, Strips: _strips}[type(spec)](spec)
    fig.tight_layout()
    return fig


def img(spec: Chart, alt: str | None = None) -> str:
    """The chart as an <img> tag with the PNG inlined (works offline, scales down on a phone, prints)."""
    fig = draw(spec)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img class="chart" alt="{html.escape(alt or spec.title)}" src="data:image/png;base64,{data}">'


# Named charts the notebooks draw too (same specs as the report).


def weekly_fcr_figure(weekly, target: float | None = None) -> Figure:
    return draw(
        Lines(
            "FCR by week (first contacts whose outcome is known)",
            list(weekly["week"].astype(str)),
            {"FCR": weekly["fcr"]},
            "first-contact resolution",
            band=(weekly["ci_low"], weekly["ci_high"]),
            target=target,
        )
    )


def repeat_delay_figure(hist, window_days: float) -> Figure:
    inside = hist["delay_days"] < window_days
    return draw(
        Bars(
            f"Days until the customer came back about the same issue (window {window_days:g} days)",
            [f"{d:g}" for d in hist["delay_days"]],
            hist["contacts"],
            "contacts",
            percent=False,
            groups=np.where(inside, "counted as a repeat", "after the window"),
            sort=False,
        )
    )


def monitor_figure(weekly) -> Figure:
    """`fcr monitor`: realised vs predicted repeat rate by week on monitored contacts whose window has closed,
    with the 95% band the realised rate stays in while the model holds."""
    return draw(
        Lines(
            "Does the model still hold? Realised vs predicted repeats (contacts whose outcome is known)",
            list(weekly["week"].astype(str)),
            {"predicted (band: 95% if the model holds)": weekly["predicted_rate"], "realised": weekly["observed_rate"]},
            "repeat rate",
            band=(weekly["ci_low"], weekly["ci_high"]),
        )
    )
