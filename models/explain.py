"""Drivers of non-resolution: SHAP values of the repeat model and their summaries.

In: the booster, a model frame (features.model_frame) of a sample of contacts, the feature spec,
and segment columns of the same rows. Out: per-contact SHAP values (TreeSHAP, computed by LightGBM's
`pred_contrib`, the same algorithm as shap's TreeExplainer and faster), and tables an operations
reader can use: global drivers (mean |SHAP|, signed mean, share of contacts pushed toward a repeat),
drivers by feature family and by controllability, and drivers within each segment (channel, reason
family, team); the top reasons of repeats with the driver that pushes them most; and the drivers of
the after-contact diagnostic model. Pure: nothing is read or written here.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm import tqdm

from features.config import LightGBMConfig, SplitConfig
from models.training import fit_on_windows

# Who can act on a driver: the operation (agents, channels, process) or nobody (who calls, and why).
CONTROLLABLE = {"agent": True, "channel": True, "process": True, "customer": False, "reason": False}


def shap_values(booster: lgb.Booster, X: pd.DataFrame, chunk: int = 20_000, progress: bool = True) -> np.ndarray:
    """(rows, features + 1) SHAP values on the log-odds scale; the last column is the base value."""
    parts = []
    for start in tqdm(range(0, len(X), chunk), desc="SHAP (pred_contrib)", unit="chunk", disable=not progress):
        parts.append(booster.predict(X.iloc[start:start + chunk], pred_contrib=True))
    return np.vstack(parts) if parts else np.zeros((0, X.shape[1] + 1))


def with_after_contact(spec: dict) -> dict:
    """The spec of the after-contact diagnostic model: the routing model's features plus those known
    only once the contact has ended (transfers, handle time, disposition). Such a model cannot route,
    but it shows how much of the repeats the process itself explains."""
    extra = [f["name"] for f in spec["features"] if f["availability"] == "after_contact" and f.get("in_model", True)]
    return dict(spec, model_features=[*spec["model_features"], *[n for n in extra if n not in spec["model_features"]]])


def global_drivers(shap: np.ndarray, spec: dict) -> pd.DataFrame:
    names = spec["model_features"]
    by_name = {f["name"]: f for f in spec["features"]}
    s = shap[:, : len(names)]
    table = pd.DataFrame({
        "feature": names,
        "description": [by_name[n].get("description", n) for n in names],
        "family": [by_name[n]["family"] for n in names],
        "mean_abs_shap": np.abs(s).mean(axis=0),
        "mean_shap": s.mean(axis=0),
        "share_toward_repeat": (s > 0).mean(axis=0),
    })
    table["controllable"] = table["family"].map(CONTROLLABLE).fillna(False).astype(bool)
    total = table["mean_abs_shap"].sum()
    table["share_of_total"] = table["mean_abs_shap"] / total if total > 0 else 0.0
    table = table.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def family_drivers(drivers: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| summed by feature family and by controllability."""
    fam = drivers.groupby(["family", "controllable"], observed=True)[["mean_abs_shap", "share_of_total"]].sum()
    return fam.sort_values("mean_abs_shap", ascending=False).reset_index()


def segment_drivers(shap: np.ndarray, spec: dict, segments: pd.DataFrame, top: int = 5,
                    min_contacts: int = 50) -> pd.DataFrame:
    """Within each value of each segment column: its contacts, and the top features by mean |SHAP|
    with their signed mean (which way they push there)."""
    names = spec["model_features"]
    s = shap[:, : len(names)]
    rows = []
    for col in segments.columns:
        values = segments[col].astype("str").to_numpy()
        for v in pd.unique(values):
            m = values == v
            if m.sum() < min_contacts:
                continue
            mean_abs = np.abs(s[m]).mean(axis=0)
            signed = s[m].mean(axis=0)
            for r, j in enumerate(np.argsort(-mean_abs, kind="stable")[:top], start=1):
                rows.append({"segment": col, "value": v, "contacts": int(m.sum()), "rank": r, "feature": names[j],
                             "mean_abs_shap": float(mean_abs[j]), "mean_shap": float(signed[j])})
    return pd.DataFrame(rows)


def top_reasons(table: pd.DataFrame, shap: pd.DataFrame, spec: dict, n: int) -> pd.DataFrame:
    """Reason codes with the most repeats among labelled contacts, their repeat rate, and the driver
    pushing hardest toward a repeat for the sampled contacts of that reason."""
    lab = table[table["status"] == "labelled"]
    stats = lab.groupby("reason_code", observed=True)["repeated"].agg(["sum", "count"]).rename(
        columns={"sum": "repeats", "count": "contacts"})
    stats["repeat_rate"] = stats["repeats"] / stats["contacts"]
    stats = stats.sort_values("repeats", ascending=False).head(n)
    names = [n_ for n_ in spec["model_features"] if n_ not in ("reason_code", "reason_family", "reason_difficulty")]
    words = {f["name"]: f.get("description", f["name"]) for f in spec["features"]}
    reason_of = table.set_index("contact_id").loc[shap["contact_id"], "reason_code"].astype("str").to_numpy()
    main = []
    for code in stats.index.astype(str):
        m = reason_of == code
        if m.sum() == 0:
            main.append("")
            continue
        means = shap.loc[m, [f"shap_{x}" for x in names]].mean()
        main.append(means.idxmax().removeprefix("shap_") if means.max() > 0 else "")
    stats["main_driver_besides_the_reason"] = main
    stats["in_words"] = [words.get(m_, m_) for m_ in main]
    return stats.reset_index()


def after_contact_drivers(features: pd.DataFrame, sample_ids: pd.Series, spec: dict, split_cfg: SplitConfig,
                          lgb_cfg: LightGBMConfig, seed: int = 0) -> pd.DataFrame:
    """Drivers of the after-contact diagnostic model, trained on the training window (early stopping on
    validation), explained on the same sample as the routing model."""
    diag = with_after_contact(spec)
    fit = fit_on_windows(features, diag, split_cfg, lgb_cfg, seed)
    sample = fit.X.loc[features["contact_id"].isin(set(sample_ids)).to_numpy()]
    return global_drivers(shap_values(fit.booster, sample), diag)
