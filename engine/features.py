"""Featurize on a Dask cluster with the local engine's own feature code, one partition at a time.

In: the contacts and labels datasets, the customers and agents tables, the label rules, the `featurize`
section, the user's extra columns. Out: what the local engine makes (features/builder.py, features/online.py):
the feature table with the label columns training needs, in the contacts' stored order, handed to the stage's
writer partition after partition (never whole in this process; each partition written to disk by its worker as
soon as it is made, so that the workers never hold the table either), its spec, and the online snapshot. How (no
rule is written here):
- the contacts, joined with their labels, are moved by ranges of the customer id (engine/partition.py: every
  customer's history in one partition, partition i's customers before partition i+1's, so that the partitions
  one after another are the stored order), each partition in stored order with the dataset's categories;
  `builder.prepare` makes each partition's rule inputs, and `rules.row_features` and
  `rules.customer_history` its customer features;
- each partition's grouping keys are shuffled by reason family, reason code, team and agent (one after the other), where
  `rules.group_counts` (and `rules.agent_contacts_today`) run on whole groups, and the results go back by
  customer range to the partition of their contacts;
- everyone's matured counts: per-second totals of the labelled contacts, summed over partitions, given to
  `rules.overall_counts`;
- then per customer partition `rules.rates`, `builder.assemble` and the partition's own label columns; what
  the whole table decides (the categories of a column made from the values present, the spec) comes from
  small per-partition summaries; the snapshot from `features/online.py`'s parts per customer partition,
  summed (`group_sums`) and put in stored order.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, futures_of

from base.config import Paths
from base.errors import StageStop
from engine.cluster import dask_client, partition_count, show_progress
from engine.config import DaskConfig
from engine.partition import (PARTITION, STORED_ROW, by_customer_range, customer_cuts, customer_partition,
                              dataset_categories, read_contacts, to_partitions, with_categories, write_summarized)
from features import rules
from features.builder import (LABELS_FOR_TRAINING, OPTIONAL_COLUMNS, absent_columns, assemble, prepare, spec_rows,
                              table_spec, with_training_labels)
from features.config import FeaturizeConfig
from features.history import GroupIndex, group_codes
from features.online import (group_sums, history_columns, history_kept, keyed_counts, matured_rows, snapshot_meta,
                             snapshot_time, with_history_columns)
from features.spec import ExtraColumn, FeatureSpec
from labelling.config import LabelConfig

log = logging.getLogger(__name__)
LABEL_INPUTS = ["contact_id", "status", "repeated"]  # what the features read of the labels
LABELS = list(dict.fromkeys([*LABEL_INPUTS, *LABELS_FOR_TRAINING]))  # read on the cluster: those and training's
Written = TypeVar("Written")
GROUPED = ("reason_family", "reason_code", "team", "agent")  # shuffled by their column (agent: with agent x family)


def by_customer_in_stored_order(contacts: dd.DataFrame, labels: dd.DataFrame, cuts: list[str],
                                categories: dict[str, list]) -> dd.DataFrame:
    """Contacts with their labels' columns, partitioned by the customer ranges of `cuts`, each partition in
    stored order with the dataset's categories."""
    joined = contacts.merge(labels, on="contact_id", how="left")
    ranges = by_customer_range(joined, cuts)
    return ranges.map_partitions(_stored_order, categories, meta=with_categories(joined._meta, categories))


def _stored_order(part: pd.DataFrame, categories: dict[str, list]) -> pd.DataFrame:
    return with_categories(part.sort_values(STORED_ROW, kind="stable").reset_index(drop=True), categories)


