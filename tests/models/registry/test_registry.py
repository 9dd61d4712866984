"""The MLflow run, registration and promotion of real trained models on a small synthetic centre:
pyfunc probabilities, signature, aliases, the baseline gate, and every way promotion fails closed
(champion files gone, another label target, a deleted registry, a degenerate model)."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from models.model_files import SavedModel, save_model
from models.registry.gate import gate_on_test
from models.registry.promotion import champion_status
from models.registry.tracking import label_target, log_train_run, plain_input, redact_uri
from models.training.fit import train_model
from labelling.config import LabelConfig
from models.config import LightGBMConfig, RegistryConfig, TrainConfig
from synthetic.config import SyntheticConfig
from synthetic.centre import true_repeat_probability
from tests.centre import centre as centre_of
from tests.centre import feature_table

FAST = LightGBMConfig.default(learning_rate=0.1, num_leaves=7, min_child_samples=50, early_stopping_rounds=20,
                              n_estimators=300)
TARGET = label_target(LabelConfig.default())
_n = itertools.count()


@pytest.fixture(scope="module")
def centre():
    data, contacts = centre_of(SyntheticConfig.default(n_contacts=30000, n_customers=4000, n_agents=60, n_teams=6,
                                                       days=180, seed=5))
    table, spec, _ = feature_table(data, contacts)
    truth = data.truth
    p = pd.Series(true_repeat_probability(truth, 7).to_numpy(), index=truth["contact_id"])
    return table, spec, p.reindex(table["contact_id"]).set_axis(table.index)


def _cfg(**lgb) -> TrainConfig:
    return TrainConfig.default(lightgbm=FAST.model_copy(update=lgb),
                               registry=RegistryConfig.default(experiment="test"))


def register(centre, tmp_path: Path, cfg: TrainConfig, target: dict = TARGET, table: pd.DataFrame | None = None):
    """What the train stage does after fitting: save the native files, gate, log, register, decide."""
    base, spec, true_p = centre
    table = base if table is None else table
    result = train_model(table, spec, cfg, true_p)
    files = save_model(SavedModel(result.booster, result.calibrator, result.spec), tmp_path / f"m{next(_n)}")
    gate = gate_on_test(result.test, cfg.registry.gate, result.metrics["model"]["trees"])
    metrics = {**result.metrics, "gate": gate.to_dict()}
    decision = log_train_run(cfg, target, result, table.iloc[result.split.test], files, {}, metrics, "md5", None)
    return decision, result


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@pytest.mark.slow  # trains and registers real models (10-40 s)
def test_mlflow_pyfunc_registry_and_promotion(centre, registry):
    reg = RegistryConfig.default(experiment="test")
    first, result = register(centre, registry, _cfg())
    assert first["gate_passed"] and first["promoted"] and first["reason"] == "no champion for this data source yet"
    assert "no champion for this data source to compare with" in first["note"]
    assert mlflow.get_tracking_uri().startswith("sqlite:///")
    model = mlflow.pyfunc.load_model(f"models:/{reg.model_name}@champion")
    p = np.asarray(model.predict(plain_input(result.X_test.head(200))), dtype=float)
    assert np.allclose(p, result.test["p_repeat"].head(200), atol=1e-9)  # calibrated probabilities
    assert ((p > 0) & (p < 1)).all() and len(np.unique(p)) > 50       # not class labels
    info = mlflow.models.get_model_info(f"models:/{reg.model_name}@champion")
    assert info.signature is not None and set(info.signature.inputs.input_names()) == set(result.spec["model_features"])
    assert info.saved_input_example_info is not None
    client = MlflowClient()
    tags = client.get_model_version(reg.model_name, first["version"]).tags
    assert tags["label.match"] == "reason_family" and tags["label.window_days"] == "7"
    assert {"split.test_start", "test_rows.md5", "params.train_md5", "feature_spec.md5"} <= set(tags)
    # A much weaker challenger (one tree) is registered but does not take the champion's place.
    weak, _ = register(centre, registry, _cfg(n_estimators=1))
    assert not weak["promoted"] and weak["challenger_log_loss"] > weak["champion_log_loss"]
    assert client.get_model_version_by_alias(reg.model_name, "challenger").version == weak["version"]
    assert client.get_model_version_by_alias(reg.model_name, "champion").version == first["version"]
    run = client.get_run(client.get_model_version(reg.model_name, weak["version"]).run_id)
    assert run.data.tags["registry.promoted"] == "False"
    logged = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/registry_decision.json")
    assert logged["reason"] == weak["reason"] and "checks" in mlflow.artifacts.load_dict(
        f"runs:/{run.info.run_id}/gate.json")
    # Which version are the files? model cards carry the version; the registry says if it is still champion.
    uri = f"sqlite:///{registry / 'mlflow.db'}"
    assert champion_status(reg.model_name, first["version"], uri)["is_champion"] is True
    stale = champion_status(reg.model_name, weak["version"], uri)
    assert stale["is_champion"] is False and stale["champion_version"] == first["version"]
    assert champion_status(reg.model_name, None, uri)["is_champion"] is None


@pytest.mark.slow  # trains and registers real models (10-40 s)
def test_champion_without_its_native_files_blocks_promotion(centre, registry):
    first, _ = register(centre, registry, _cfg())
    client = MlflowClient()
    run = client.get_run(first["run_id"])
    native = Path(run.info.artifact_uri.removeprefix("file://")) / "native_model"
    assert (native / "model.txt").exists()
    (native / "model.txt").unlink()
    second, _ = register(centre, registry, _cfg(num_leaves=5))  # (other files: the same ones are one version)
    assert second["gate_passed"] and not second["promoted"]
    assert "could not be loaded" in second["reason"] and second["champion_version"] == first["version"]
    assert client.get_model_version_by_alias("fcr-classifier", "champion").version == first["version"]


@pytest.mark.slow  # trains and registers real models (10-40 s)
def test_another_label_target_is_not_comparable(centre, registry):
    first, _ = register(centre, registry, _cfg())
    other = dict(TARGET, match="same_reason")
    second, _ = register(centre, registry, _cfg(), target=other)
    assert not second["promoted"] and second["comparable"] is False
    assert "not comparable" in second["reason"] and "label.match" in second["reason"]


@pytest.mark.slow  # trains and registers real models (10-40 s)
def test_each_data_source_has_its_own_champion_and_identical_files_are_one_version(centre, registry):
    from contract.lineage import lineage, source_identity
    from models.model_files import files_md5
    from models.registry.promotion import version_of_files

    table, spec, true_p = centre
    mine = lineage(source_identity("files", {"contact_id": "CallID"}, {}, None), TARGET)
    synthetic = lineage(source_identity("synthetic", {}, {}, None), TARGET)
    first, _ = register((table, spec | {"lineage": synthetic}, true_p), registry, _cfg())
    # A much weaker model of another source: never compared with the synthetic champion, promoted by its gate.
    weak, _ = register((table, spec | {"lineage": mine}, true_p), registry, _cfg(n_estimators=30, learning_rate=0.02))
    assert first["promoted"] and weak["gate_passed"] and weak["promoted"], weak
    assert weak["champion_alias"] == f"champion-{mine['id']}" and weak["champion_version"] is None
    client = MlflowClient()
    alias = client.get_model_version_by_alias
    assert int(alias("fcr-classifier", f"champion-{synthetic['id']}").version) == first["version"]
    assert int(alias("fcr-classifier", f"champion-{mine['id']}").version) == weak["version"]
    assert int(alias("fcr-classifier", "champion").version) == weak["version"]  # the latest promotion, any source
    assert client.get_model_version("fcr-classifier", str(weak["version"])).tags["lineage.id"] == mine["id"]
    uri = f"sqlite:///{registry / 'mlflow.db'}"
    assert champion_status("fcr-classifier", first["version"], uri)["is_champion"] is True  # of its own source
    # The same data and params again (DVC re-running train): the same files, the same version, still champion.
    again, _ = register((table, spec | {"lineage": synthetic}, true_p), registry, _cfg())
    assert again["version"] == first["version"] and again["promoted"] and "already" in again["reason"]
    assert len(client.search_model_versions("name='fcr-classifier'")) == 2
    folders = sorted((f for f in registry.glob("m[0-9]*") if f.is_dir()), key=lambda f: int(f.name[1:]))
    found, _ = version_of_files("fcr-classifier", files_md5(folders[-1]), uri)
    assert int(found.version) == first["version"]


@pytest.mark.slow  # trains and registers real models (10-40 s)
def test_deleted_registry_promotes_only_through_the_gate(centre, registry, tmp_path_factory, monkeypatch):
    register(centre, registry, _cfg())
    # mlflow.db deleted: a new database (a new path, as MLflow caches its connection per URI in-process).
    (registry / "mlflow.db").unlink()
    shutil.rmtree(registry / "mlartifacts", ignore_errors=True)
    (registry / "fresh").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{registry / 'fresh' / 'mlflow.db'}")
    # A model that learnt nothing (labels shuffled) on a fresh registry: version 1, no champion, refused.
    table, spec, true_p = centre
    noise = table.copy()
    noise["repeated"] = np.random.default_rng(0).permutation(noise["repeated"].to_numpy())
    bad, _ = register((noise, spec, None), registry, _cfg(), table=noise)
    assert bad["version"] == 1 and not bad["gate_passed"] and not bad["promoted"]
    assert "failed the baseline gate" in bad["reason"] and "no champion for this data source yet" in bad["reason"]
    with pytest.raises(Exception):
        MlflowClient().get_model_version_by_alias("fcr-classifier", "champion")
    good, _ = register(centre, registry, _cfg())
    assert good["version"] == 2 and good["promoted"] and good["champion_version"] is None


@pytest.mark.slow  # trains and registers real models (10-40 s)
def test_one_tree_model_is_never_promoted(centre, registry):
    one, result = register(centre, registry, _cfg(n_estimators=1, learning_rate=0.01))
    assert result.metrics["model"]["trees"] == 1
    assert "1 tree(s)" in one["reason"]
    assert not one["promoted"] and not one["gate_passed"]


@pytest.mark.slow  # trains and registers real models (10-40 s)
def test_constant_and_missing_features_are_left_out(centre, registry):
    table, spec, true_p = centre
    t = table.copy()
    t["wait_s"] = 5.0
    t["customer_tenure_days"] = np.nan
    decision, result = register(centre, registry, _cfg(), table=t)
    dropped = {d["name"]: d["reason"] for d in result.spec["dropped_features"]}
    assert set(dropped) >= {"wait_s", "customer_tenure_days"} and "constant" in dropped["wait_s"]
    assert "all missing" in dropped["customer_tenure_days"]
    assert not {"wait_s", "customer_tenure_days"} & set(result.spec["model_features"])
    assert result.booster.num_feature() == len(result.spec["model_features"])
    assert result.metrics["dropped_features"] == result.spec["dropped_features"]


@pytest.mark.parametrize(("uri", "shown"), [
    ("http://user:s3cret@mlflow.example.org:5000", "http://***@mlflow.example.org:5000"),
    ("postgresql://fcr:pw@db/mlflow?sslmode=require&password=x",
     "postgresql://***@db/mlflow?sslmode=require&password=***"),
    ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
    ("https://host/api?token=abc", "https://host/api?token=***"),
])
def test_tracking_uri_credentials_are_redacted(uri, shown):
    assert redact_uri(uri) == shown
    assert "s3cret" not in redact_uri(uri) and "pw@" not in redact_uri(uri)


def test_sampled_schema_equals_mlflows_inference_on_every_row():
    """The dataset schema logged with a run: types from the first rows, nulls from all (a null only past the
    sample still makes its column optional), the same as MLflow's inference over the whole frame."""
    from mlflow.types.utils import _infer_schema

    from models.registry.tracking import sampled_schema

    n = 50
    frame = pd.DataFrame({
        "rate": np.linspace(0, 1, n), "count": np.arange(n, dtype="int64"),
        "channel": pd.Categorical(["phone", "chat"] * (n // 2)), "flag": np.arange(n) % 2 == 0,
        "late_null": [1.0] * (n - 1) + [None], "late_text_null": ["a"] * (n - 1) + [None]})
    got = sampled_schema(frame, rows=10)
    assert got.to_dict() == _infer_schema(frame).to_dict()
    assert not {c.name: c.required for c in got.inputs}["late_null"]
