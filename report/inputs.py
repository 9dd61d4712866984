"""What the report reads: the outputs of ingest, label, train and explain, gathered in one object.

In: the paths section and the report section (for the optional reason-names file). Out: `ReportInputs`
(tables and dicts only; nothing is fitted here; the contacts are kept as their counts, report/counts.py; the
feature table is not read here but by the sections that need a few of its columns or rows,
report/feature_rows.py). Outputs a real export may lack (no model
trained, no after-contact model, no truth files) are None, and the report says what it left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contract.reading import read_side_table
from models.model_files import SavedModel, is_no_model, load_model
from models.measures import capture_at
from report.counts import ContactCounts, contact_counts
from report.feature_rows import FeatureRows
from report.routing import load_routing
from base.config import Paths
from report.config import ReportConfig
from contract.tables import read_columns

SEGMENTS = ("channel", "reason_family", "team")
# Contact columns the report uses, when the export has them (contract/schema.py names them).
CONTACT_COLUMNS = [
    "started_at",
    "channel",
    "reason_code",
    "reason_family",
    "agent_id",
    "team",
    "transfers",
    "survey_resolved",
    "resolution_signal",
]
CATEGORICAL = ["channel", "reason_code", "reason_family", "team"]
PRESENT = ["agent_id"]  # besides what the figures split on: what the report only says the export has or lacks
# Label columns the report uses (labelling/labeller.py LABEL_COLUMNS has more: merged_into, repeat_source and
# next_contact_delay_s are the label stage's own).
REPORT_LABEL_COLUMNS = ["status", "repeated", "tracking_repeated", "excluded_reason", "episode_id", "contact_seq",
                        "is_first_contact"]


@dataclass
class ModelOutputs:
    """What train and explain wrote; absent as a whole when no model was trained."""

    card: dict  # the routing model's card (metrics, data version)
    registry: dict  # the registry version of the model files, by content hash, and its promotion reason
    spec: dict
    curves: dict[str, pd.DataFrame]  # train_roc, train_pr, train_calibration, train_capture
    drivers: pd.DataFrame
    top_n: int  # drivers listed in drivers.json
    after: pd.DataFrame | None  # drivers of the after-contact model
    shap: pd.DataFrame  # per-contact SHAP of the explained sample
    test_ids: pd.Series  # contacts of the test window
    casemix: SavedModel | None
    # Share of repeats caught when the riskiest 10% go to specialists: the model, the frequent-caller
    # baseline and, on the synthetic centre, the true probabilities (the ceiling); absent ones left out.
    capture: dict[str, float] = field(default_factory=dict)


@dataclass
class ReportInputs:
    label: dict  # metrics/label.json
    counts: ContactCounts  # the contacts with their labels, counted by day and by what the figures split on
    table: pd.DataFrame | FeatureRows  # the feature table: read by columns and row groups (report/feature_rows.py)
    model: ModelOutputs | None
    reason_names: dict[str, str]  # reason_code: name (empty: show the codes)
    truth_dir: Path
    no_model: str | None = None  # why train fitted no model (its marker model_card.json), else None
    ingest: dict | None = None  # metrics/ingest.json (row accounting of the export), when present
    signal: dict | None = None  # contract.json `outcome_signal`: the user's resolution column, its kind and polarity
    routing: tuple | None = None  # metrics/routing.json and the capacity curve (report/routing.py), else None


def _same_ids(paths: Paths) -> bool:
    """Do the contacts and the labels hold the same contact ids in the same order (the local label stage)?
    Compared in Arrow: 10M ids as Python strings are GBs."""
    ids, label_ids = (pq.read_table(p, columns=["contact_id"])["contact_id"].cast(pa.large_string())
                      for p in (paths.contacts, paths.labels))
    return len(ids) == len(label_ids) and bool(pc.all(pc.equal(ids, label_ids)).as_py())


def load_contacts(paths: Paths) -> pd.DataFrame:
    """contacts.parquet joined with the labels on contact_id (the label stage writes them in the same rows);
    the ids themselves are not kept (no section uses them)."""
    if _same_ids(paths):
        # The same rows in the same order: the join is a side by side (a join on 10M text ids takes half a minute).
        contacts = read_columns(paths.contacts, CONTACT_COLUMNS, CATEGORICAL)
        return pd.concat([contacts, pd.read_parquet(paths.labels, columns=REPORT_LABEL_COLUMNS)], axis=1)
    contacts = read_columns(paths.contacts, ["contact_id", *CONTACT_COLUMNS], CATEGORICAL)
    labels = pd.read_parquet(paths.labels, columns=["contact_id", *REPORT_LABEL_COLUMNS])
    joined = contacts.merge(labels, on="contact_id", how="inner", validate="one_to_one")
    return joined.drop(columns="contact_id")


def load_reason_names(path: str | None) -> dict[str, str]:
    if path is None:
        return {}
    table = read_side_table(path, None, "report.reason_names")  # read as ingest reads (sniffed, BOM or UTF-8)
    missing = [c for c in ("reason_code", "reason_name") if c not in table.columns]
    if missing:
        raise ValueError(
            f"report.reason_names {path} lacks column(s) {missing}; write a CSV with the columns "
            "reason_code,reason_name or set report.reason_names: null in params.yaml."
        )
    return dict(zip(table["reason_code"].astype(str), table["reason_name"].astype(str)))


def _synthetic_names(paths: Paths) -> str | None:
    """The synthetic centre's reason names (written by generate; absent on real data)."""
    path = Path(paths.raw_dir) / "reason_names.csv"
    return str(path) if path.exists() else None