def grouping_keys(part: pd.DataFrame, customers: pd.DataFrame, agents: pd.DataFrame, cuts: list[str]) -> pd.DataFrame:
    """Per contact of a customer partition: what the grouped counts need (its raw keys, the team its agent's
    where the contact names none, start in seconds, label flags), its stored row and its customer's partition
    (numbers, not ids: at 30M contacts the ids' text in the four groupings' copies took the workers' memory)."""
    p = prepare(part, part, customers, agents)
    c, x = p.contacts, p.inputs
    home = customer_partition(part[["customer_id"]], cuts)[PARTITION].to_numpy(np.int32)
    return pd.DataFrame({STORED_ROW: part[STORED_ROW].to_numpy(), PARTITION: home, "t": x.t,
                         "labelled": x.labelled, "repeated": x.repeated, "reason_family": c["reason_family"].array,
                         "reason_code": c["reason_code"].array, "team": p.team.array, "agent_id": p.agent.array})


def grouped_counts(keys: pd.DataFrame, grouping: str, window_days: float) -> pd.DataFrame:
    """The matured counts of a partition holding whole groups of `grouping` (agent: also agent x family and
    the agent's contacts today), per stored row (with its customer's partition, to go back there)."""
    t, labelled, repeated = keys["t"].to_numpy(), keys["labelled"].to_numpy(), keys["repeated"].to_numpy()
    window = rules.window_seconds(window_days)
    group = group_codes(keys[rules.GROUPINGS[grouping][0]])
    out = {STORED_ROW: keys[STORED_ROW].to_numpy(), PARTITION: keys[PARTITION].to_numpy()}
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
    """The features of a customer partition (with `stored_row`), its grouped counts joined back by stored row."""
    p = prepare(part, part, customers, agents)
    x = p.inputs
    joined = pd.concat([g.set_index(STORED_ROW) for g in grouped], axis=1)
    rows = part[STORED_ROW].to_numpy()
    if len(joined) != len(part) or not joined.index.isin(rows).all():
        raise RuntimeError("grouped counts did not come back to their customer's partition")
    joined = joined.reindex(rows)
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


def table_partition(part: pd.DataFrame, *args) -> pd.DataFrame:
    """A customer partition's rows of the stage's table: `featurize_partition(part, *args)` with the label
    columns training needs (the partition's own labels) and `stored_row`."""
    return with_training_labels(featurize_partition(part, *args), part[["contact_id", *LABELS_FOR_TRAINING]])


def piece_summary(piece: pd.DataFrame) -> tuple[dict[str, list], pd.DataFrame]:
    """What the whole table's categories and spec need of a partition's rows: the categories of its categorical
    columns and its `spec_rows`."""
    return categories_of(piece), spec_rows(piece.drop(columns=STORED_ROW))


def snapshot_partition(part: pd.DataFrame, label: LabelConfig, as_of: pd.Timestamp) -> tuple[dict, pd.DataFrame]:
    """A customer partition's share of the online snapshot: its `group_sums` and its history rows."""
    part = with_history_columns(part)
    kept = part.loc[history_kept(part, label, as_of), [*history_columns(part), STORED_ROW]]
    return group_sums(matured_rows(part, part, label, as_of)), kept


def categories_of(frame: pd.DataFrame) -> dict[str, list]:
    """The categories of each categorical column of a frame."""
    return {c: list(frame[c].cat.categories) for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}


def unified_categories(per_piece: list[dict[str, list]], rows: list[int]) -> dict[str, list]:
    """The categories of the categorical columns of pieces' rows as one table, from each piece's
    (`categories_of`) and its row count: a column whose categories differ between (non-empty) pieces was made
    from the values present (`astype("category")`: sorted), so it gets the sorted union, what the whole table's
    values give."""
    kept = [cats for cats, n in zip(per_piece, rows) if n] or per_piece[:1]
    return {col: first if all(c[col] == first for c in kept) else sorted(set().union(*(c[col] for c in kept)))
            for col, first in (kept[0] if kept else {}).items()}


