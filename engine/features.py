"""Featurize on a Dask cluster with the local engine's own feature code, one partition at a time.

In: the contacts and labels datasets, the customers and agents tables, the label rules, the `featurize`
section, the user's extra columns. Out: what the local engine makes (features/builder.py, features/online.py):
the feature table with the label columns training needs, in the contacts' stored order and gathered in this
process (train reads one verified file), its spec, and the online snapshot. How (no rule is written here):
- the contacts, joined with their labels, are shuffled by customer (every customer's history in one
  partition, in stored order, with the dataset's categories); `builder.prepare` makes each partition's
  rule inputs, and `rules.row_features` and `rules.customer_history` its customer features;
- each partition's grouping keys are shuffled by reason family, reason code, team and agent, where
  `rules.group_counts` (and `rules.agent_contacts_today`) run on whole groups, and the results go back by
  customer to the partition of their contacts;
- everyone's matured counts: per-second totals of the labelled contacts, summed over partitions, given to
  `rules.overall_counts`;
- then per customer partition `rules.rates` and `builder.assemble`; the snapshot from `features/online.py`'s
  parts per customer partition, summed (`group_sums`) and put in stored order.
"""

from __future__ import annotations

import logging
import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client

from base.config import Paths
from engine.cluster import dask_client, partition_count
from engine.config import DaskConfig
from engine.partition import STORED_ROW, dataset_categories, read_contacts, with_categories
from features import rules
from features.builder import (OPTIONAL_COLUMNS, absent_columns, assemble, prepare, table_spec,
                              with_training_labels)
from features.config import FeaturizeConfig
from features.history import GroupIndex, group_codes
from features.online import (group_sums, history_columns, history_kept, keyed_counts, matured_rows, snapshot_meta,
                             snapshot_time, with_history_columns)
from features.spec import ExtraColumn, FeatureSpec
from labelling.config import LabelConfig

log = logging.getLogger(__name__)
LABEL_INPUTS = ["contact_id", "status", "repeated"]  # what the features read of the labels
GROUPED = ("reason_family", "reason_code", "team", "agent")  # shuffled by their column (agent: with agent x family)


def by_customer_in_stored_order(contacts: dd.DataFrame, labels: dd.DataFrame, npartitions: int,
                                categories: dict[str, list]) -> dd.DataFrame:
    """Contacts with their labels' columns, `npartitions` partitions by a hash of customer_id, each in stored
    order with the dataset's categories."""
    joined = contacts.merge(labels, on="contact_id", how="left")
    shuffled = joined.shuffle(on="customer_id", npartitions=npartitions, ignore_index=True)
    return shuffled.map_partitions(_stored_order, categories, meta=with_categories(joined._meta, categories))


def _stored_order(part: pd.DataFrame, categories: dict[str, list]) -> pd.DataFrame:
    return with_categories(part.sort_values(STORED_ROW, kind="stable").reset_index(drop=True), categories)


def grouping_keys(part: pd.DataFrame, customers: pd.DataFrame, agents: pd.DataFrame) -> pd.DataFrame:
    """Per contact of a customer partition: what the grouped counts need (its raw keys, the team its agent's
    where the contact names none, start in seconds, label flags)."""
    p = prepare(part, part, customers, agents)
    c, x = p.contacts, p.inputs
    return pd.DataFrame({"contact_id": c["contact_id"].array, "customer_id": c["customer_id"].array, "t": x.t,
                         "labelled": x.labelled, "repeated": x.repeated, "reason_family": c["reason_family"].array,
                         "reason_code": c["reason_code"].array, "team": p.team.array, "agent_id": p.agent.array})


