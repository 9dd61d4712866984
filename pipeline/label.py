"""DVC stage `label`: ingested contacts -> labels, FCR metrics and the tables behind the FCR plots.

Writes the labels (contact_id + label columns, joined downstream; with engine.kind dask made per customer
partition on a Dask cluster: engine/label.py), metrics/label.json (counts by status, FCR overall and by
channel, reason family and team with Wilson intervals, survey vs tracking, and on the synthetic centre the
agreement with the generator's truth) and plots/*.csv."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from labelling.labeller import LABEL_COLUMNS, label_table
from labelling.measure import label_metrics, repeat_delay_histogram, segment_tables
from pipeline.config import EngineConfig, LabelConfig, Paths
from pipeline.io import read_columns, write_csv, write_csvs, write_parquet, write_parquet_parts
from pipeline.stage import run_stage
from synthetic.truth import read_truth, truth_agreement

log = logging.getLogger(__name__)
COLUMNS = ["contact_id", "customer_id", "started_at", "ended_at", "channel", "reason_code", "reason_family",
           "team", "disposition", "survey_resolved", "resolution_signal"]
CATEGORICAL = ["channel", "reason_code", "reason_family", "team", "disposition"]


def run(cfg: LabelConfig, engine: EngineConfig, paths: Paths) -> dict:
    columns = [c for c in COLUMNS if c != "reason_code" or cfg.match == "same_reason"]
    # In the background (Parquet, NumPy release the GIL): the truth read, the labels written and checked against it.
    with ThreadPoolExecutor(max_workers=2) as pool:
        truth = pool.submit(read_truth, paths.truth_dir)
        if engine.kind == "dask":  # per customer partition on the cluster, whose workers write the labels
            from engine.label import labelled_on_cluster  # (Dask is imported only when it is used)
            labelled = labelled_on_cluster(cfg, engine.dask, paths, columns, CATEGORICAL, write_parquet)
        else:
            labelled = label_table(read_columns(paths.contacts, columns, CATEGORICAL), cfg)
            written = pool.submit(write_parquet_parts, labelled[["contact_id", *LABEL_COLUMNS]], paths.labels)
        checked = pool.submit(lambda: truth_agreement(labelled, truth.result(), cfg.window_days))
        tables = segment_tables(labelled)
        metrics = label_metrics(labelled, cfg.model_dump(), tables)
        if (agreement := checked.result()) is not None:
            metrics["agreement_with_generator_truth"] = agreement
        write_csvs({name: table for name, table in tables.items() if name != "all"}, paths.plots_dir, "fcr_by_")
        write_csv(repeat_delay_histogram(labelled), Path(paths.plots_dir) / "repeat_delay.csv")
        if engine.kind == "local":
            written.result()
    for warning in metrics["warnings"]:
        log.warning("sanity: %s", warning)
    log.info("FCR %s over %d first contacts; statuses %s", metrics["fcr"]["fcr"], metrics["fcr"]["first_contacts"],
             metrics["counts"])
    # The per-segment FCR tables are plots/fcr_by_*.csv; the tracked metrics keep the headline figures.
    return {k: v for k, v in metrics.items() if not k.startswith("fcr_by_")}


def main(params_path: str = "params.yaml") -> None:
    run_stage("label", run, "label", "engine", params_path=params_path)


if __name__ == "__main__":
    main()
