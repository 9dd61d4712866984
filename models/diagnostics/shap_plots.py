"""SHAP's own plots of the explained sample, for analysts: the beeswarm summary, the bar of mean |SHAP|,
the dependence of the strongest numeric driver, and the waterfall of the riskiest contact.

In: the per-contact SHAP values of the explain stage (contact_id, shap_<feature>..., base_value), the feature
rows of the same contacts, the model's feature spec and the drivers table. Out: matplotlib figures by name;
the explain stage saves them as PNG under reports/shap/. `explain_test_sample` does the explain stage's
work on a model folder: a seeded sample of its test window, the drivers (drivers.py) and these plots.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from matplotlib.figure import Figure

from contract.tables import read_rows_by_id
from models.diagnostics.drivers import Explanation, explain
from models.model_files import load_model
from models.scoring import model_frame
from models.config import ExplainConfig

log = logging.getLogger(__name__)


def explanation(per_contact: pd.DataFrame, sample: pd.DataFrame, spec: dict) -> shap.Explanation:
    """A shap.Explanation of the sample; categories coloured by their code (NaN where missing)."""
    names = spec["model_features"]
    X = model_frame(sample, spec)
    data = pd.DataFrame({f: X[f].cat.codes.where(X[f].notna()).astype(float)
                         if isinstance(X[f].dtype, pd.CategoricalDtype) else X[f].astype(float) for f in names})
    return shap.Explanation(values=per_contact[[f"shap_{f}" for f in names]].to_numpy(dtype=float),
                            base_values=per_contact["base_value"].to_numpy(dtype=float), data=data.to_numpy(),
                            feature_names=names)


def _drawn(draw, title: str) -> Figure:
    # shap's beeswarm and scatter jitter points with NumPy's global generator: seeded, the PNGs (DVC
    # outputs) are the same on every run.
    np.random.seed(0)
    plt.figure()
    draw()
    fig = plt.gcf()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def shap_figures(per_contact: pd.DataFrame, sample: pd.DataFrame, spec: dict, drivers: pd.DataFrame) -> dict[str, Figure]:
    if per_contact.empty:
        return {}
    ex = explanation(per_contact, sample, spec)
    figs = {"beeswarm": _drawn(lambda: shap.plots.beeswarm(ex, max_display=12, show=False),
                               "SHAP values (log-odds of a repeat), test-window sample"),
            "bar": _drawn(lambda: shap.plots.bar(ex, max_display=12, show=False), "Mean |SHAP| per feature")}
    kinds = {f["name"]: f["kind"] for f in spec["features"]}
    numeric = [f for f in drivers["feature"] if f in spec["model_features"] and kinds.get(f) != "categorical"]
    if numeric:
        figs["dependence"] = _drawn(lambda: shap.plots.scatter(ex[:, numeric[0]], show=False),
                                    f"Dependence: {numeric[0]}")
    riskiest = int(np.argmax(ex.values.sum(axis=1)))
    figs["waterfall"] = _drawn(lambda: shap.plots.waterfall(ex[riskiest], max_display=10, show=False),
                               f"Contact {per_contact['contact_id'].iloc[riskiest]}: why its risk is high")
    return figs


def explain_test_sample(cfg: ExplainConfig, model_dir: str | Path, features: str | Path
                        ) -> tuple[Explanation, dict[str, Figure]]:
    """Drivers and SHAP plots of a seeded sample (explain.sample_size) of the model's test window."""
    model_dir = Path(model_dir)
    model = load_model(model_dir)
    after = load_model(model_dir / "after_contact") if (model_dir / "after_contact").exists() else None
    test = pd.read_parquet(model_dir / "test_predictions.parquet", columns=["contact_id"])
    ids = test.sample(n=min(cfg.sample_size, len(test)), random_state=cfg.seed).sort_index()["contact_id"]
    sample = read_rows_by_id(features, "contact_id", ids)  # (only the sample is read: the table can be 30M rows)
    log.info("explaining %d test-window contacts", len(sample))
    out = explain(model, sample, cfg, after)
    return out, shap_figures(out.per_contact, sample, model.spec, out.drivers)
