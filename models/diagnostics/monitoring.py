"""Monitoring: does the model still hold on contacts that arrived after the data it was fitted on?

In: the reference contacts (the model's training window) and the monitored ones (rows of the feature
table: features + status + repeated), the saved model and the `monitor` section of params. Out: a
`Monitoring` with
- feature drift per model feature: the population stability index (PSI) against the reference
  (numeric features on the reference's deciles, categorical ones per value, missing as its own bin);
  a feature has drifted when PSI > `psi_alarm`;
- realised vs predicted repeats on the monitored contacts whose label window has closed (status
  "labelled"), overall and per segment value: observed repeats against the sum of the calibrated
  probabilities, over the whole period and its last `recent_days`: a normal test (scipy) of the change
  in excess rate (observed - predicted) since the reference window, variances sum p(1 - p). A segment
  alarms at p < alpha / (number of tests): Bonferroni, so a stable period stays quiet;
- the same by week for a plot, and AUC / ECE on the matured contacts.
The alarm is the performance test: inputs shift for reasons that need not hurt the model (seasonal
mix of teams and reasons, history that accumulates: on the synthetic centre several features pass
PSI 0.25 between stable months), so drifted features are a warning that explains an alarm, not one.
Contacts whose window is still open are scored and count in the drift, never in the performance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from models.model_files import SavedModel
from models.scoring import model_frame
from models.measures import expected_calibration_error, raw_scores
from models.config import MonitorConfig

log = logging.getLogger(__name__)
EPS = 1e-4  # floor on a bin's share, so an empty bin gives a large but finite PSI


def psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """Population stability index sum (c - r) ln(c / r) over bins fixed on the reference."""
    if isinstance(reference.dtype, pd.CategoricalDtype) or reference.dtype == object:
        ref = reference.astype(object).where(reference.notna(), "<missing>")
        cur = current.astype(object).where(current.notna(), "<missing>")
        values = pd.Index(ref.unique()).union(pd.Index(cur.unique()))
        r = ref.value_counts().reindex(values, fill_value=0).to_numpy(float)
        c = cur.value_counts().reindex(values, fill_value=0).to_numpy(float)
    else:
        ref, cur = reference.to_numpy(float), current.to_numpy(float)
        edges = np.unique(np.nanquantile(ref, np.linspace(0, 1, bins + 1)[1:-1])) if np.isfinite(ref).any() else []
        def counts(x: np.ndarray) -> np.ndarray:
            known = x[~np.isnan(x)]
            return np.append(np.bincount(np.searchsorted(edges, known, side="right"), minlength=len(edges) + 1),
                             np.isnan(x).sum()).astype(float)
        r, c = counts(ref), counts(cur)
    if r.sum() == 0 or c.sum() == 0:
        return float("nan")
    r, c = np.maximum(r / r.sum(), EPS), np.maximum(c / c.sum(), EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def realised_vs_predicted(y: np.ndarray, p: np.ndarray, ref_y: np.ndarray | None = None,
                          ref_p: np.ndarray | None = None) -> dict:
    """Observed and expected repeats and a two-sided normal test of the excess (observed - expected) rate.

    With a reference (the window the model was validated on), the test is of the change in excess rate
    since then: a segment the model always under-predicted by a little is not news, a new gap is."""
    n = len(y)
    observed, expected, var = float(y.sum()), float(p.sum()), float(np.sum(p * (1 - p)))
    excess, se2 = (observed - expected) / n, var / n ** 2
    ref_excess = 0.0
    if ref_y is not None and len(ref_y):
        ref_excess = float(ref_y.sum() - ref_p.sum()) / len(ref_y)
        se2 += float(np.sum(ref_p * (1 - ref_p))) / len(ref_y) ** 2
    z = (excess - ref_excess) / np.sqrt(se2) if se2 > 0 else 0.0
    return {"contacts": int(n), "observed_rate": observed / n, "predicted_rate": expected / n, "repeats": int(observed),
            "expected_repeats": expected, "reference_excess": ref_excess, "z": float(z),
            "p_value": float(2 * norm.sf(abs(z)))}


@dataclass
class Monitoring:
    drift: pd.DataFrame        # feature, psi, drifted
    calibration: pd.DataFrame  # segment, value, contacts, observed/predicted rate, z, p_value, alarm
    weekly: pd.DataFrame       # week, contacts, observed_rate, predicted_rate, ci_low, ci_high
    summary: dict


def monitor(reference: pd.DataFrame, current: pd.DataFrame, model: SavedModel, cfg: MonitorConfig) -> Monitoring:
    spec = model.spec
    if current.empty:
        raise ValueError("no contacts to monitor after the cut-off; set monitor.since earlier or add newer data")
    p = model.calibrator(raw_scores(model.booster, model_frame(current, spec)))
    ref_X, cur_X = model_frame(reference, spec), model_frame(current, spec)
    drift = pd.DataFrame([{"feature": f, "psi": psi(ref_X[f], cur_X[f])} for f in spec["model_features"]])
    drift["drifted"] = drift["psi"] > cfg.psi_alarm
    drift = drift.sort_values("psi", ascending=False, ignore_index=True)

    ref_matured = (reference["status"] == "labelled").to_numpy()
    ref_rows = reference[ref_matured]
    ref_y = ref_rows["repeated"].fillna(False).to_numpy(dtype=float)
    ref_p = model.calibrator(raw_scores(model.booster, ref_X[ref_matured]))
    matured = (current["status"] == "labelled").to_numpy()
    y, pm, rows = current["repeated"].fillna(False).to_numpy(dtype=float)[matured], p[matured], current[matured]
    started = pd.DatetimeIndex(rows["started_at"])
    # A change that starts late is diluted over the whole period: the latest matured days are tested too.
    periods = {"all": np.ones(len(y), bool)}
    if len(y):
        periods[f"last {cfg.recent_days:g} days"] = (started >= started.max() - pd.Timedelta(days=cfg.recent_days))
    tests = []
    for period, in_period in periods.items():
        if in_period.sum() >= cfg.min_segment_contacts:
            tests.append({"period": period, "segment": "all", "value": "all",
                          **realised_vs_predicted(y[in_period], pm[in_period], ref_y, ref_p)})
        for seg in [s for s in cfg.segments if s in current.columns]:
            values = rows[seg].astype(object).to_numpy()
            ref_values = ref_rows[seg].astype(object).to_numpy() if seg in ref_rows.columns else np.array([])
            for value in pd.unique(values[pd.notna(values)]):
                mask = in_period & (values == value)
                ref_mask = ref_values == value
                if mask.sum() >= cfg.min_segment_contacts:
                    tests.append({"period": period, "segment": seg, "value": str(value),
                                  **realised_vs_predicted(y[mask], pm[mask], ref_y[ref_mask], ref_p[ref_mask])})
    calibration = pd.DataFrame(tests, columns=["period", "segment", "value", "contacts", "observed_rate",
                                               "predicted_rate", "repeats", "expected_repeats", "reference_excess", "z",
                                               "p_value"])
    calibration["alarm"] = calibration["p_value"] < cfg.alpha / max(len(calibration), 1)
    calibration = calibration.sort_values("p_value", ignore_index=True)

    week = started.tz_convert("UTC").tz_localize(None).to_period("W").start_time
    weekly = (pd.DataFrame({"week": week, "y": y, "p": pm}).groupby("week", as_index=False)
              .agg(contacts=("y", "size"), observed_rate=("y", "mean"), predicted_rate=("p", "mean"),
                   var=("p", lambda s: float(np.sum(s * (1 - s))))))
    half = 1.96 * np.sqrt(weekly.pop("var")) / weekly["contacts"]  # 95% band of the observed rate if the model holds
    weekly["ci_low"], weekly["ci_high"] = weekly["predicted_rate"] - half, weekly["predicted_rate"] + half

    both = len(y) and 0 < y.mean() < 1
    alarms = [f"{r.segment}={r.value} ({r.period}): observed {r.observed_rate:.3f} vs predicted {r.predicted_rate:.3f} "
              f"(p={r.p_value:.1e}, {r.contacts} contacts)" for r in calibration[calibration["alarm"]].itertuples()]
    summary = {
        "contacts": int(len(current)), "matured": int(matured.sum()), "window_open": int((~matured).sum()),
        "from": str(current["started_at"].min()), "to": str(current["started_at"].max()),
        "auc": float(roc_auc_score(y, pm)) if both else None,
        "ece": expected_calibration_error(y.astype(np.int8), pm) if both else None,
        "observed_rate": float(y.mean()) if len(y) else None, "predicted_rate": float(pm.mean()) if len(y) else None,
        "psi_alarm": cfg.psi_alarm, "drifted_features": drift.loc[drift["drifted"], "feature"].tolist(),
        "alpha": cfg.alpha, "segments_tested": int(len(calibration)), "performance_alarms": alarms,
        "drift_warning": bool(drift["drifted"].any()), "alarm": bool(alarms),
    }
    if not len(y):
        summary["performance_note"] = "no monitored contact has a closed label window yet: performance not computed"
    return Monitoring(drift, calibration, weekly, summary)
