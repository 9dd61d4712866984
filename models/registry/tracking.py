"""MLflow tracking and model registry of a training run.

In: what the train stage produced (config, metrics, plot files, the booster file, calibration, feature
spec and test-score distribution, test-window inputs) and the registry settings. Out: one MLflow run with all of it, the
model logged as an MLflow pyfunc model (calibrated probability of a repeat, signature, input example),
registered as a new version with alias `challenger`, and promoted to `champion` when it is not worse
than the current champion on the same test rows. Returns what happened, for metrics/train.json.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from models.registry.lifeline import Lifeline, close_stale_runs, process_tags
from labelling.target import label_target  # noqa: F401 - (re-exported: the registry names its target)
from models.model_files import files_md5
from models.registry.promotion import (FILES_TAG, NATIVE_DIR, SOURCE_TAG, TARGET_TAGS, decide, lineage_tags,
                                       version_of_files)
from models.config import RegistryConfig, TrainConfig

log = logging.getLogger(__name__)
PYFUNC_FILE = Path(__file__).with_name("pyfunc.py")
SCORING_FILE = Path(__file__).parents[1] / "scoring.py"  # the only project code the model ships
SECRET_WORDS = ("password", "passwd", "token", "secret", "key", "signature", "sig", "credential")


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


def redact_uri(uri: str) -> str:
    """A URI fit for outputs and logs: user:password@ and secret query values replaced by ***."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(f"{k}=***" if any(w in k.lower() for w in SECRET_WORDS) else f"{k}={v}"
                     for k, v in parse_qsl(parts.query, keep_blank_values=True))
    if netloc == parts.netloc and query == parts.query:
        return uri  # nothing secret (urlunsplit would also rewrite sqlite:/// paths)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def log_training(*, cfg: RegistryConfig, run_name: str, params: dict, metrics: dict[str, float], tags: dict,
                 artifacts: dict[str, Path], model_artifacts: dict[str, Path], X_test: pd.DataFrame,
                 test_rows: pd.DataFrame, y_test: np.ndarray, p_test: np.ndarray,
                 predict: Callable[[pd.DataFrame], np.ndarray],
                 gate: dict, lineage: dict[str, str], lifeline: Lifeline | None,
                 children: list[tuple[str, dict, dict]] = (), inputs: list[tuple[object, str]] = ()) -> dict:
    """Log one training run (with the native model files, the gate, the data it used and any tuning trials
    as child runs), then, only after re-checking that the process that started training is still there,
    register the model and decide the aliases."""
    mlflow.set_tracking_uri(tracking_uri(cfg))
    experiment_id = ensure_experiment(cfg.experiment)
    client = MlflowClient()
    close_stale_runs(client, experiment_id)
    example = plain_input(X_test.head(5))
    signature = infer_signature(example, predict(X_test.head(5)))
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags(process_tags() | tags | lineage)
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        for folder, path in artifacts.items():
            mlflow.log_artifact(str(path), artifact_path=folder)
        for path in model_artifacts.values():
            mlflow.log_artifact(str(path), artifact_path=NATIVE_DIR)
        mlflow.log_dict(gate, "gate.json")
        for dataset, context in inputs:  # which data the run used: mlflow.data records (schema, digest, source)
            mlflow.log_input(dataset, context=context, tags={"dvc.features_md5": lineage.get("data_version.features_md5", "")})
        for name, child_params, child_metrics in children:  # e.g. the tuning trials
            with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=True):
                mlflow.log_params(child_params)
                mlflow.log_metrics(child_metrics)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(PYFUNC_FILE), code_paths=[str(SCORING_FILE)],
            artifacts={k: str(v) for k, v in model_artifacts.items()}, signature=signature, input_example=example,
            pip_requirements=_requirements())
        result = {"run_id": run.info.run_id, "experiment_id": experiment_id, "model_uri": info.model_uri,
                  "tracking_uri": redact_uri(mlflow.get_tracking_uri()), "gate_passed": bool(gate["passed"])}
        if not cfg.register_model:
            result |= {"version": None, "promoted": False, "reason": "train.registry.register_model is off"}
            mlflow.log_dict(result, "registry_decision.json")
            return result
        if lifeline:
            lifeline.check()
        # The same native files registered before (DVC re-ran train on data and params it had seen): that
        # version is this model; a second version of identical files would make "which version" ambiguous.
        same, _ = version_of_files(cfg.model_name, lineage.get(FILES_TAG, ""), mlflow.get_tracking_uri(),
                                   {k: lineage.get(k) for k in (*TARGET_TAGS, SOURCE_TAG)})
        if same is not None and lineage.get(FILES_TAG):
            version = str(same.version)
            log.info("these model files are registered already: version %s (not registered again)", version)
        else:
            version = str(mlflow.register_model(info.model_uri, cfg.model_name, tags=lineage).version)
        client.set_registered_model_alias(cfg.model_name, "challenger", version)
        decision = decide(client, cfg, version, lineage, gate, test_rows, y_test, p_test)
        if decision["promoted"]:
            if lifeline:
                lifeline.check()
            for alias in {decision["champion_alias"], "champion"}:  # its source's champion, and the latest of any
                client.set_registered_model_alias(cfg.model_name, alias, version)
        client.set_model_version_tag(cfg.model_name, version, "promoted", str(decision["promoted"]))
        log.info("registered %s version %s as challenger; %s (%s)", cfg.model_name, version,
                 "promoted to champion" if decision["promoted"] else "champion kept", decision["reason"])
        result |= decision
        mlflow.log_dict(result, "registry_decision.json")
        mlflow.set_tags({"registry.version": result["version"], "registry.promoted": result["promoted"]})
    return result


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
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[key] = v
    return out