def grouped_counts(keys: pd.DataFrame, grouping: str, window_days: float) -> pd.DataFrame:
    """The matured counts of a partition holding whole groups of `grouping` (agent: also agent x family and
    the agent's contacts today), per contact_id (with customer_id, to go back to its customer's partition)."""
    t, labelled, repeated = keys["t"].to_numpy(), keys["labelled"].to_numpy(), keys["repeated"].to_numpy()
    window = rules.window_seconds(window_days)
    group = group_codes(keys[rules.GROUPINGS[grouping][0]])
    out = {"contact_id": keys["contact_id"].array, "customer_id": keys["customer_id"].array}
    index = GroupIndex.build(group, t, margin=rules.longest_lookback(window_days)) if grouping == "agent" else None
    out[f"{grouping}_events"], out[f"{grouping}_trials"] = rules.group_counts(group, t, labelled, repeated, window,
                                                                             index=index)
    if grouping == "agent":
        pairs = rules.pair_codes(group, group_codes(keys["reason_family"]))
        out["agent_family_events"], out["agent_family_trials"] = rules.group_counts(pairs, t, labelled, repeated,
                                                                                   window)
        out["agent_contacts_today"] = rules.agent_contacts_today(group, t, index=index)
    return pd.DataFrame(out)


def per_second_totals(keys: pd.DataFrame) -> pd.DataFrame:
    """Labelled contacts and their repeats per start second (everyone's counts; sums of sums add up)."""
    return keys.loc[keys["labelled"], ["t", "repeated", "labelled"]].astype(np.int64).groupby("t").sum()


def featurize_partition(part: pd.DataFrame, grouped: list[pd.DataFrame], overall: pd.DataFrame,
                        customers: pd.DataFrame, agents: pd.DataFrame, window_days: float, cfg: FeaturizeConfig,
                        extras: dict[str, ExtraColumn] | None) -> pd.DataFrame:
    """The features of a customer partition (with `stored_row`), its grouped counts joined back by contact_id."""
    p = prepare(part, part, customers, agents)
    x = p.inputs
    joined = pd.concat([g.drop(columns="customer_id").set_index("contact_id") for g in grouped], axis=1)
    if len(joined) != len(part) or not p.contacts["contact_id"].isin(joined.index).all():
        raise RuntimeError("grouped counts did not come back to their customer's partition")
    joined = joined.reindex(p.contacts["contact_id"])
    f = rules.row_features(x)
    history, customer = rules.customer_history(x, window_days)
    f.update(history)
    counts = {"customer": customer, "global": rules.overall_counts(
        x.t, overall.index.to_numpy(), overall["repeated"].to_numpy(), overall["labelled"].to_numpy(),
        rules.window_seconds(window_days))}
    for grouping in (*GROUPED, "agent_family"):
        counts[grouping] = tuple(joined[f"{grouping}_{w}"].to_numpy(np.float64) for w in ("events", "trials"))
    f.update(rules.rates(counts.__getitem__, x, cfg.prior_strength))
    f["agent_contacts_today"] = joined["agent_contacts_today"].to_numpy(np.float64)
    return assemble(p, f, extras).assign(**{STORED_ROW: part[STORED_ROW].to_numpy()})


def snapshot_partition(part: pd.DataFrame, label: LabelConfig, as_of: pd.Timestamp) -> tuple[dict, pd.DataFrame]:
    """A customer partition's share of the online snapshot: its `group_sums` and its history rows."""
    part = with_history_columns(part)
    kept = part.loc[history_kept(part, label, as_of), [*history_columns(part), STORED_ROW]]
    return group_sums(matured_rows(part, part, label, as_of)), kept


