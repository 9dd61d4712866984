"""DVC stage `featurize`: contacts + labels + customers + agents -> point-in-time features.

Writes the feature table (one row per contact: contact_id, started_at, the label columns training
needs, and every feature of features/spec.py, the user's extra columns of contract.json included) and
feature_spec.json, which travels with the model (with the data's lineage), and the online snapshot
(features/online.py) the scoring service starts from."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from contract.lineage import lineage
from features.builder import LABELS_FOR_TRAINING, input_columns, training_table
from features.online import LABEL_INPUTS, online_snapshot
from features.spec import extra_columns
from labelling.target import label_target
from pipeline.config import FeaturizeConfig, LabelConfig, Paths
from pipeline.io import read_columns, write_checksums, write_parquet, write_tables
from pipeline.stage import run_stage

log = logging.getLogger(__name__)
CATEGORICAL = ["channel", "reason_code", "reason_family", "agent_id", "team", "disposition"]


def run(cfg: FeaturizeConfig, label: LabelConfig, paths: Paths) -> pd.DataFrame:
    window_days, as_of = label.window_days, label.as_of
    # The user's extra columns, as ingest declared them (no contract.json: none).
    contract = json.loads(Path(paths.contract).read_text()) if Path(paths.contract).is_file() else {}
    extras = extra_columns(contract)
    columns = list(dict.fromkeys([*input_columns(extras), *LABEL_INPUTS]))  # what features and the snapshot read
    contacts = read_columns(paths.contacts, columns, CATEGORICAL)
    labels = pd.read_parquet(paths.labels, columns=["contact_id", *LABELS_FOR_TRAINING])
    customers = pd.read_parquet(paths.customers)
    agents = pd.read_parquet(paths.agents)
    log.info("building features for %d contacts", len(contacts))
    table, spec = training_table(contacts, labels, customers, agents, window_days, cfg, extras)
    write_parquet(table, paths.features)
    write_checksums(table, paths.features, paths.features_checksums)
    # The data these features belong to travels with every model trained on them (contract/lineage.py).
    described = spec.to_dict() | {"lineage": lineage(contract.get("source"), label_target(label))}
    Path(paths.feature_spec).write_text(json.dumps(described, indent=2) + "\n")
    # The service's starting state: the labeller's end of data (label.as_of or the latest contact).
    snapshot_time = pd.Timestamp(as_of, tz="UTC") if as_of else contacts["started_at"].max()
    write_tables(online_snapshot(contacts, labels, label, snapshot_time), paths.online_snapshot)
    log.info("%d features (%d for the routing model) written to %s", len(spec.features),
             len(spec.model_features), paths.features)
    return table


def main(params_path: str = "params.yaml") -> None:
    run_stage("featurize", run, "featurize", "label", params_path=params_path)


if __name__ == "__main__":
    main()
