"""The routing stage in a scratch project (small synthetic centre, whole `dvc repro`): metrics/routing.json
holds every policy with its interval, and on the synthetic centre the generator's true counterfactual beside it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.pipeline.scratch import run, scratch_project, small_centre


@pytest.mark.slow
def test_routing_stage_against_the_synthetic_truth(tmp_path):
    project = scratch_project(tmp_path / "project", small_centre)
    run(["dvc", "repro", "routing"], project)
    m = json.loads((project / "metrics" / "routing.json").read_text())
    assert m["estimate"] == "doubly_robust", m.get("reason")
    assert 0 < m["overlap_share"] <= 1 and m["contacts"] > 0
    today = m["policies"]["as_assigned"]
    assert today["fcr"] == pytest.approx(m["observed_fcr"]) and today["uplift_points"] == 0
    assert today["true_uplift_points"] == 0 and 0.5 < today["true_fcr"] < 1
    for name in ("risk_to_specialists", "best_available_agent"):
        p = m["policies"][name]
        for key in ("fcr", "fcr_low", "fcr_high", "uplift_points", "uplift_low", "uplift_high",
                    "repeats_avoided_per_month", "true_fcr", "true_uplift_points"):
            assert p[key] is not None, (name, key)
        assert p["fcr_low"] <= p["fcr"] <= p["fcr_high"] and p["uplift_low"] <= p["uplift_points"] <= p["uplift_high"]
        # the interval holds the generator's own answer (the estimate's claim)
        assert p["uplift_low"] <= p["true_uplift_points"] <= p["uplift_high"], (name, p)
    curve = pd.read_csv(project / "plots" / "routing_capacity.csv")
    assert curve["specialist_capacity"].tolist() == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    assert curve["true_uplift_points"].notna().all()
