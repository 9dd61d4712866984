"""The train stage's parts on a small synthetic centre: the time split, calibration, determinism, the
MLflow model (pyfunc probabilities, signature, registry aliases and the promotion rule)."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient

from pipeline.config import LightGBMConfig, RegistryConfig, SyntheticConfig, TrainConfig
from synthetic.centre import true_repeat_probability
from models.scoring import Calibrator
from models.training.calibration import fit_calibrator
from models.scoring import model_frame
from models.training.evaluation import expected_calibration_error
from models.training.split import time_split
from models.registry.tracking import log_training, plain_input
from models.training.fit import train_model
from tests.centre import centre as centre_of
from tests.centre import feature_table

FAST = LightGBMConfig.default(learning_rate=0.1, num_leaves=7, min_child_samples=50, early_stopping_rounds=20,
                      n_estimators=300)


@pytest.fixture(scope="module")
def centre():
    data, contacts = centre_of(SyntheticConfig.default(n_contacts=30000, n_customers=4000, n_agents=60, n_teams=6, days=180,
                                               seed=5))
    table, spec, _ = feature_table(data, contacts)
    truth = data.truth
    p = pd.Series(true_repeat_probability(truth, 7).to_numpy(), index=truth["contact_id"])
    true_p = p.reindex(table["contact_id"]).set_axis(table.index)
    return table, spec, true_p


@settings(max_examples=60, deadline=None)
@given(times=st.lists(st.integers(0, 50), min_size=3, max_size=60),
       statuses=st.lists(st.sampled_from(["labelled", "labelled", "censored", "excluded"]), min_size=60,
                         max_size=60),
       valid=st.floats(0.05, 0.4), test=st.floats(0.05, 0.4))
def test_time_split_is_ordered_disjoint_and_keeps_ties_together(times, statuses, valid, test):
    started = pd.Series(pd.to_datetime(times, unit="s", utc=True))
    status = pd.Series(statuses[: len(times)])
    try:
        s = time_split(started, status, valid, test)
    except ValueError:
        return  # too few contacts or distinct times for three windows: refused, not silently wrong
    secs = np.asarray(times)
    parts = [s.train, s.valid, s.test]
    all_idx = np.concatenate(parts)
    assert len(set(all_idx)) == len(all_idx)
    assert set(all_idx) == set(np.flatnonzero(status == "labelled"))  # censored/excluded left out
    for a, b in zip(parts[:-1], parts[1:], strict=True):
        assert secs[a].max() < secs[b].min()  # strictly older: ties never straddle a boundary


def test_calibrators_fix_miscalibrated_scores_and_round_trip():
    rng = np.random.default_rng(0)
    true = rng.normal(-1, 1, 40000)
    y = (rng.random(len(true)) < 1 / (1 + np.exp(-true))).astype(int)
    raw = 2.5 * true + 1.0  # overconfident and shifted
    before = expected_calibration_error(y, 1 / (1 + np.exp(-raw)))
    for method in ("platt", "isotonic"):
        cal = fit_calibrator(raw[:20000], y[:20000], method)
        after = expected_calibration_error(y[20000:], cal(raw[20000:]))
        assert before > 0.1 and after < 0.015, (method, before, after)
        again = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
        assert np.array_equal(again(raw), cal(raw))


def test_training_is_deterministic_and_beats_the_baselines(centre):
    table, spec, true_p = centre
    cfg = TrainConfig.default(lightgbm=FAST)
    a = train_model(table, spec, cfg, true_p)
    b = train_model(table, spec, cfg, true_p)
    assert a.booster.model_to_string() == b.booster.model_to_string()
    assert np.array_equal(a.test["p_repeat"], b.test["p_repeat"])
    m = a.metrics
    assert m["model"]["roc_auc"] > m["baselines"]["reason_rate"]["roc_auc"] > 0.5
    assert m["improvement_over_baselines"]["overall_rate"]["log_loss_reduction"] > 0
    assert 0.85 < m["bayes"]["auc_ratio"] < 1.02
    assert m["model"]["ece"] < 0.04
    # The test window is the newest, and only labelled contacts are scored.
    assert a.test["started_at"].min() >= table["started_at"].iloc[a.split.valid].max()
    assert set(table["status"].iloc[a.split.test]) == {"labelled"}
    # A different seed with feature subsampling gives a different model: the seed is really used.
    c = train_model(table, spec, TrainConfig.default(lightgbm=FAST, seed=1), true_p)
    assert a.booster.model_to_string() != c.booster.model_to_string()


def test_model_frame_maps_unknown_categories_to_missing(centre):
    table, spec, _ = centre
    rows = table.head(3).copy()
    rows["reason_code"] = rows["reason_code"].astype("str")
    rows.loc[rows.index[0], "reason_code"] = "NEVER-SEEN"
    X = model_frame(rows, spec)
    assert list(X.columns) == spec["model_features"]
    assert pd.isna(X["reason_code"].iloc[0]) and X["reason_code"].iloc[1] == table["reason_code"].iloc[1]
    with pytest.raises(KeyError, match="channel"):
        model_frame(rows.drop(columns=["channel"]), spec)


def test_mlflow_pyfunc_registry_and_promotion(centre, tmp_path, monkeypatch):
    table, spec, true_p = centre
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    reg = RegistryConfig.default(experiment="test")

    def train_and_log(cfg: TrainConfig) -> tuple[dict, object]:
        result = train_model(table, spec, cfg, true_p)
        out = tmp_path / f"m{cfg.lightgbm.n_estimators}"
        out.mkdir()
        result.booster.save_model(out / "model.txt", num_iteration=result.booster.best_iteration or None)
        (out / "calibration.json").write_text(json.dumps(result.calibrator.to_dict()))
        (out / "feature_spec.json").write_text(json.dumps(spec))
        files = {"booster": out / "model.txt", "calibration": out / "calibration.json",
                 "feature_spec": out / "feature_spec.json"}
        decision = log_training(cfg=reg, run_name="t", params={"n": 1}, metrics={"auc": 0.5}, tags={},
                                artifacts={"model_files": files["calibration"]}, model_artifacts=files,
                                X_test=result.X_test, y_test=result.test["repeated"].to_numpy(),
                                predict=result.predict)
        return decision, result

    first, result = train_and_log(TrainConfig.default(lightgbm=FAST))
    assert first["promoted"] and first["reason"] == "no champion yet"
    assert mlflow.get_tracking_uri().startswith("sqlite:///")
    model = mlflow.pyfunc.load_model(f"models:/{reg.model_name}@champion")
    p = np.asarray(model.predict(plain_input(result.X_test.head(200))), dtype=float)
    assert np.allclose(p, result.test["p_repeat"].head(200), atol=1e-9)  # calibrated probabilities
    assert ((p > 0) & (p < 1)).all() and len(np.unique(p)) > 50       # not class labels
    info = mlflow.models.get_model_info(f"models:/{reg.model_name}@champion")
    assert info.signature is not None and set(info.signature.inputs.input_names()) == set(spec["model_features"])
    assert info.saved_input_example_info is not None
    # A much weaker challenger (one tree) is registered but does not take the champion's place.
    weak, _ = train_and_log(TrainConfig.default(lightgbm=FAST.model_copy(update={"n_estimators": 1})))
    client = MlflowClient()
    assert not weak["promoted"] and weak["challenger_log_loss"] > weak["champion_log_loss"]
    assert client.get_model_version_by_alias(reg.model_name, "challenger").version == weak["version"]
    assert client.get_model_version_by_alias(reg.model_name, "champion").version == first["version"]
    run = client.get_run(client.get_model_version(reg.model_name, weak["version"]).run_id)
    assert run.data.tags["registry.promoted"] == "False"


def test_mlflow_run_records_its_data_trials_and_version_metadata(centre, tmp_path, monkeypatch):
    """The train stage's run: mlflow.data inputs whose digest is the features file's md5, tuning trials as
    child runs, and a registered version tagged with the label target and the feature list."""
    import pandas as pd

    from models.registry.tracking import log_train_run

    table, spec, true_p = centre
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    cfg = TrainConfig.default(lightgbm=FAST, registry=RegistryConfig.default(experiment="data"))
    result = train_model(table, spec, cfg, true_p)
    out = tmp_path / "m"
    out.mkdir()
    result.booster.save_model(out / "model.txt")
    (out / "calibration.json").write_text(json.dumps(result.calibrator.to_dict()))
    (out / "feature_spec.json").write_text(json.dumps(spec))
    files = {"booster": out / "model.txt", "calibration": out / "calibration.json",
             "feature_spec": out / "feature_spec.json"}
    features = tmp_path / "features.parquet"
    table.head(10).to_parquet(features)
    trials = pd.DataFrame({"trial": [0, 1], "num_leaves": [7, 15], "cv_log_loss": [0.5, 0.49],
                           "fold1_log_loss": [0.5, 0.49]})
    decision = log_train_run(cfg, result, spec, files, {}, result.metrics, "0123456789abcdef0123456789abcdef",
                             trials, table, str(features))
    client = MlflowClient()
    run = client.get_run(decision["run_id"])
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"features", "test_window"}
    for d in inputs.values():
        assert d.dataset.digest == "0123456789abcdef" and str(features.resolve()) in d.dataset.source
        assert {t.key: t.value for t in d.tags}["dvc.features_md5"] == "0123456789abcdef0123456789abcdef"
    assert {t.value for d in inputs.values() for t in d.tags if t.key == "mlflow.data.context"} == {"training", "test"}
    children = mlflow.search_runs(experiment_ids=[decision["experiment_id"]],
                                  filter_string=f"tags.mlflow.parentRunId = '{decision['run_id']}'")
    assert sorted(children["tags.mlflow.runName"]) == ["trial-0", "trial-1"]
    assert set(children["metrics.cv_log_loss"]) == {0.5, 0.49} and set(children["params.num_leaves"]) == {"7", "15"}
    version = client.get_model_version(cfg.registry.model_name, str(decision["version"]))
    assert version.tags["features"].split(",") == spec["model_features"]
    assert "within 7 days" in version.tags["label_target"]