def in_stored_order(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """Partitions' rows as one frame in the contacts' stored order. A categorical column whose categories
    differ between partitions was made from the values present (`astype("category")`: sorted), so it gets
    the sorted union, what the whole table's values give."""
    pieces = [p for p in pieces if len(p)] or pieces[:1]
    for col in pieces[0].columns:
        if isinstance(pieces[0][col].dtype, pd.CategoricalDtype):
            cats = [list(p[col].cat.categories) for p in pieces]
            if any(c != cats[0] for c in cats):
                union = sorted(set().union(*cats))
                pieces = [p.assign(**{col: p[col].cat.set_categories(union)}) for p in pieces]
    frame = pd.concat(pieces, ignore_index=True).sort_values(STORED_ROW, kind="stable")
    return frame.drop(columns=STORED_ROW).reset_index(drop=True)


def featurize_on_dask(client: Client, contacts: dd.DataFrame, labels: dd.DataFrame, customers: pd.DataFrame,
                      agents: pd.DataFrame, label: LabelConfig, cfg: FeaturizeConfig,
                      extras: dict[str, ExtraColumn] | None, categorical: list[str], npartitions: int
                      ) -> tuple[pd.DataFrame, set[str], dict[str, pd.DataFrame]]:
    """The feature table (in stored order, no label columns), the absent optional columns and the snapshot,
    from `contacts` read with `stored_row` (see the module docstring)."""
    window_days = label.window_days
    categories = dataset_categories(contacts, [c for c in categorical if c in contacts.columns])
    parts = by_customer_in_stored_order(contacts, labels, npartitions, categories).persist()
    side = client.scatter([customers, agents], broadcast=True)
    keys = parts.map_partitions(grouping_keys, *side, meta=grouping_keys(parts._meta, customers, agents)).persist()
    overall = keys.map_partitions(per_second_totals, meta=per_second_totals(keys._meta)).compute()
    overall = overall.groupby(level="t").sum()  # (sorted by time)
    grouped = [keys.shuffle(on=rules.GROUPINGS[g][0], npartitions=npartitions, ignore_index=True)
               .map_partitions(grouped_counts, g, window_days, meta=grouped_counts(keys._meta, g, window_days))
               .shuffle(on="customer_id", npartitions=npartitions, ignore_index=True) for g in GROUPED]
    optional = [c for c in OPTIONAL_COLUMNS if c in contacts.columns]
    empty = {c for c, none in parts[optional].isna().all().compute().items() if none} if optional else set()
    latest = max((m for m in dask.compute(*[dask.delayed(lambda p: p["started_at"].max())(piece)
                                            for piece in parts.to_delayed()]) if not pd.isna(m)), default=pd.NaT)
    as_of = snapshot_time(label, latest)
    overall_f = client.scatter(overall, broadcast=True)
    tasks = [dask.delayed(featurize_partition)(piece, [g[i] for g in (gg.to_delayed() for gg in grouped)],
                                               overall_f, *side, window_days, cfg, extras)
             for i, piece in enumerate(parts.to_delayed())]
    shares = [dask.delayed(snapshot_partition)(piece, label, as_of) for piece in parts.to_delayed()]
    pieces, shares = dask.compute(tasks, shares)
    sums = group_sums({g: pd.concat([s[0][g] for s in shares], ignore_index=True) for g in rules.GROUPINGS})
    snapshot = keyed_counts(sums) | {"history": in_stored_order([s[1] for s in shares]),
                                     "meta": snapshot_meta(label, as_of)}
    absent = absent_columns(set(contacts.columns) - {STORED_ROW}, empty, extras)
    return in_stored_order(pieces), absent, snapshot


def featurized_on_cluster(cfg: FeaturizeConfig, label: LabelConfig, dask_cfg: DaskConfig, paths: Paths,
                          columns: list[str], categorical: list[str], labels: pd.DataFrame,
                          customers: pd.DataFrame, agents: pd.DataFrame,
                          extras: dict[str, ExtraColumn] | None
                          ) -> tuple[pd.DataFrame, FeatureSpec, dict[str, pd.DataFrame]]:
    """The featurize stage on the cluster of `dask_cfg`: the contacts and labels datasets read there, the
    features made per partition and gathered here with `labels` (the label columns training needs) joined.
    Returns the stage's table (in the contacts' stored order), its spec and the online snapshot."""
    with dask_client(dask_cfg) as client:
        contacts = read_contacts(paths.contacts, columns, categorical, numbered=True)
        features, absent, snapshot = featurize_on_dask(
            client, contacts, read_contacts(paths.labels, LABEL_INPUTS), customers, agents, label, cfg, extras,
            categorical, partition_count(client, dask_cfg))
    log.info("features of %d contacts made on dask", len(features))
    table = with_training_labels(features, labels)
    return table, table_spec(table, label.window_days, extras, absent), snapshot
