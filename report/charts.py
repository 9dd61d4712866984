"""Matplotlib figures for people who would rather look than read. Pure: data in, Figure out.

No backend is chosen here, so notebooks show the figures inline; the report stage picks Agg itself."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


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


def segment_fcr_figure(table: pd.DataFrame, segment: str, target: float | None = None) -> Figure:
    """Horizontal bars of FCR per segment value with 95% intervals, worst at the top."""
    t = table.sort_values("fcr", ascending=False)
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(t) + 1.2), dpi=100)
    err = [t["fcr"] - t["ci_low"], t["ci_high"] - t["fcr"]]
    ax.barh(t[segment].astype(str), t["fcr"], xerr=err, color="#1b9e77", ecolor="#555555")
    if target is not None:
        ax.axvline(target, color="black", linestyle="--", linewidth=1, label=f"target {target:.0%}")
        ax.legend(frameon=False, loc="lower right")
    lo = max(0.0, float(t["ci_low"].min()) - 0.05)
    ax.set_xlim(lo, 1.0)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title(f"FCR by {segment.replace('_', ' ')}")
    fig.tight_layout()
    return fig


def drivers_bar_figure(drivers: pd.DataFrame, top: int = 15,
                       title: str = "What drives repeats (green: the operation can act on it)") -> Figure:
    d = drivers.head(top).iloc[::-1]
    colours = d["controllable"].map({True: "#1b9e77", False: "#999999"})
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(d) + 1.2), dpi=100)
    ax.barh(d["feature"], d["mean_abs_shap"], color=colours)
    ax.set_xlabel("mean |SHAP| (effect on the log-odds of a repeat)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def beeswarm_figure(shap: pd.DataFrame, values: pd.DataFrame, features: list[str], seed: int = 0) -> Figure:
    """Per top feature, every sampled contact's SHAP value (x), coloured by the feature's value
    (numeric features; grey for categories), jittered vertically."""
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(features) + 1.2), dpi=100)
    for k, name in enumerate(reversed(features)):
        x = shap[f"shap_{name}"].to_numpy()
        v = values[name]
        if isinstance(v.dtype, pd.CategoricalDtype):
            colour = "#999999"
            ax.scatter(x, k + rng.uniform(-0.3, 0.3, len(x)), s=2, alpha=0.3, color=colour)
        else:
            num = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
            lo, hi = np.nanpercentile(num, [5, 95]) if np.isfinite(num).any() else (0, 1)
            scaled = np.clip((num - lo) / (hi - lo if hi > lo else 1), 0, 1)
            ax.scatter(x, k + rng.uniform(-0.3, 0.3, len(x)), s=2, alpha=0.4, c=np.nan_to_num(scaled, nan=0.5),
                       cmap="coolwarm")
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_yticks(range(len(features)), list(reversed(features)))
    ax.set_xlabel("SHAP: right pushes toward a repeat (colour: low to high value, blue to red)")
    ax.set_title("Each contact's drivers (beeswarm)")
    fig.tight_layout()
    return fig


def dependence_figure(value: pd.Series, shap: np.ndarray, name: str) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.scatter(pd.to_numeric(value, errors="coerce"), shap, s=3, alpha=0.3, color="#7570b3")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel(name)
    ax.set_ylabel("SHAP")
    ax.set_title(f"How {name} moves the repeat risk")
    fig.tight_layout()
    return fig


def scorecard_figure(card: pd.DataFrame, label: str) -> Figure:
    """Observed vs expected FCR per agent/team: above the diagonal = better than its case mix."""
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=100)
    colours = card["verdict"].map({"better than expected": "#1b9e77", "worse than expected": "#d95f02"}).fillna("#999999")
    ax.scatter(card["expected_fcr"], card["observed_fcr"], s=14, c=colours)
    lo = float(min(card["expected_fcr"].min(), card["observed_fcr"].min())) - 0.02
    hi = float(max(card["expected_fcr"].max(), card["observed_fcr"].max())) + 0.02
    ax.plot([lo, hi], [lo, hi], color="#bbbbbb", linestyle="--")
    ax.set_xlabel("FCR expected for the contacts they got")
    ax.set_ylabel("observed FCR")
    ax.set_title(f"{label}: observed vs expected (green: better, orange: worse)")
    fig.tight_layout()
    return fig


def monitor_figure(weekly: pd.DataFrame) -> Figure:
    """Realised vs predicted repeat rate by week on monitored contacts whose window has closed, with
    the 95% band the realised rate stays in while the model holds."""
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=110)
    x = pd.to_datetime(weekly["week"])
    ax.fill_between(x, weekly["ci_low"], weekly["ci_high"], color="#7570b3", alpha=0.2, label="95% band if the model holds")
    ax.plot(x, weekly["predicted_rate"], color="#7570b3", label="predicted")
    ax.plot(x, weekly["observed_rate"], color="#d95f02", marker="o", markersize=3, label="realised")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel("repeat rate")
    ax.set_title("Does the model still hold? Realised vs predicted repeats (matured contacts)")
    ax.legend(frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
