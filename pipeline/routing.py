"""DVC stage `routing`: trained models + feature table -> the FCR routing policies would reach on the test window.

Replays the test window under as_assigned, risk_to_specialists and best_available_agent, capacity respected
(models/routing); writes metrics/routing.json (per policy FCR, uplift and repeats avoided per month with
intervals; on the synthetic centre the true counterfactual beside them) and plots/routing_capacity.csv.
No model (train's marker card): no estimate, the reason. Nothing is fitted here but the propensity.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from models.model_files import is_no_model, load_model
from models.routing.replay import replay, replay_columns
from pipeline.config import LabelConfig, Paths, RoutingConfig, TrainConfig
from contract.tables import read_columns
from pipeline.io import read_json, write_csv
from pipeline.stage import run_stage
from synthetic.counterfactual import counterfactual_if_synthetic

log = logging.getLogger(__name__)
CURVE = "routing_capacity.csv"


def run(cfg: RoutingConfig, train: TrainConfig, label: LabelConfig, paths: Paths) -> dict:
    model_dir = Path(paths.model_dir)
    card = read_json(model_dir / "model_card.json")
    if is_no_model(card):
        out, curve = {"estimate": None, "reason": f"no model: {card['reason']}"}, pd.DataFrame(
            columns=["specialist_capacity", "uplift_points", "uplift_low", "uplift_high"])
    else:
        casemix = load_model(model_dir / "casemix") if (model_dir / "casemix" / "model.txt").exists() else None
        model = load_model(model_dir)
        out, curve = replay(read_columns(paths.features, replay_columns(paths.features, model, casemix)),
                            pd.read_parquet(model_dir / "test_predictions.parquet"), model, casemix, cfg,
                            train.specialist_capacity,
                            counterfactual_if_synthetic(paths.truth_dir, label.window_days))
    write_csv(curve, Path(paths.plots_dir) / CURVE)
    for name, res in out.get("policies", {}).items():
        log.info("%s: FCR %s, uplift %s points [%s, %s], truth %s", name, res.get("fcr"), res.get("uplift_points"),
                 res.get("uplift_low"), res.get("uplift_high"), res.get("true_uplift_points"))
    return out


def main(params_path: str = "params.yaml") -> None:
    run_stage("routing", run, "routing", "train", "label", params_path=params_path)


if __name__ == "__main__":
    main()