def _md5(obj: object) -> str:
    return hashlib.md5(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def log_train_run(cfg: TrainConfig, target: dict, result, test_rows: pd.DataFrame, model_files: dict[str, Path],
                  plot_files: dict[str, Path], metrics: dict, data_version: str, lifeline: Lifeline | None,
                  trials: pd.DataFrame | None = None, table: "pd.DataFrame | TableOutline | None" = None,
                  features_path: str | None = None) -> dict:
    """The train stage's MLflow run: params, metrics, plots, the data version (mlflow.data inputs), the
    native model files and the pyfunc model, tuning trials as child runs; then registration (tagged with
    its lineage and feature list) and the promotion decision."""
    exp = os.environ.get("DVC_EXP_NAME")
    tags = {"dvc.experiment": exp or "", "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""),
            "calibration": cfg.calibration}
    lineage = lineage_tags(target, result.split.test_start, result.test["contact_id"], _md5(cfg.model_dump()),
                           _md5(result.spec), data_version, result.spec.get("lineage"),
                           files_md5(Path(model_files["booster"]).parent))
    params = flat_numbers(cfg.model_dump(), "train") | {"train.calibration": cfg.calibration,
                                                        "label.window_days": target["window_days"],
                                                        "features": len(result.spec["model_features"])}
    return log_training(
        cfg=cfg.registry, run_name=exp or f"train-{time.strftime('%Y%m%d-%H%M%S')}", params=params,
        metrics=flat_numbers({k: v for k, v in metrics.items() if k not in ("split", "gate")}), tags=tags,
        artifacts={f"plots_{k}": v for k, v in plot_files.items()}, model_artifacts=model_files,
        X_test=result.X_test, test_rows=test_rows, y_test=result.test["repeated"].to_numpy(),
        p_test=result.test["p_repeat"].to_numpy(),  # (= result.predict(X_test), computed once in training)
        predict=result.predict, gate=metrics["gate"], lineage=lineage | {"features": ",".join(result.spec["model_features"])},
        lifeline=lifeline, children=[] if trials is None else trial_runs(trials),
        inputs=data_inputs(result, result.spec, data_version, table, features_path))


def model_card(cfg: TrainConfig, metrics: dict, spec: dict) -> dict:
    """model_card.json: what the model files are (no registry ids: they differ per run and the card is a DVC
    output; the run id and version of this training are in metrics/runs/train.json)."""
    m = metrics["model"]
    return {"model_name": cfg.registry.model_name, "data_version": metrics["data_version"], "capacity_threshold": m["capacity_threshold"],
            "specialist_capacity": cfg.specialist_capacity, "test_metrics": m, "split": metrics["split"],
            "calibration": cfg.calibration, "gate_passed": metrics["gate"]["passed"], "lightgbm": cfg.lightgbm.model_dump(),
            "features": spec["model_features"], "dropped_features": spec.get("dropped_features", [])}


def log_artifacts_to_run(cfg: RegistryConfig, run_id: str, files: list[Path], folder: str) -> None:
    """Attach the files that exist to an earlier run (e.g. explain's drivers to the training run)."""
    mlflow.set_tracking_uri(tracking_uri(cfg))
    with mlflow.start_run(run_id=run_id):
        for path in files:
            if Path(path).exists():
                mlflow.log_artifact(str(path), artifact_path=folder)


SCHEMA_SAMPLE_ROWS = 10_000  # rows MLflow's dataset schema is inferred from (types); nulls from every row


@dataclass(frozen=True)
class TableOutline:
    """What MLflow's record of a table is made of, without the table: its first SCHEMA_SAMPLE_ROWS rows (the
    types), its row count and which columns hold a missing value on some row (the train stage reads only the
    rows its models use; `of` outlines a frame in memory)."""
    head: pd.DataFrame
    rows: int
    missing: dict[str, bool]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> "TableOutline":
        return cls(frame.head(SCHEMA_SAMPLE_ROWS), len(frame), frame.isna().any().to_dict())

    def select(self, columns: list[str]) -> "TableOutline":
        return TableOutline(self.head[columns], self.rows, {c: bool(self.missing[c]) for c in columns})


def _outlined_dataset(outline: TableOutline, **kwargs):
    """mlflow.data's PandasDataset of the outlined table: its schema and profile ({num_rows, num_elements})
    those of the whole table."""
    import mlflow.data
    from mlflow.data.pandas_dataset import PandasDataset

    class OutlinedDataset(PandasDataset):
        @property
        def profile(self) -> dict:
            return {"num_rows": outline.rows, "num_elements": int(outline.rows * outline.head.shape[1])}

    made = mlflow.data.from_pandas(outline.head, **kwargs)  # (the source resolved as MLflow resolves it)
    dataset = OutlinedDataset(outline.head, source=made.source, targets=made.targets, name=made.name,
                              digest=made.digest)
    dataset.__dict__["schema"] = sampled_schema(outline)  # (a cached_property: set, MLflow's own is not computed)
    return dataset


def data_inputs(result, spec: dict, data_version: str, table: pd.DataFrame | TableOutline | None,
                features_path: str | None) -> list[tuple[object, str]]:
    """mlflow.data records of the feature table (context training; a frame or its TableOutline) and the test
    window (context test); their digest is the DVC data version (the features file's md5), their source the file."""
    source = str(Path(features_path).resolve()) if features_path else None
    test = plain_input(result.X_test).assign(repeated=result.test["repeated"].to_numpy())
    outlines = {"test_window": (TableOutline.of(test), "test")}
    if table is not None:
        table = table if isinstance(table, TableOutline) else TableOutline.of(table)
        outlines = {"features": (table.select([*spec["model_features"], "repeated"]), "training")} | outlines
    return [(_outlined_dataset(outline, source=source, targets="repeated", name=name, digest=data_version[:16]),
             context) for name, (outline, context) in outlines.items()]


def sampled_schema(frame: pd.DataFrame | TableOutline, rows: int = SCHEMA_SAMPLE_ROWS):
    """MLflow's schema of `frame`: the types inferred from its first `rows` rows, each column required unless it
    holds a null anywhere. Equal to MLflow's inference on the whole frame (a test checks), which looks at every
    value: 21 s of the train stage at 1M contacts, 0.2 s this way."""
    from mlflow.types.schema import ColSpec, Schema
    from mlflow.types.utils import _infer_schema

    outline = frame if isinstance(frame, TableOutline) else TableOutline.of(frame)
    return Schema([ColSpec(c.type, c.name, required=not outline.missing[c.name])
                   for c in _infer_schema(outline.head.head(rows)).inputs])


def trial_runs(trials: pd.DataFrame) -> list[tuple[str, dict, dict]]:
    """(run name, params, metrics) of each tuning trial: settings as params, CV scores as metrics."""
    out = []
    for row in trials.to_dict("records"):
        scores = {k: float(v) for k, v in row.items() if k.startswith(("cv_", "fold")) and pd.notna(v)}
        params = {k: v for k, v in row.items() if k != "trial" and k not in scores and not k.startswith(("cv_", "fold"))}
        out.append((f"trial-{int(row['trial'])}", params, scores))
    return out
