"""Champion or not: the registry decision for a newly registered version, failing closed.

In: the MLflow client, registry settings, the new version, its lineage (label target, split, hashes),
the baseline gate's result and the challenger's test-window rows, outcomes and probabilities. Out: a
decision dict (promoted, reason, rule, the champion compared with, every interval), for
metrics/train.json and the run's registry_decision.json.

Each data source has its own champion (alias `champion-<source id>`, contract/lineage.py): a champion
trained on another source is never compared with, never blocks, and is never replaced by the challenger;
alias `champion` follows the latest promotion of any source (for MLflow's own tools).

Promotion needs, in order: the baseline gate passed; a readable registry; then either no champion for
this source (the decision says there was none to compare with) or a champion trained for the same label
target, that never saw the challenger's test rows in training, loaded from its native model files
(LightGBM model.txt + calibration.json + feature_spec.json: no code is executed), able to score the
challenger's test rows, and not better than the challenger beyond `promote_tolerance`.
Anything that cannot be established blocks promotion, with the reason, with one exception: a champion
built on extra columns of the export that the challenger's data does not have (ingest's extra
columns changed since) cannot score these contacts at all, so it does not stand in the way.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from contract.lineage import champion_alias
from models.model_files import load_model
from models.registry.gate import row_log_loss
from models.config import RegistryConfig

log = logging.getLogger(__name__)
NATIVE_DIR = "native_model"  # run artifact folder with the native model files
TARGET_TAGS = ("label.window_days", "label.match", "label.source")  # what "the same label target" means
TEST_START_TAG = "split.test_start"
SOURCE_TAG = "lineage.id"          # the data source (contract/lineage.py): one champion per source
FILES_TAG = "model_files.md5"      # the content hash of the native model files: which version a folder is


def lineage_tags(label: dict, test_start: pd.Timestamp, test_ids: pd.Series, params_hash: str, spec_hash: str,
                 data_version: str, source: dict | None = None, files_md5: str | None = None) -> dict[str, str]:
    """The registered version's lineage: data source, label target, first test contact, hashes (all strings)."""
    import hashlib

    ids = hashlib.md5("\n".join(sorted(test_ids.astype("str"))).encode()).hexdigest()
    return {"label.window_days": f"{float(label['window_days']):g}", "label.match": str(label["match"]),
            "label.source": str(label["source"]), TEST_START_TAG: pd.Timestamp(test_start).isoformat(),
            "test_rows.md5": ids, "test_rows.count": str(len(test_ids)), "params.train_md5": params_hash,
            "feature_spec.md5": spec_hash, "data_version.features_md5": data_version,
            **({SOURCE_TAG: source["id"], "lineage.source": str(source.get("source")),
                "lineage.fingerprint": source["fingerprint"]} if source and source.get("fingerprint") else {}),
            **({FILES_TAG: files_md5} if files_md5 else {})}


def comparable(ours: dict[str, str], theirs: dict[str, str]) -> str | None:
    """None when the champion can be compared with the challenger, else why not."""
    diff = [f"{k}: champion {theirs.get(k)!r}, challenger {ours.get(k)!r}" for k in TARGET_TAGS
            if theirs.get(k) != ours.get(k)]
    if diff:
        return "trained for another label target (" + "; ".join(diff) + ")"
    if TEST_START_TAG not in theirs:
        return "the champion does not record its test window, so it may have trained on the challenger's test rows"
    if pd.Timestamp(theirs[TEST_START_TAG]) > pd.Timestamp(ours[TEST_START_TAG]):
        return (f"the champion trained on contacts up to {theirs[TEST_START_TAG]}, after the challenger's test window "
                f"starts ({ours[TEST_START_TAG]}): it has seen some of those rows")
    return None


def load_native(client: MlflowClient, run_id: str, into: Path):
    """The champion's SavedModel from its run's native model files (no pyfunc, no code execution)."""
    local = client.download_artifacts(run_id, NATIVE_DIR, str(into))
    return load_model(local)


def decide(client: MlflowClient, cfg: RegistryConfig, version: str, lineage: dict[str, str], gate: dict,
           test_rows: pd.DataFrame, y: np.ndarray, p: np.ndarray) -> dict:
    """The decision for `version` (already registered); sets no alias (the caller does, after a re-check).
    The champion is compared even when the gate fails, so the decision shows both."""
    ours = float(row_log_loss(y, p).mean())
    rule = ("champion only if the baseline gate passes, and then either there is no champion, or the champion "
            "(same label target, never trained on these rows, loaded from its native files) scores test log "
            f"loss on the same {len(y)} test rows >= the challenger's - {cfg.promote_tolerance}")
    decision = {"version": int(version), "rule": rule, "gate_passed": bool(gate["passed"]),
                "challenger_log_loss": ours, "champion_version": None, "champion_log_loss": None,
                "comparable": None}
    ok, why = _against_champion(client, cfg, lineage, test_rows, y, ours, decision)
    if not gate["passed"]:
        return decision | {"promoted": False, "reason": "failed the baseline gate: " + "; ".join(gate["failures"])
                           + f" (against the champion: {why})"}
    return decision | {"promoted": ok, "reason": why}


