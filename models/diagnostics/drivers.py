"""Drivers of non-resolution: SHAP values of the repeat model and their summaries.

In: the booster, a model frame (features.model_frame) of a sample of contacts, the feature spec,
and segment columns of the same rows. Out: per-contact SHAP values (TreeSHAP, computed by LightGBM's
`pred_contrib`, the same algorithm as shap's TreeExplainer and faster), and tables an operations
reader can use: global drivers (mean |SHAP|, signed mean, share of contacts pushed toward a repeat),
drivers by feature family and by controllability, and drivers within each segment (channel, reason
family, team); the top reasons of repeats with the driver that pushes them most; `explain` puts them together
for the explain stage, with the after-contact diagnostic model's drivers. Pure: nothing is read or written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm import tqdm

from models.model_files import SavedModel
from models.scoring import model_frame
from models.config import ExplainConfig


def shap_values(booster: lgb.Booster, X: pd.DataFrame, chunk: int = 20_000, progress: bool = True) -> np.ndarray:
    """(rows, features + 1) SHAP values on the log-odds scale; the last column is the base value."""
    parts = []
    for start in tqdm(range(0, len(X), chunk), desc="SHAP (pred_contrib)", unit="chunk", disable=not progress):
        parts.append(booster.predict(X.iloc[start:start + chunk], pred_contrib=True))
    return np.vstack(parts) if parts else np.zeros((0, X.shape[1] + 1))


def global_drivers(shap: np.ndarray, spec: dict) -> pd.DataFrame:
    names = spec["model_features"]
    by_name = {f["name"]: f for f in spec["features"]}
    s = shap[:, : len(names)]
    table = pd.DataFrame({
        "feature": names,
        "description": [by_name[n].get("label", n) for n in names],
        "family": [by_name[n]["family"] for n in names],
        "mean_abs_shap": np.abs(s).mean(axis=0),
        "mean_shap": s.mean(axis=0),
        "share_toward_repeat": (s > 0).mean(axis=0),
    })
    # Who can act on a driver (the operation, or nobody): declared per feature in features/spec.py.
    table["controllable"] = [bool(by_name[n]["controllable"]) for n in names]
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
    words = {f["name"]: f.get("label", f["name"]) for f in spec["features"]}
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


@dataclass
class Explanation:
    drivers: pd.DataFrame
    by_family: pd.DataFrame
    by_segment: pd.DataFrame
    after_contact: pd.DataFrame | None
    per_contact: pd.DataFrame     # contact_id, shap_<feature>..., base_value (float32)
    summary: dict                 # reports/drivers.json


def explain(model: SavedModel, sample: pd.DataFrame, cfg: ExplainConfig,
            after: SavedModel | None = None) -> Explanation:
    """SHAP drivers of the routing model (and of the after-contact model) on a sample of feature rows."""
    spec = model.spec
    shap = shap_values(model.booster, model_frame(sample, spec))
    drivers = global_drivers(shap, spec)
    families = family_drivers(drivers)
    segments = [c for c in cfg.segments if c in sample.columns]
    by_segment = segment_drivers(shap, spec, sample[segments], cfg.segment_top, cfg.min_segment_contacts)
    names = spec["model_features"]
    per_contact = pd.DataFrame(shap[:, : len(names)].astype(np.float32), columns=[f"shap_{n}" for n in names])
    per_contact.insert(0, "contact_id", sample["contact_id"].to_numpy())
    per_contact["base_value"] = shap[:, -1]
    summary = {
        "contacts_explained": int(len(sample)),
        "method": "TreeSHAP via LightGBM pred_contrib (log-odds of a repeat)",
        "top_drivers": drivers.head(cfg.top_features).to_dict("records"),
        "toward_repeat": drivers[drivers["mean_shap"] > 0]["feature"].head(cfg.top_features).tolist(),
        "by_family": families.to_dict("records"),
        "controllable_share": float(drivers.loc[drivers["controllable"], "share_of_total"].sum()),
        "by_segment": {col: {v: g[["feature", "mean_abs_shap", "mean_shap"]].to_dict("records")
                             for v, g in by_segment[by_segment["segment"] == col].groupby("value")}
                       for col in segments} if len(by_segment) else {},
    }
    after_drivers = None
    if after is not None:
        after_drivers = global_drivers(shap_values(after.booster, model_frame(sample, after.spec)), after.spec)
        process = after_drivers[after_drivers["family"] == "process"]
        summary["after_contact"] = {
            "what": "diagnostic model: routing features + features known only after the contact; not for routing",
            "process_drivers": process[["feature", "rank", "mean_abs_shap", "mean_shap"]].to_dict("records"),
            "top_drivers": after_drivers.head(cfg.top_features)[["rank", "feature", "family",
                                                                  "mean_abs_shap"]].to_dict("records"),
        }
    return Explanation(drivers, families, by_segment, after_drivers, per_contact, summary)


DRIVER_COLUMNS = ["rank", "feature", "description", "family", "mean_abs_shap", "mean_shap", "share_toward_repeat",
                  "controllable", "share_of_total"]


def no_model_explanation(reason: str) -> Explanation:
    """Empty driver tables (the columns a model's would have) and a summary that says why: train fitted no
    model (models/training/no_model.py), so there is nothing to attribute repeats to."""
    drivers = pd.DataFrame(columns=DRIVER_COLUMNS)
    summary = {"contacts_explained": 0, "model": None, "reason": f"no drivers: {reason}", "top_drivers": [],
               "toward_repeat": [], "by_family": [], "controllable_share": None, "by_segment": {}}
    return Explanation(drivers, pd.DataFrame(columns=["family", "controllable", "mean_abs_shap", "share_of_total"]),
                       pd.DataFrame(columns=["segment", "value", "contacts", "rank", "feature", "mean_abs_shap",
                                             "mean_shap"]), None,
                       pd.DataFrame({"contact_id": pd.Series(dtype="str"), "base_value": pd.Series(dtype="float32")}),
                       summary)
