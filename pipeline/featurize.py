"""DVC stage `featurize`: contacts + labels + customers + agents -> point-in-time features.

Writes the feature table (one row per contact: contact_id, started_at, the label columns training
needs, and every feature of features/spec.py, the user's extra columns of contract.json included) and
feature_spec.json, which travels with the model (with the data's lineage), and the online snapshot
(features/online.py) the scoring service starts from; engine.kind dask: made on a cluster (engine/features.py)
and written here partition after partition."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from contract.lineage import lineage
from features.builder import LABELS_FOR_TRAINING, input_columns, training_table
from features.online import LABEL_INPUTS, online_snapshot, snapshot_time
from features.spec import extra_columns
from labelling.target import label_target
from pipeline.config import EngineConfig, FeaturizeConfig, LabelConfig, Paths
from pipeline.io import read_columns, write_checksums, write_parquet, write_parquet_pieces, write_tables
from pipeline.stage import run_stage

log = logging.getLogger(__name__)
CATEGORICAL = ["channel", "reason_code", "reason_family", "agent_id", "team", "disposition"]


def run(cfg: FeaturizeConfig, label: LabelConfig, engine: EngineConfig, paths: Paths) -> None:
    contract = json.loads(Path(paths.contract).read_text()) if Path(paths.contract).is_file() else {}
    extras = extra_columns(contract)  # the user's extra columns, as ingest declared them (no contract.json: none)
    columns = list(dict.fromkeys([*input_columns(extras), *LABEL_INPUTS]))  # what features and the snapshot read
    customers, agents = pd.read_parquet(paths.customers), pd.read_parquet(paths.agents)
    if engine.kind == "dask":  # per partition on the cluster (Dask is imported only when it is used), the table
        from engine.features import featurized_on_cluster  # written here as its partitions come
        table, spec, snapshot = featurized_on_cluster(cfg, label, engine.dask, paths, columns, CATEGORICAL, customers,
                                                      agents, extras, write_parquet_pieces)
    else:
        labels = pd.read_parquet(paths.labels, columns=["contact_id", *LABELS_FOR_TRAINING])
        contacts = read_columns(paths.contacts, columns, CATEGORICAL)
        log.info("building features for %d contacts", len(contacts))
        table, spec = training_table(contacts, labels, customers, agents, label.window_days, cfg, extras)
        snapshot = online_snapshot(contacts, labels, label, snapshot_time(label, contacts["started_at"].max()))
        write_parquet(table, paths.features)
    write_checksums(table, paths.features, paths.features_checksums)  # (dask: the pieces' sums)
    # The data these features belong to travels with every model trained on them (contract/lineage.py).
    described = spec.to_dict() | {"lineage": lineage(contract.get("source"), label_target(label))}
    Path(paths.feature_spec).write_text(json.dumps(described, indent=2) + "\n")
    write_tables(snapshot, paths.online_snapshot)
    log.info("%d features (%d for the routing model) written to %s", len(spec.features),
             len(spec.model_features), paths.features)


def main(params_path: str = "params.yaml") -> None:
    run_stage("featurize", run, "featurize", "label", "engine", params_path=params_path)


if __name__ == "__main__":
    main()
