"""DVC stage `label`: ingested contacts -> contacts with labels, FCR metrics and plots.

Writes the labelled contacts, metrics/label.json (counts by status, FCR overall and by channel,
reason family and team with Wilson intervals, survey vs tracking agreement, and on synthetic data
the agreement with the generator's truth), and the weekly FCR and repeat-delay plots.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.charts import repeat_delay_figure, weekly_fcr_figure
from features.config import LabelConfig, Paths
from features.fcr_metrics import (
    fcr_table,
    first_contacts,
    repeat_delay_histogram,
    status_counts,
    survey_agreement,
    weekly_fcr,
)
from features.labels import LABEL_COLUMNS, label_contacts
from features.truth import label_truth_agreement
from pipeline.io import write_json, write_parquet_parts
from pipeline.params import run_stage

log = logging.getLogger(__name__)
SEGMENTS = ("channel", "reason_family", "team")
# What the labeller and the metrics read; the other contact columns stay on disk.
CATEGORICAL = ["channel", "reason_code", "reason_family", "team", "disposition"]
COLUMNS = ["contact_id", "customer_id", "started_at", "ended_at", "channel", "reason_code", "reason_family",
           "team", "disposition", "survey_resolved"]


def read_contacts(path: str, cfg: LabelConfig | None = None) -> pd.DataFrame:
    """The columns the labeller and the metrics need; low-cardinality codes as categoricals."""
    columns = [c for c in COLUMNS if c != "reason_code" or cfg is None or cfg.match == "same_reason"]
    table = pq.read_table(path, columns=columns, read_dictionary=[c for c in CATEGORICAL if c in columns])
    return table.to_pandas()


def label_table(contacts: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """Contacts joined with their labels (one row per contact, same order)."""
    labels = label_contacts(contacts, cfg)
    return pd.concat([contacts.reset_index(drop=True), labels[LABEL_COLUMNS]], axis=1)


def segment_tables(labelled: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """FCR tables overall ('all'), by each segment column and by week ('week')."""
    first = first_contacts(labelled, [*SEGMENTS, "started_at"])
    tables = {"all": fcr_table(labelled, first=first)}
    tables |= {seg: fcr_table(labelled, seg, first=first) for seg in SEGMENTS}
    tables["week"] = weekly_fcr(labelled, first=first)
    return tables


def fcr_metrics(labelled: pd.DataFrame, cfg: LabelConfig, tables: dict[str, pd.DataFrame] | None = None) -> dict:
    def records(t: pd.DataFrame) -> dict:
        return {str(r.segment): {"fcr": round(r.fcr, 4), "ci_low": round(r.ci_low, 4), "ci_high": round(r.ci_high, 4),
                                 "first_contacts": int(r.first_contacts)} for r in t.itertuples()}

    tables = tables or segment_tables(labelled)
    metrics = {"rules": cfg.model_dump(), "counts": status_counts(labelled), "fcr": records(tables["all"])["all"]}
    for seg in SEGMENTS:
        metrics[f"fcr_by_{seg}"] = records(tables[seg])
    metrics["survey_vs_tracking"] = survey_agreement(labelled)
    return metrics


def run(cfg: LabelConfig, paths: Paths) -> dict:
    contacts = read_contacts(paths.contacts, cfg)
    log.info("labelling %d contacts (window %g days, match %s)", len(contacts), cfg.window_days, cfg.match)
    labelled = label_table(contacts, cfg)
    # The labels travel on their own (joined to the contacts by contact_id downstream). Written in
    # the background while the metrics are computed: Parquet encoding releases the GIL.
    with ThreadPoolExecutor(max_workers=1) as pool:
        written = pool.submit(write_parquet_parts, labelled[["contact_id", *LABEL_COLUMNS]], paths.labels)
        metrics = _metrics_and_plots(labelled, cfg, paths)
        written.result()
    return metrics


def _metrics_and_plots(labelled: pd.DataFrame, cfg: LabelConfig, paths: Paths) -> dict:
    tables = segment_tables(labelled)
    metrics = fcr_metrics(labelled, cfg, tables)
    c = metrics["counts"]
    assert c["labelled"] + c["censored"] + c["excluded"] == c["rows_in"] == len(labelled)
    truth_file = Path(paths.truth_dir) / "truth.parquet"
    if truth_file.exists():
        truth = pd.read_parquet(truth_file)
        agreement = label_truth_agreement(labelled, truth, cfg.window_days)
        agreement.pop("_disagreeing_ids")
        metrics["agreement_with_generator_truth"] = agreement
    metrics_dir, plots = Path(paths.metrics_dir), Path(paths.plots_dir)
    write_json(metrics, metrics_dir / "label.json")
    weekly = tables["week"]
    weekly.to_csv(_mk(plots / "fcr_by_week.csv"), index=False)
    for seg in SEGMENTS:
        tables[seg].to_csv(plots / f"fcr_by_{seg}.csv", index=False)
    hist = repeat_delay_histogram(labelled)
    hist.to_csv(plots / "repeat_delay.csv", index=False)
    repeat_delay_figure(hist, cfg.window_days).savefig(plots / "repeat_delay.png")
    weekly_fcr_figure(weekly).savefig(plots / "fcr_by_week.png")
    log.info("FCR %.1f%% over %d first contacts; %d labelled, %d censored, %d excluded",
             100 * metrics["fcr"]["fcr"], metrics["fcr"]["first_contacts"], c["labelled"], c["censored"], c["excluded"])
    return metrics


def _mk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def main(params_path: str = "params.yaml") -> None:
    run_stage(run, "label", params_path)


if __name__ == "__main__":
    main()
