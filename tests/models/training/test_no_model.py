"""Train without a usable feature (issue 14): the marker outputs every later step reads. The whole DAG on
such an export: tests/pipeline/test_no_useful_model.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.diagnostics.drivers import DRIVER_COLUMNS, no_model_explanation
from models.model_files import is_no_model
from models.serving.scorer import ModelNotFound, load_model
from models.training.feature_check import NoUsableFeature, usable_spec
from models.training.no_model import NO_REGISTRY, PLOT_COLUMNS, write_no_model
from base.config import Paths
from models.config import TrainConfig
from report.inputs import load_model_outputs, no_model_reason


def _no_usable_feature() -> NoUsableFeature:
    table = pd.DataFrame({"hour": [8, 8, 8], "wait_s": [np.nan] * 3})
    spec = {"model_features": ["hour", "wait_s"], "features": []}
    with pytest.raises(NoUsableFeature) as info:
        usable_spec(table, spec, np.arange(3))
    return info.value


def test_no_usable_feature_names_every_feature_and_why():
    exc = _no_usable_feature()
    assert isinstance(exc, ValueError) and "(hour, wait_s)" in str(exc) and "params.yaml" in str(exc)
    assert {d["name"]: d["reason"] for d in exc.dropped} == {
        "hour": "constant in the training window (every row 8)", "wait_s": "all missing in the training window"}


def test_marker_outputs_are_strict_and_read_as_no_model(tmp_path):
    paths = Paths.default(model_dir=str(tmp_path / "models_out"), plots_dir=str(tmp_path / "plots"),
                          reports_dir=str(tmp_path / "reports"), metrics_dir=str(tmp_path / "metrics"))
    stale = tmp_path / "models_out" / "model.txt"
    stale.parent.mkdir()
    stale.write_text("an older model")
    exc = _no_usable_feature()
    metrics = write_no_model(TrainConfig.default(), exc, "abc123", paths)
    json.dumps(metrics, allow_nan=False)
    assert metrics["model"] is None and metrics["reason"] == str(exc) and metrics["gate"]["passed"] is False
    assert NO_REGISTRY["version"] is None and NO_REGISTRY["promoted"] is False
    assert sorted(p.name for p in (tmp_path / "models_out").iterdir()) == ["model_card.json"]  # no older files
    card = json.loads((tmp_path / "models_out" / "model_card.json").read_text())
    assert is_no_model(card) and card["reason"] == str(exc) and card["data_version"] == "abc123"
    for name, columns in PLOT_COLUMNS.items():
        assert list(pd.read_csv(tmp_path / "plots" / f"train_{name}.csv").columns) == columns
    (tmp_path / "reports").mkdir()
    pd.DataFrame(columns=DRIVER_COLUMNS).to_csv(tmp_path / "reports" / "drivers.csv", index=False)
    assert load_model_outputs(paths, "fcr-classifier", f"sqlite:///{tmp_path / 'mlflow.db'}") is None and no_model_reason(paths) == str(exc)
    with pytest.raises(ModelNotFound, match="holds no model: no usable feature"):
        load_model(str(tmp_path / "models_out"))


def test_a_real_card_is_not_the_marker():
    assert not is_no_model({"model_name": "fcr-classifier", "test_metrics": {}})
    assert is_no_model({"model": None, "reason": "x"})


def test_no_model_explanation_is_empty_with_the_reason():
    out = no_model_explanation("no usable feature: ...")
    assert out.drivers.empty and list(out.drivers.columns) == DRIVER_COLUMNS and out.after_contact is None
    assert out.per_contact.empty and out.summary["top_drivers"] == [] and "no usable feature" in out.summary["reason"]
    json.dumps(out.summary, allow_nan=False)


def test_every_no_model_case_is_caught_by_the_train_stage():
    from models.training.no_model import NoModelPossible

    assert issubclass(NoUsableFeature, NoModelPossible) and issubclass(NoModelPossible, ValueError)
    assert NoModelPossible("the test window holds 10 labelled contacts and 0 repeats").dropped == []
