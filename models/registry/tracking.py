"""MLflow tracking and model registry of a training run.

In: what the train stage produced (config, metrics, plot files, the booster file, calibration and
feature spec, test-window inputs) and the registry settings. Out: one MLflow run with all of it, the
model logged as an MLflow pyfunc model (calibrated probability of a repeat, signature, input example),
registered as a new version with alias `challenger`, and promoted to `champion` when it is not worse
than the current champion on the same test rows. Returns what happened, for metrics/train.json.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sklearn.metrics import log_loss

from pipeline.config import RegistryConfig, TrainConfig

log = logging.getLogger(__name__)
PYFUNC_FILE = Path(__file__).with_name("pyfunc.py")
SCORING_FILE = Path(__file__).parents[1] / "scoring.py"  # the only project code the model ships


def tracking_uri(cfg: RegistryConfig) -> str:
    """`MLFLOW_TRACKING_URI` when set, else params (default: the project's SQLite database)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or cfg.tracking_uri


def ensure_experiment(name: str) -> str:
    """The experiment's id; a new one keeps its artifacts next to the database, not in the cwd."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    uri = mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///")).resolve()
        location = (db.parent / "mlartifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def plain_input(X: pd.DataFrame) -> pd.DataFrame:
    """Model input as a caller sends it: strings for categories, floats for numbers."""
    out = {}
    for c in X.columns:
        if isinstance(X[c].dtype, pd.CategoricalDtype):
            out[c] = X[c].astype(object).where(X[c].notna(), None)
        else:
            out[c] = X[c].astype("float64")
    return pd.DataFrame(out)


def log_training(*, cfg: RegistryConfig, run_name: str, params: dict, metrics: dict[str, float], tags: dict,
                 artifacts: dict[str, Path], model_artifacts: dict[str, Path], X_test: pd.DataFrame,
                 y_test: np.ndarray, predict: Callable[[pd.DataFrame], np.ndarray],
                 children: list[tuple[str, dict, dict]] = (), inputs: list[tuple[object, str]] = (),
                 version_tags: dict[str, str] | None = None) -> dict:
    """Log one training run, register the model, set aliases; return run id, version and promotion."""
    mlflow.set_tracking_uri(tracking_uri(cfg))
    experiment_id = ensure_experiment(cfg.experiment)
    example = plain_input(X_test.head(5))
    signature = infer_signature(example, predict(X_test.head(5)))
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        for dataset, context in inputs:  # which data the run used: mlflow.data records (schema, digest, source)
            mlflow.log_input(dataset, context=context, tags={"dvc.features_md5": tags.get("data_version.features_md5", "")})
        for name, child_params, child_metrics in children:  # e.g. the tuning trials
            with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=True):
                mlflow.log_params(child_params)
                mlflow.log_metrics(child_metrics)
        for folder, path in artifacts.items():
            mlflow.log_artifact(str(path), artifact_path=folder)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(PYFUNC_FILE), code_paths=[str(SCORING_FILE)],
            artifacts={k: str(v) for k, v in model_artifacts.items()}, signature=signature, input_example=example,
            pip_requirements=_requirements(),
            registered_model_name=cfg.model_name if cfg.register_model else None,
        )
        result = {"run_id": run.info.run_id, "experiment_id": experiment_id, "model_uri": info.model_uri,
                  "tracking_uri": mlflow.get_tracking_uri()}
        if cfg.register_model:
            for key, value in (version_tags or {}).items():  # what the version predicts and from which features
                MlflowClient().set_model_version_tag(cfg.model_name, str(info.registered_model_version), key, value)
            result |= _promote(cfg, info.registered_model_version, X_test, y_test, predict)
            mlflow.log_dict(result, "registry_decision.json")
            mlflow.set_tags({"registry.version": result["version"], "registry.promoted": result["promoted"]})
    return result


def _promote(cfg: RegistryConfig, version: int | str, X: pd.DataFrame, y: np.ndarray,
             predict: Callable[[pd.DataFrame], np.ndarray]) -> dict:
    client = MlflowClient()
    version = str(version)  # the registry hands back int or str depending on the call
    client.set_registered_model_alias(cfg.model_name, "challenger", version)
    ours = float(log_loss(y, np.clip(predict(X), 1e-7, 1 - 1e-7), labels=[0, 1]))
    rule = (f"challenger becomes champion if its test log loss <= the champion's on the same {len(y)} test rows "
            f"+ {cfg.promote_tolerance}")
    decision = {"version": int(version), "rule": rule, "challenger_log_loss": ours}
    try:
        champion = client.get_model_version_by_alias(cfg.model_name, "champion")
    except MlflowException:
        champion = None
    if champion is None:
        decision |= {"champion_version": None, "champion_log_loss": None, "promoted": True,
                     "reason": "no champion yet"}
    else:
        decision["champion_version"] = int(champion.version)
        try:
            model = mlflow.pyfunc.load_model(f"models:/{cfg.model_name}@champion")
            theirs = float(log_loss(y, np.clip(np.asarray(model.predict(plain_input(X)), dtype=float), 1e-7,
                                               1 - 1e-7), labels=[0, 1]))
        except Exception as exc:  # an old champion that cannot score today's features cannot defend its title
            decision |= {"champion_log_loss": None, "promoted": True,
                         "reason": f"champion v{champion.version} cannot score the current features: {exc}"}
        else:
            better = ours <= theirs + cfg.promote_tolerance
            decision |= {"champion_log_loss": theirs, "promoted": better,
                         "reason": f"challenger {ours:.5f} vs champion {theirs:.5f}"}
    if decision["promoted"]:
        client.set_registered_model_alias(cfg.model_name, "champion", version)
    log.info("registered %s version %s as challenger; %s (%s)", cfg.model_name, version,
             "promoted to champion" if decision["promoted"] else "champion kept", decision["reason"])
    return decision


def _requirements() -> list[str]:
    """Pinned to what trained the model (inferring them would import-trace the model: slow)."""
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("mlflow", "lightgbm", "pandas", "numpy", "scikit-learn", "pyarrow")]


def flat_numbers(d: dict, prefix: str = "") -> dict[str, float]:
    """Nested dict -> {"a.b.c": number} (MLflow params and metrics are flat)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out |= flat_numbers(v, key)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = v
    return out


def log_train_run(cfg: TrainConfig, result, spec: dict, model_files: dict[str, Path], plot_files: dict[str, Path],
                  metrics: dict, data_version: str, trials: pd.DataFrame | None = None,
                  table: pd.DataFrame | None = None, features_path: str | None = None) -> dict:
    """The train stage's MLflow run: params, metrics, plots, the data version, the pyfunc model; then
    registration and the promotion decision (see `log_training`). Tuning trials become child runs."""
    exp = os.environ.get("DVC_EXP_NAME")
    tags = {"data_version.features_md5": data_version, "dvc.experiment": exp or "",
            "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""), "calibration": cfg.calibration}
    params = flat_numbers(cfg.model_dump(), "train") | {"train.calibration": cfg.calibration,
                                                        "label.window_days": spec["label_window_days"],
                                                        "features": len(spec["model_features"])}
    return log_training(
        cfg=cfg.registry, run_name=exp or f"train-{time.strftime('%Y%m%d-%H%M%S')}", params=params,
        metrics=flat_numbers({k: v for k, v in metrics.items() if k != "split"}), tags=tags,
        artifacts={f"plots_{k}": v for k, v in plot_files.items()} | {
            "model_files": model_files["calibration"], "feature_spec": model_files["feature_spec"]},
        model_artifacts=model_files, X_test=result.X_test, y_test=result.test["repeated"].to_numpy(),
        predict=result.predict, children=[] if trials is None else trial_runs(trials),
        inputs=data_inputs(result, spec, data_version, table, features_path),
        version_tags={"label_target": label_target(spec), "features": ",".join(spec["model_features"]),
                      "data_version.features_md5": data_version})


def label_target(spec: dict) -> str:
    return (f"repeated: 1 if the customer came back about the same issue within {spec['label_window_days']:g} days "
            "(labelled contacts only; censored ones left out); the model gives its calibrated probability")


def data_inputs(result, spec: dict, data_version: str, table: pd.DataFrame | None,
                features_path: str | None) -> list[tuple[object, str]]:
    """mlflow.data records of the feature table (context training) and the test window (context test);
    their digest is the DVC data version (the features file's md5), their source the file."""
    import mlflow.data

    source = str(Path(features_path).resolve()) if features_path else None
    test = plain_input(result.X_test).assign(repeated=result.test["repeated"].to_numpy())
    out = [(mlflow.data.from_pandas(test, source=source, targets="repeated", name="test_window",
                                    digest=data_version[:16]), "test")]
    if table is not None:
        columns = [*spec["model_features"], "repeated"]
        out.insert(0, (mlflow.data.from_pandas(table[columns], source=source, targets="repeated", name="features",
                                               digest=data_version[:16]), "training"))
    return out


def trial_runs(trials: pd.DataFrame) -> list[tuple[str, dict, dict]]:
    """(run name, params, metrics) of each tuning trial: settings as params, CV scores as metrics."""
    out = []
    for row in trials.to_dict("records"):
        scores = {k: float(v) for k, v in row.items() if k.startswith(("cv_", "fold")) and pd.notna(v)}
        params = {k: v for k, v in row.items() if k != "trial" and k not in scores and not k.startswith(("cv_", "fold"))}
        out.append((f"trial-{int(row['trial'])}", params, scores))
    return out


def log_artifacts_to_run(cfg: RegistryConfig, run_id: str, files: list[Path], folder: str) -> None:
    """Attach the files that exist to an earlier run (e.g. explain's drivers to the training run)."""
    mlflow.set_tracking_uri(tracking_uri(cfg))
    with mlflow.start_run(run_id=run_id):
        for path in files:
            if Path(path).exists():
                mlflow.log_artifact(str(path), artifact_path=folder)