def _against_champion(client: MlflowClient, cfg: RegistryConfig, lineage: dict[str, str], test_rows: pd.DataFrame,
                      y: np.ndarray, ours: float, decision: dict) -> tuple[bool, str]:
    """(would the challenger take the champion's place, why); fills the champion fields of `decision`."""
    alias = champion_alias(lineage.get(SOURCE_TAG))
    decision["champion_alias"] = alias
    try:
        champion = client.get_model_version_by_alias(cfg.model_name, alias)
    except MlflowException as exc:
        if not _missing(exc):
            return False, f"the registry could not be read ({exc}); not promoted"
        champion = None
    except Exception as exc:  # noqa: BLE001 - an unreadable registry blocks promotion, whatever the error
        return False, f"the registry could not be read ({type(exc).__name__}: {exc}); not promoted"
    if champion is None:
        decision["note"] = ("there was no champion for this data source to compare with: promotion rests on the "
                            "baseline gate alone")
        return True, "no champion for this data source yet"
    decision["champion_version"] = int(champion.version)
    if str(champion.version) == str(decision["version"]):  # the same files again (DVC re-ran train)
        decision["comparable"] = True
        return True, f"these model files are the champion already (version {champion.version})"
    why_not = comparable(lineage, dict(champion.tags or {}))
    decision["comparable"] = why_not is None
    if why_not:
        return False, f"not comparable with champion v{champion.version}: {why_not}; champion kept"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            model = load_native(client, champion.run_id, Path(tmp))
        custom = {f["name"] for f in model.spec["features"] if f["family"] == "custom"}  # the extra columns
        lacking = [c for c in model.spec["model_features"] if c in custom and c not in test_rows]
        if lacking:
            decision["comparable"] = False
            return True, (f"champion v{champion.version} was built on extra column(s) {lacking} that this data "
                          "does not have (ingest.files.extra_columns changed): it cannot score these contacts")
        theirs_p = model.predict(test_rows)
    except Exception as exc:  # noqa: BLE001 - a champion that cannot be checked blocks promotion (fail closed)
        return False, (f"champion v{champion.version} could not be loaded or score the test rows from its native "
                       f"model files ({type(exc).__name__}: {exc}); not promoted")
    theirs = float(row_log_loss(y, theirs_p).mean())
    decision["champion_log_loss"] = theirs
    return ours <= theirs + cfg.promote_tolerance, f"challenger {ours:.5f} vs champion {theirs:.5f} test log loss"


def _missing(exc: MlflowException) -> bool:
    """True when the error says there is no such model or alias (a fresh registry), not that it is unreadable."""
    text = f"{exc.error_code} {exc}".lower()
    return "resource_does_not_exist" in text or "not found" in text


def champion_status(model_name: str, version: int | None, tracking_uri: str) -> dict:
    """Whether registry `version` (e.g. found by the content hash of the model files, possibly restored by
    DVC's run cache) is still the champion of its data source. `is_champion` is None when it cannot be
    told, with the reason."""
    import mlflow

    out = {"model_name": model_name, "version": version, "champion_version": None, "is_champion": None}
    if version is None:
        return out | {"reason": "these model files were not registered (train.registry.register_model off, or "
                                "registration failed): no registry version to check"}
    try:
        mlflow.set_tracking_uri(tracking_uri)
        client = MlflowClient()
        alias = champion_alias(dict(client.get_model_version(model_name, str(version)).tags or {}).get(SOURCE_TAG))
        champion = client.get_model_version_by_alias(model_name, alias)
    except Exception as exc:  # noqa: BLE001 - unknown, said plainly
        return out | {"reason": f"the registry has no readable champion for their data source "
                                f"({type(exc).__name__}: {str(exc)[:200]})"}
    same = int(champion.version) == int(version)
    return out | {"champion_version": int(champion.version), "champion_alias": alias, "is_champion": same,
                  "reason": f"these files are the champion ({alias})" if same else
                  f"these files are version {version}; the champion of their data source ({alias}) is version "
                  f"{champion.version}"}


def version_of_files(model_name: str, files_md5: str, tracking_uri: str,
                     tags: dict[str, str | None] | None = None) -> tuple[object | None, str | None]:
    """(the registered ModelVersion whose native model files have content hash `files_md5`, and `tags` when
    given, None) or (None, why not): how outputs name the version their model files are, whichever run
    wrote them."""
    import mlflow

    try:
        mlflow.set_tracking_uri(tracking_uri)
        found = MlflowClient().search_model_versions(f"name='{model_name}' and tags.`{FILES_TAG}` = '{files_md5}'")
    except Exception as exc:  # noqa: BLE001 - unknown, said plainly
        return None, f"the registry could not be searched ({type(exc).__name__}: {str(exc)[:200]})"
    found = [v for v in found if all(dict(v.tags or {}).get(k) == want for k, want in (tags or {}).items())]
    if not found:
        return None, (f"no version of {model_name} in the registry has these model files (content hash "
                      f"{files_md5[:12]}): trained elsewhere, not registered, or the registry was reset")
    return min(found, key=lambda v: int(v.version)), None  # (the same files registered twice: the first)