def _files_registry(paths: Paths, model_name: str, tracking_uri: str) -> dict:
    """Which registry version the model files are (by content hash: right after DVC restores older files
    from its run cache too) and whether it is still its source's champion; the promotion reason of the
    train run that registered them when that run was this clone's last (metrics/runs/train.json)."""
    from models.registry.status import files_registry_status

    path = Path(paths.metrics_dir) / "runs" / "train.json"
    last_run = json.loads(path.read_text()).get("registry", {}) if path.exists() else {}
    found = files_registry_status(Path(paths.model_dir), model_name, tracking_uri, Path("."), last_run)
    return found | {"reason": found.get("decision") or found.get("reason")}


def _capture_at_10pct(baselines: Path, predictions: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    if baselines.exists():
        table = pd.read_csv(baselines).set_index("scorer")
        for scorer in ("model", "frequent_caller"):
            if scorer in table.index and pd.notna(table.loc[scorer, "capture_at_10pct"]):
                out[scorer] = float(table.loc[scorer, "capture_at_10pct"])
    test = pd.read_parquet(predictions)
    known = test[test["p_true"].notna()] if "p_true" in test.columns else test.iloc[:0]
    if len(known) and len(known) >= 0.9 * len(test):  # the generator's contacts (merged ones have no truth)
        out["true_probabilities"] = capture_at(known["repeated"].to_numpy(), known["p_true"].to_numpy(), 0.10)
    return out


def load_model_outputs(paths: Paths, model_name: str, tracking_uri: str) -> ModelOutputs | None:
    reports, plots, model_dir = Path(paths.reports_dir), Path(paths.plots_dir), Path(paths.model_dir)
    if not (model_dir / "model_card.json").exists() or not (reports / "drivers.csv").exists():
        return None
    if is_no_model(json.loads((model_dir / "model_card.json").read_text())):
        return None  # train fitted no model: `no_model_reason` says why
    after_path = reports / "drivers_after_contact.csv"
    after = pd.read_csv(after_path) if after_path.exists() else None
    return ModelOutputs(
        card=json.loads((model_dir / "model_card.json").read_text()),
        registry=_files_registry(paths, model_name, tracking_uri),
        spec=json.loads((model_dir / "feature_spec.json").read_text()),
        curves={k: pd.read_csv(plots / f"train_{k}.csv") for k in ("roc", "pr", "calibration", "capture")},
        drivers=pd.read_csv(reports / "drivers.csv"),
        top_n=len(json.loads((reports / "drivers.json").read_text())["top_drivers"]),
        after=after if after is not None and len(after) else None,
        shap=pd.read_parquet(reports / "shap_sample.parquet"),
        test_ids=pd.read_parquet(model_dir / "test_predictions.parquet", columns=["contact_id"])["contact_id"],
        casemix=load_model(model_dir / "casemix") if (model_dir / "casemix").exists() else None,
        capture=_capture_at_10pct(plots / "train_baselines.csv", model_dir / "test_predictions.parquet"),
    )


def no_model_reason(paths: Paths) -> str | None:
    """Why train fitted no model, from its marker model_card.json; None when it did (or has not run)."""
    card_path = Path(paths.model_dir) / "model_card.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    return str(card.get("reason")) if is_no_model(card) else None


def outcome_signal(paths: Paths) -> dict | None:
    """contract.json's `outcome_signal` (which export column, flag or count, which value means resolved)."""
    path = Path(paths.contract)
    return json.loads(path.read_text()).get("outcome_signal") if path.exists() else None


def count_contacts(paths: Paths, tz: str) -> ContactCounts:
    """The local engine's counts: the contacts and labels read whole (their few columns), counted at once."""
    return contact_counts(load_contacts(paths), tz, PRESENT)


def load_report_inputs(paths: Paths, cfg: ReportConfig, model_name: str, tracking_uri: str,
                       counts: ContactCounts | None = None) -> ReportInputs:
    """What the report reads; `counts`: the contacts' counts when made elsewhere (on a cluster), else counted
    here in the report's zone (`count_contacts`)."""
    return ReportInputs(
        label=json.loads((Path(paths.metrics_dir) / "label.json").read_text()),
        counts=counts if counts is not None else count_contacts(paths, cfg.timezone or "UTC"),
        table=FeatureRows(paths.features),
        model=load_model_outputs(paths, model_name, tracking_uri),
        reason_names=load_reason_names(cfg.reason_names or _synthetic_names(paths)),
        truth_dir=Path(paths.truth_dir),
        no_model=no_model_reason(paths),
        ingest=_ingest_metrics(paths),
        signal=outcome_signal(paths),
        routing=load_routing(paths.metrics_dir, paths.plots_dir),
    )


def _ingest_metrics(paths: Paths) -> dict | None:
    path = Path(paths.metrics_dir) / "ingest.json"
    return json.loads(path.read_text()) if path.exists() else None
