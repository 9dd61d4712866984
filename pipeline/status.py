"""`fcr status`: what DVC has, what the registry holds, what the report describes, what `fcr serve` serves.

In: the project folder and its parsed params. Out: a plain dict (`project_status`) and the lines of one
screen (`render`). Read-only: a missing `mlflow.db` is reported, never created (a SQLite tracking URI
is only opened when its file exists), and a registry or DVC that cannot be read is said plainly.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from contract.lineage import champion_alias
from models.registry.status import files_registry_status, project_uri, registry_missing
from models.registry.tracking import _md5, flat_numbers, redact_uri, tracking_uri
from pipeline.config import Params
from pipeline.io import file_md5

log = logging.getLogger(__name__)


def dvc_stale(root: Path) -> dict:
    """Stages `dvc status --json` reports as changed (stale), or why DVC could not tell."""
    proc = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=root, capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        return {"stale": None, "reason": f"`dvc status` failed: {(proc.stderr or proc.stdout).strip()[-300:]}"}
    try:
        changed = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        return {"stale": None, "reason": f"`dvc status --json` printed no JSON: {proc.stdout.strip()[-300:]}"}
    return {"stale": sorted(changed), "changes": changed}


def _version_info(client, name: str, version) -> dict:
    """Run id, data version and params hash of one registered version, from its lineage tags."""
    tags = dict(version.tags or {})
    return {"version": int(version.version), "run_id": version.run_id,
            "data_version": tags.get("data_version.features_md5"), "params_md5": tags.get("params.train_md5"),
            "label_target": {k: tags.get(k) for k in ("label.window_days", "label.match", "label.source")},
            "promoted": tags.get("promoted")}


def _current_source_id(p: Params, root: Path) -> str | None:
    """The lineage id of the data the project is set up for (featurize's feature_spec.json), if built."""
    spec = root / p.paths.feature_spec
    return (json.loads(spec.read_text()).get("lineage") or {}).get("id") if spec.is_file() else None


def registry_status(p: Params, root: Path) -> dict:
    """The champion (version, run, data version, params) and whether they match the current data and params."""
    uri = project_uri(tracking_uri(p.train.registry), root)
    name = p.train.registry.model_name
    out: dict = {"tracking_uri": redact_uri(tracking_uri(p.train.registry)), "model_name": name, "champion": None}
    missing = registry_missing(uri, root)
    if missing:
        return out | {"reason": missing}
    try:
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(uri)
        client = MlflowClient()
        alias = champion_alias(_current_source_id(p, root))
        out["alias"] = alias
        champion = client.get_model_version_by_alias(name, alias)
    except Exception as exc:  # noqa: BLE001 - no champion or an unreadable registry: said plainly
        return out | {"reason": f"no readable champion for the current data source ({type(exc).__name__}: "
                                f"{str(exc)[:200]})"}
    info = _version_info(client, name, champion)
    features = root / p.paths.features
    current = file_md5(features) if features.exists() else None
    info["data_is_current"] = None if current is None or not info["data_version"] else current == info["data_version"]
    info["params_are_current"] = None if not info["params_md5"] else _md5(p.train.model_dump()) == info["params_md5"]
    try:  # which logged train params differ from params.yaml now (MLflow keeps them as strings)
        logged = client.get_run(champion.run_id).data.params
        now = flat_numbers(p.train.model_dump(), "train")
        info["params_changed"] = {k: {"run": logged[k], "now": str(v)} for k, v in now.items()
                                  if k in logged and logged[k] != str(v)}
    except Exception as exc:  # noqa: BLE001 - the run may be gone; the hash comparison above still holds
        info["params_changed"] = None
        log.warning("champion run %s unreadable: %s", champion.run_id, exc)
    return out | {"champion": info, "reason": None}


def report_status(p: Params, root: Path, uri: str) -> dict:
    """What the report describes: the model files' card and the registry version the last train run wrote."""
    card_path = root / p.paths.model_dir / "model_card.json"
    runs_path = root / p.paths.metrics_dir / "runs" / "train.json"
    html = root / p.paths.reports_dir / "drivers.html"
    out: dict = {"report": str(html.relative_to(root)) if html.exists() else None, "model": None}
    if not card_path.exists():
        return out | {"reason": f"no {card_path.relative_to(root)}: train has not run"}
    card = json.loads(card_path.read_text())
    if card.get("model", "") is None:  # train completed without a useful model (its card says why)
        return out | {"reason": f"no model: {card.get('reason', 'no reason recorded')}", "data_version": card.get("data_version")}
    last_run = json.loads(runs_path.read_text()).get("registry", {}) if runs_path.exists() else {}
    files = files_registry_status(root / p.paths.model_dir, card.get("model_name", p.train.registry.model_name), uri,
                                  root, last_run)
    out["model"] = {"data_version": card.get("data_version"), "gate_passed": card.get("gate_passed"),
                    "roc_auc": (card.get("test_metrics") or {}).get("roc_auc"), "run_id": files.get("run_id"),
                    "version": files["version"], "promoted": files["is_champion"]}
    out["is_champion"], out["reason"] = files["is_champion"], files["reason"]
    return out


def serve_status(p: Params, root: Path, registry: dict) -> dict:
    """What `fcr serve` would load with serve.model: a registry alias resolved to a version, or a folder."""
    source = p.serve.model
    if not source.startswith("models:/"):
        card = root / source / "model_card.json"
        return {"source": source, "resolved": str(card.parent) if card.exists() else None,
                "reason": None if card.exists() else f"{card} does not exist: `fcr serve` would refuse to start"}
    name, _, alias = source.removeprefix("models:/").partition("@")
    if registry.get("reason") and registry_missing(tracking_uri(p.train.registry), root):
        return {"source": source, "resolved": None, "reason": registry["reason"] + ": `fcr serve` would refuse to start"}
    try:
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(project_uri(tracking_uri(p.train.registry), root))
        client = MlflowClient()
        if alias == "champion" and registry.get("champion"):  # as serve resolves it: this source's champion
            alias = registry.get("alias", alias)
        version = (client.get_model_version_by_alias(name, alias) if alias
                   else client.get_model_version(*name.split("/", 1)))
    except Exception as exc:  # noqa: BLE001 - unresolvable: serve would not start either
        return {"source": source, "resolved": None,
                "reason": f"cannot be resolved ({type(exc).__name__}): `fcr serve` would refuse to start"}
    source_id = _current_source_id(p, root)
    tags = dict(version.tags or {})
    fits = tags.get("lineage.id") == source_id if source_id else None
    return {"source": source, "resolved": f"{version.name} version {version.version} (run {version.run_id})"
            + {True: "", None: "", False: " - trained on another data source: `fcr serve` would not be ready "
                                          "(/readyz 503) until a model of this source is promoted"}[fits],
            "reason": None}


def project_status(p: Params, root: Path = Path(".")) -> dict:
    root = Path(root).resolve()
    registry = registry_status(p, root)
    uri = project_uri(tracking_uri(p.train.registry), root)
    return {"dvc": dvc_stale(root), "registry": registry, "report": report_status(p, root, uri),
            "serve": serve_status(p, root, registry)}


def render(status: dict) -> list[str]:
    """One screen of plain lines."""
    dvc, reg, rep, srv = status["dvc"], status["registry"], status["report"], status["serve"]
    lines = ["DVC:      " + (f"cannot tell: {dvc['reason']}" if dvc["stale"] is None else
                             "up to date (no stale stage)" if not dvc["stale"] else
                             f"stale stages: {', '.join(dvc['stale'])} (run `dvc repro`)")]
    lines.append(f"registry: {reg['model_name']} at {reg['tracking_uri']}")
    champ = reg["champion"]
    if champ is None:
        lines.append(f"  champion: none ({reg['reason']})")
    else:
        lines += [f"  champion: version {champ['version']} from run {champ['run_id']}",
                  f"  data version (features md5): {champ['data_version']} "
                  + {True: "(the current features)", False: "(NOT the current features)", None: ""}[champ["data_is_current"]],
                  f"  train params md5: {champ['params_md5']} "
                  + {True: "(as in params.yaml now)", False: "(params.yaml has changed since)", None: ""}[champ["params_are_current"]]
                  + "".join(f"; {k}: {c['run']} in the run, {c['now']} now"
                            for k, c in (champ.get("params_changed") or {}).items()),
                  f"  label target: {champ['label_target']}"]
    model = rep["model"]
    lines.append("report:   " + (rep["report"] or "not built yet"))
    if model is None:
        lines.append(f"  describes no model: {rep['reason']}")
    else:
        lines.append(f"  describes the model files of run {model['run_id']} (registry version {model['version']}, "
                     f"test AUC {model['roc_auc']}, gate {'passed' if model['gate_passed'] else 'failed'}, data "
                     f"{model['data_version']})")
        if rep.get("reason"):
            lines.append(f"  {rep['reason']}")
    lines.append(f"serve:    {srv['source']} -> " + (srv["resolved"] or srv["reason"]))
    return lines
