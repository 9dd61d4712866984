"""Labelling on a Dask cluster with the local engine's own labeller, one customer partition at a time.

In: the contacts as a Dask frame (the columns the label stage reads) and the `label` section. Out: the
contacts joined with their labels (what `labelling.labeller.label_table` returns), partitioned by
customer; for the label stage, the labels written on the cluster by its workers and, from each labelled
partition while a worker holds it, the summary of its FCR figures (labelling/measure.py `summarize`) and, on
the synthetic centre, the counts of its agreement with the generator's truth (synthetic/truth.py
`truth_counts`, on the truth rows of the partition's contacts), combined in the stage's process: the
whole table is never gathered there. Customers are independent under every rule (labelling/labeller.py),
so each partition is labelled by `label_table` itself; the one global input, the end of the data
(`label.as_of`, default the latest start), is computed once over all partitions before and handed to each."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import dask.dataframe as dd
import pandas as pd

from base.config import Paths
from engine.cluster import dask_client, partition_count
from engine.config import DaskConfig
from engine.partition import by_customer, read_contacts, write_summarized
from labelling.config import LabelConfig
from labelling.labeller import LABEL_COLUMNS, label_table
from labelling.measure import LabelSummary, combine, data_end, summarize
from synthetic.truth import combine_truth_counts, truth_counts, truth_files, truth_of

log = logging.getLogger(__name__)


def end_of_data(contacts: dd.DataFrame, cfg: LabelConfig) -> LabelConfig:
    """The rules with `as_of` fixed for every partition: label.as_of, else the latest started_at of all."""
    if cfg.as_of:
        return cfg
    latest = contacts["started_at"].max().compute()
    return cfg.model_copy(update={"as_of": None if pd.isna(latest) else pd.Timestamp(latest).isoformat()})


def label_on_dask(contacts: dd.DataFrame, cfg: LabelConfig, npartitions: int) -> dd.DataFrame:
    """Contacts + label columns, `npartitions` customer partitions each labelled by `label_table`."""
    rules = end_of_data(contacts, cfg)
    log.info("labelling on dask: %d customer partitions, end of data %s", npartitions, rules.as_of)
    parts = by_customer(contacts, npartitions)
    return parts.map_partitions(label_table, rules, meta=label_table(contacts._meta, rules))


def _write_labels(part: pd.DataFrame, path: Path, write: Callable[[pd.DataFrame, Path], None]) -> None:
    write(part[["contact_id", *LABEL_COLUMNS]], path)


def summarize_partition(labelled: pd.DataFrame, rules: LabelConfig, truth: list[Path]
                        ) -> tuple[LabelSummary, dict[str, int] | None]:
    """One labelled customer partition's summary (the end of the data: `rules.as_of`, fixed for all) and, with
    the truth's files, the agreement counts on the truth rows of its contacts."""
    summary = summarize(labelled, rules.window_days, data_end(labelled["started_at"], rules.as_of))
    counts = truth_counts(labelled, truth_of(truth, labelled["contact_id"]), rules.window_days) if truth else None
    return summary, counts


def summarized_on_cluster(cfg: LabelConfig, dask: DaskConfig, paths: Paths, columns: list[str],
                          categorical: list[str], write: Callable[[pd.DataFrame, Path], None]
                          ) -> tuple[LabelSummary, dict[str, int] | None]:
    """The label stage on the cluster of `dask` (engine.dask): the contacts dataset read there, labelled per
    customer partition, the labels (contact_id + label columns) written there by `write`, one part per
    partition, and each partition summarized there (`summarize_partition`). Returns the summaries combined:
    the FCR figures' counts, and the truth agreement's (None off the synthetic centre)."""
    with dask_client(dask) as client:
        contacts = read_contacts(paths.contacts, columns, categorical)
        rules = end_of_data(contacts, cfg)
        labelled = label_on_dask(contacts, rules, partition_count(client, dask))
        pieces = write_summarized(labelled.to_delayed(), paths.labels, partial(_write_labels, write=write),
                                  partial(summarize_partition, rules=rules, truth=truth_files(paths.truth_dir)))
    log.info("%d labels written on dask to %s", sum(s.status.rows for s, _ in pieces), paths.labels)
    truth = [c for _, c in pieces if c is not None]
    return combine([s for s, _ in pieces]), combine_truth_counts(truth) if truth else None
