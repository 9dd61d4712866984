"""Labelling on a Dask cluster with the local engine's own labeller, one customer partition at a time.

In: the contacts as a Dask frame (the columns the label stage reads) and the `label` section. Out: the
contacts joined with their labels (what `labelling.labeller.label_table` returns), partitioned by
customer; for the label stage, the labels written on the cluster by its workers. Customers are independent
under every rule (labelling/labeller.py), so each partition is labelled by `label_table` itself; the one
global input, the end of the data (`label.as_of`, default the latest start), is computed once over all
partitions before and handed to each."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import dask.dataframe as dd
import pandas as pd

from base.config import Paths
from contract.tables import read_columns
from engine.cluster import dask_client, partition_count
from engine.config import DaskConfig
from engine.partition import by_customer, read_contacts, write_partitions
from labelling.config import LabelConfig
from labelling.labeller import LABEL_COLUMNS, label_table

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


def with_labels(contacts: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The contacts (in their order) joined with labels given in any order: `label_table`'s frame."""
    if not labels["contact_id"].reset_index(drop=True).equals(contacts["contact_id"].reset_index(drop=True)):
        labels = labels.set_index("contact_id").reindex(contacts["contact_id"]).reset_index()
    return pd.concat([contacts.reset_index(drop=True), labels[LABEL_COLUMNS].reset_index(drop=True)], axis=1)


def labelled_on_cluster(cfg: LabelConfig, dask: DaskConfig, paths: Paths, columns: list[str], categorical: list[str],
                        write: Callable[[pd.DataFrame, Path], None]) -> pd.DataFrame:
    """The label stage on the cluster of `dask` (engine.dask): the contacts dataset read there, labelled per
    customer partition, the labels (contact_id + label columns) written there by `write`, one part per
    partition. Returns `label_table`'s frame, the contacts (read here) joined with the labels written, for the
    FCR figures, which are still made from the whole table in this process."""
    with dask_client(dask) as client:
        contacts = read_contacts(paths.contacts, columns, categorical)
        labelled = label_on_dask(contacts, cfg, partition_count(client, dask))
        rows = write_partitions(labelled[["contact_id", *LABEL_COLUMNS]], paths.labels, write)
    log.info("%d labels written on dask to %s", rows, paths.labels)
    return with_labels(read_columns(paths.contacts, columns, categorical), pd.read_parquet(paths.labels))