def in_stored_order(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """Partitions' rows as one frame in the contacts' stored order, with `unified_categories`."""
    categories = unified_categories([categories_of(p) for p in pieces], [len(p) for p in pieces])
    pieces = [with_categories(p, categories) for p in pieces if len(p)] or pieces[:1]
    frame = pd.concat(pieces, ignore_index=True).sort_values(STORED_ROW, kind="stable")
    return frame.drop(columns=STORED_ROW).reset_index(drop=True)


@dataclass
class OnCluster:
    """The featurize stage's table as the workers wrote it, one Parquet piece per customer partition in partition
    order (see `pieces`), with what the whole table decides, and the online snapshot."""
    paths: list[Path]
    dtypes: list[pd.Series]  # each piece's dtypes as made (Parquet loses some: a category column with no category)
    categories: dict[str, list]  # the table's categories of each categorical column (`unified_categories`)
    spec: FeatureSpec
    snapshot: dict[str, pd.DataFrame]
    last_row: int = -1

    def pieces(self) -> Iterator[pd.DataFrame]:
        """The table's rows, partition after partition (the stored order), each read when asked for and its
        file removed once taken: only the piece in hand is held here."""
        while self.paths:
            path, dtypes = self.paths.pop(0), self.dtypes.pop(0)
            piece = pd.read_parquet(path)
            path.unlink()
            changed = {c: t for c, t in dtypes.items() if piece[c].dtype != t}
            yield self._checked(piece.astype(changed) if changed else piece)

    def _checked(self, piece: pd.DataFrame) -> pd.DataFrame:
        rows = piece[STORED_ROW].to_numpy()
        if len(rows) and rows[0] <= self.last_row:
            raise StageStop("the contacts dataset (paths.contacts) is not in the stored order ingest writes it in "
                            "(customer id, missing last; time; id): run `dvc repro ingest` to write it again.")
        self.last_row = int(rows[-1]) if len(rows) else self.last_row
        return with_categories(piece.drop(columns=STORED_ROW), self.categories)


def _write_piece(piece: pd.DataFrame, path: Path) -> None:
    piece.to_parquet(path, index=False)


def _summary(piece: pd.DataFrame) -> tuple[tuple[dict[str, list], pd.DataFrame], int, pd.Series]:
    return piece_summary(piece), len(piece), piece.dtypes


def featurize_on_dask(client: Client, contacts: dd.DataFrame, labels: dd.DataFrame, customers: pd.DataFrame,
                      agents: pd.DataFrame, label: LabelConfig, cfg: FeaturizeConfig,
                      extras: dict[str, ExtraColumn] | None, categorical: list[str], npartitions: int,
                      pieces: Path) -> OnCluster:
    """The stage's table written by the workers in `pieces` (a folder every worker and this process see; features
    and the label columns training needs, one Parquet file per customer partition, in stored order), its spec and
    the snapshot, from `contacts` read with `stored_row` and `labels` (the columns `LABELS`, categorical ones
    read as such); see the module docstring."""
    window_days = label.window_days
    categories = dataset_categories(contacts, [c for c in categorical if c in contacts.columns])
    categories |= dataset_categories(labels, [c for c in labels.columns if isinstance(labels[c].dtype,
                                                                                        pd.CategoricalDtype)])
    cuts = customer_cuts(contacts, npartitions)
    parts = by_customer_in_stored_order(contacts, labels, cuts, categories).persist()
    side = client.scatter([customers, agents], broadcast=True)
    keys = parts.map_partitions(grouping_keys, *side, cuts,
                                meta=grouping_keys(parts._meta, customers, agents, cuts)).persist()
    overall = keys.map_partitions(per_second_totals, meta=per_second_totals(keys._meta)).compute()
    overall = overall.groupby(level="t").sum()  # (sorted by time)
    grouped = []
    for g in GROUPED:  # one shuffle at a time: at 30M contacts the four at once took a worker past its memory
        meta = grouped_counts(keys._meta, g, window_days)
        counted = keys.shuffle(on=rules.GROUPINGS[g][0], npartitions=npartitions, ignore_index=True).map_partitions(
            grouped_counts, g, window_days, meta=meta)
        counted = to_partitions(counted, len(cuts) + 1, meta.drop(columns=PARTITION)).persist()
        show_progress(f"{g} histories of {len(cuts) + 1} partitions", futures_of(counted))
        grouped.append(counted)
    del keys  # (released on the cluster: everything made of it is held)
    optional = [c for c in OPTIONAL_COLUMNS if c in contacts.columns]
    empty = {c for c, none in parts[optional].isna().all().compute().items() if none} if optional else set()
    latest = max((m for m in dask.compute(*[dask.delayed(lambda p: p["started_at"].max())(piece)
                                            for piece in parts.to_delayed()]) if not pd.isna(m)), default=pd.NaT)
    as_of = snapshot_time(label, latest)
    overall_f = client.scatter(overall, broadcast=True)
    tasks = [dask.delayed(table_partition)(piece, [g[i] for g in (gg.to_delayed() for gg in grouped)],
                                           overall_f, *side, window_days, cfg, extras)
             for i, piece in enumerate(parts.to_delayed())]
    shares = client.compute([dask.delayed(snapshot_partition)(piece, label, as_of) for piece in parts.to_delayed()])
    written = write_summarized(tasks, pieces, _write_piece, _summary)  # each piece to disk as soon as it is made
    shares = client.gather(shares)
    rows = [n for _, n, _ in written]
    sums = group_sums({g: pd.concat([s[0][g] for s in shares], ignore_index=True) for g in rules.GROUPINGS})
    snapshot = keyed_counts(sums) | {"history": in_stored_order([s[1] for s in shares]),
                                     "meta": snapshot_meta(label, as_of)}
    table_categories = unified_categories([c for (c, _), _, _ in written], rows)
    summary = pd.concat([with_categories(s, table_categories) for (_, s), _, _ in written], ignore_index=True)
    absent = absent_columns(set(contacts.columns) - {STORED_ROW}, empty, extras)
    log.info("features of %d contacts made on dask in %d customer partitions", sum(rows), len(rows))
    return OnCluster(sorted(Path(pieces).glob("part-*.parquet")), [d for _, _, d in written], table_categories,
                     table_spec(summary, window_days, extras, absent), snapshot)


def categorical_columns(path: str | Path, columns: list[str]) -> list[str]:
    """Those of `columns` a Parquet dataset (its first part) stores as dictionaries: pandas categoricals."""
    path = Path(path)
    first = min(path.glob("*.parquet")) if path.is_dir() else path
    schema = pq.read_schema(first)
    return [c for c in columns if c in schema.names and pa.types.is_dictionary(schema.field(c).type)]


def featurized_on_cluster(cfg: FeaturizeConfig, label: LabelConfig, dask_cfg: DaskConfig, paths: Paths,
                          columns: list[str], categorical: list[str], customers: pd.DataFrame,
                          agents: pd.DataFrame, extras: dict[str, ExtraColumn] | None,
                          write: Callable[[Iterable[pd.DataFrame], str], Written]
                          ) -> tuple[Written, FeatureSpec, dict[str, pd.DataFrame]]:
    """The featurize stage on the cluster of `dask_cfg`: the contacts and labels datasets read there, the
    table made per partition, each written by its worker to a Parquet piece in `<features>.pieces/` as soon as
    it is made (the workers hold no finished partition), then handed to `write(pieces, paths.features)` piece
    after piece, in the contacts' stored order, each read here when its turn comes and removed. Returns what
    `write` returns, the table's spec and the online snapshot."""
    pieces = Path(paths.features).with_name(Path(paths.features).name + ".pieces")
    try:
        with dask_client(dask_cfg) as client:
            contacts = read_contacts(paths.contacts, columns, categorical, numbered=True)
            labels = read_contacts(paths.labels, LABELS, categorical_columns(paths.labels, LABELS))
            made = featurize_on_dask(client, contacts, labels, customers, agents, label, cfg, extras, categorical,
                                     partition_count(client, dask_cfg), pieces)
        written = write(made.pieces(), paths.features)
    finally:
        shutil.rmtree(pieces, ignore_errors=True)
    return written, made.spec, made.snapshot
