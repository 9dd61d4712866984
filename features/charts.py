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


def model_evaluation_figure(roc: pd.DataFrame, pr: pd.DataFrame, reliability: pd.DataFrame,
                            capture: pd.DataFrame, auc: float, ece: float, repeat_rate: float,
                            capacity: float | None = None) -> Figure:
    """Four panels on the test window: ROC, precision-recall, calibration, and repeats captured
    against specialist capacity."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), dpi=100)
    ax = axes[0]
    ax.plot(roc["fpr"], roc["tpr"], color="#1b9e77")
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC (AUC {auc:.3f})")
    ax = axes[1]
    ax.plot(pr["recall"], pr["precision"], color="#7570b3")
    ax.axhline(repeat_rate, color="#bbbbbb", linestyle="--")
    ax.set(xlabel="recall (repeats found)", ylabel="precision", title="Precision-recall")
    ax = axes[2]
    top = max(float(reliability["mean_predicted"].max()), float(reliability["observed_rate"].max())) * 1.05
    ax.plot([0, top], [0, top], color="#bbbbbb", linestyle="--")
    ax.plot(reliability["mean_predicted"], reliability["observed_rate"], marker="o", color="#d95f02")
    ax.set(xlabel="predicted repeat probability", ylabel="observed repeat rate",
           title=f"Calibration (ECE {ece:.3f})")
    ax = axes[3]
    ax.plot(capture["contacts_share"], capture["repeats_captured"], color="#e7298a", label="model")
    ax.plot(capture["contacts_share"], capture["random"], color="#bbbbbb", linestyle="--", label="random")
    if capacity is not None:
        ax.axvline(capacity, color="black", linewidth=1, label=f"capacity {capacity:.0%}")
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set(xlabel="contacts sent to specialists", ylabel="repeats captured", title="Capture vs capacity")
    ax.legend(frameon=False, loc="lower right")
    fig.tight_layout()
    return fig
