"""DVC stage `label`: ingested contacts -> labels, FCR metrics and the tables behind the FCR plots.

Writes the labels (contact_id + label columns; with engine.kind dask made per customer partition on a Dask
cluster: engine/label.py), metrics/label.json (counts by status, FCR overall and by channel, reason family and
team with Wilson intervals, survey vs tracking, on the synthetic centre the agreement with the generator's truth)
and plots/*.csv, from summaries (labelling/measure.py) of the whole table, or of each partition combined."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from labelling.labeller import LABEL_COLUMNS, label_table
from labelling.measure import LabelSummary, data_end, label_figures, summarize
from pipeline.config import EngineConfig, LabelConfig, Paths
from pipeline.io import read_columns, write_csvs, write_parquet, write_parquet_parts
from pipeline.stage import run_stage
from synthetic.truth import agreement_figures, read_truth, truth_counts

log = logging.getLogger(__name__)
COLUMNS = ["contact_id", "customer_id", "started_at", "ended_at", "channel", "reason_code", "reason_family",
           "team", "disposition", "survey_resolved", "resolution_signal"]
CATEGORICAL = ["channel", "reason_code", "reason_family", "team", "disposition"]


def summarized(cfg: LabelConfig, engine: EngineConfig, paths: Paths, columns: list[str]) -> tuple[LabelSummary, dict]:
    if engine.kind == "dask":  # per customer partition on the cluster, whose workers write the labels
        from engine.label import summarized_on_cluster  # (Dask is imported only when it is used)
        return summarized_on_cluster(cfg, engine.dask, paths, columns, CATEGORICAL, write_parquet)
    # In the background (Parquet, NumPy release the GIL): the truth read, the labels written and checked against it.
    with ThreadPoolExecutor(max_workers=2) as pool:
        truth = pool.submit(read_truth, paths.truth_dir)
        labelled = label_table(read_columns(paths.contacts, columns, CATEGORICAL), cfg)
        written = pool.submit(write_parquet_parts, labelled[["contact_id", *LABEL_COLUMNS]], paths.labels)
        checked = pool.submit(lambda: truth_counts(labelled, truth.result(), cfg.window_days))
        summary = summarize(labelled, cfg.window_days, data_end(labelled["started_at"], cfg.as_of))
        written.result()
        return summary, checked.result()


def run(cfg: LabelConfig, engine: EngineConfig, paths: Paths) -> dict:
    columns = [c for c in COLUMNS if c != "reason_code" or cfg.match == "same_reason"]
    summary, truth = summarized(cfg, engine, paths, columns)
    metrics, tables, delays = label_figures(summary, cfg.model_dump())
    metrics |= {"agreement_with_generator_truth": agreement_figures(truth)} if truth is not None else {}
    write_csvs({f"fcr_by_{name}": table for name, table in tables.items() if name != "all"}
               | {"repeat_delay": delays}, paths.plots_dir)
    for warning in metrics["warnings"]:
        log.warning("sanity: %s", warning)
    log.info("FCR %s over %d first contacts; statuses %s", metrics["fcr"]["fcr"], metrics["fcr"]["first_contacts"],
             metrics["counts"])
    return {k: v for k, v in metrics.items() if not k.startswith("fcr_by_")}  # (those: plots/fcr_by_*.csv)


def main(params_path: str = "params.yaml") -> None:
    run_stage("label", run, "label", "engine", params_path=params_path)


if __name__ == "__main__":
    main()
