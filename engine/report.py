"""The report's counts of the contacts (report/counts.py) made on a Dask cluster, one customer partition at a time.

In: the contacts and labels datasets, the report's time zone. Out: `ContactCounts` of all the contacts: the
contacts joined with their labels and moved by ranges of the customer id (engine/features.py: every customer's
history, so every episode, in one partition, in stored order), each partition counted by its worker with the
local engine's `contact_counts`, the counts combined on the cluster `FAN_IN` at a time (a partition's counts
span every day and value, so one per partition gathered here would grow with the partitions); only the combined
counts come to the stage's process: the contacts are never gathered there.
"""

from __future__ import annotations

import logging

import dask
import dask.dataframe as dd
import pandas as pd
from distributed import Client

from base.config import Paths
from engine.cluster import computed, dask_client, partition_count
from engine.config import DaskConfig
from engine.features import by_customer_in_stored_order, categorical_columns
from engine.partition import customer_cuts, dataset_categories, read_contacts
from labelling.measure import WEIGHT
from report.counts import ContactCounts, combine, contact_counts
from report.inputs import CATEGORICAL, CONTACT_COLUMNS, PRESENT, REPORT_LABEL_COLUMNS

log = logging.getLogger(__name__)
FAN_IN = 8  # partition counts combined by one task


def count_partitions(client: Client, contacts: dd.DataFrame, labels: dd.DataFrame, tz: str,
                     npartitions: int) -> ContactCounts:
    """The counts of `contacts` (read with `stored_row` and `customer_id`) joined with `labels`, made in at most
    `npartitions` customer partitions and combined on the cluster."""
    categorical = [c for c in contacts.columns if isinstance(contacts[c].dtype, pd.CategoricalDtype)]
    categories = dataset_categories(contacts, categorical) | dataset_categories(
        labels, [c for c in labels.columns if isinstance(labels[c].dtype, pd.CategoricalDtype)])
    cuts = customer_cuts(contacts, npartitions)
    parts = by_customer_in_stored_order(contacts, labels, cuts, categories)
    counts = [dask.delayed(contact_counts)(piece, tz, PRESENT) for piece in parts.to_delayed()]
    while len(counts) > 1:
        counts = [dask.delayed(combine)(counts[i:i + FAN_IN]) for i in range(0, len(counts), FAN_IN)]
    (counted,) = computed(client, f"contacts of {len(cuts) + 1} partitions counted for the report", counts[0])
    log.info("report counts made on dask: %d contacts in %s rows", int(counted.views["channel_team"][WEIGHT].sum()),
             " + ".join(f"{len(v):,} ({k})" for k, v in counted.views.items()))
    return counted


def counted_on_cluster(dask_cfg: DaskConfig, paths: Paths, tz: str) -> ContactCounts:
    """The report stage's counts on the cluster of `dask_cfg` (engine.dask), from the contacts and labels
    datasets read there."""
    with dask_client(dask_cfg) as client:
        columns = list(dict.fromkeys(["contact_id", "customer_id", *CONTACT_COLUMNS, *PRESENT]))
        contacts = read_contacts(paths.contacts, columns, CATEGORICAL, numbered=True)
        label_columns = ["contact_id", *REPORT_LABEL_COLUMNS]
        labels = read_contacts(paths.labels, label_columns, categorical_columns(paths.labels, label_columns))
        return count_partitions(client, contacts, labels, tz, partition_count(client, dask_cfg))
