"""Matplotlib figures for people who would rather look than read. Pure: data in, Figure out."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def repeat_delay_figure(hist: pd.DataFrame, window_days: float) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=110)
    width = float(hist["delay_days"].diff().median()) if len(hist) > 1 else 0.5
    inside = hist["delay_days"] < window_days
    ax.bar(hist.loc[inside, "delay_days"], hist.loc[inside, "contacts"], width=width, align="edge",
           color="#d95f02", label="counted as repeat")
    ax.bar(hist.loc[~inside, "delay_days"], hist.loc[~inside, "contacts"], width=width, align="edge",
           color="#bbbbbb", label="after the window")
    ax.axvline(window_days, color="black", linestyle="--", linewidth=1)
    ax.text(window_days, ax.get_ylim()[1] * 0.92, f"  window {window_days:g} d", fontsize=9)
    ax.set_xlabel("days until the customer came back about the same issue")
    ax.set_ylabel("contacts")
    ax.set_title("Repeat delay: a long tail just past the window means the window is too short")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def weekly_fcr_figure(weekly: pd.DataFrame, target: float | None = None) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=110)
    x = pd.to_datetime(weekly["week"])
    ax.fill_between(x, weekly["ci_low"], weekly["ci_high"], color="#1b9e77", alpha=0.25, label="95% interval")
    ax.plot(x, weekly["fcr"], color="#1b9e77", marker="o", markersize=3, label="FCR")
    if target is not None:
        ax.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {target:.0%}")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel("first-contact resolution")
    ax.set_title("FCR by week (first contacts whose window has closed)")
    ax.legend(frameon=False, loc="lower left")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
