"""Contacts on a Dask cluster, partitioned by customer: read, shuffled and written back.

In: the contacts dataset (the pipeline's own Parquet, as ingest writes it) or any Dask frame with
`customer_id`, `started_at` and `contact_id`. Out: a Dask frame whose partitions each hold whole customers,
by ranges of the customer id (`customer_cuts`: partition i's customers all sort before partition i+1's, in
Arrow's binary order of the UTF-8 ids, which is Python's order of the strings; anonymous contacts in the last),
each partition in the stored order the local engine relies on (contract/ordering.py: customer, missing last;
time; id): the partitions one after another are the stored order, with no global sort. Writing: each partition
one Parquet part, written by the worker that holds it with the writer the stage hands in (and, if asked,
summarized there), the folder replacing the previous one only when every part is written."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import dask
import dask.dataframe as dd
from distributed import get_client
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contract.ordering import as_microseconds, customer_time_order
from contract.tables import read_columns
from engine.cluster import computed


STORED_ROW = "stored_row"
T = TypeVar("T")
PARTITION = "customer_partition"  # the range partition a row goes to (a column only while it is moved there)
SAMPLES = 64  # customer ids sampled per part and partition: partitions' rows within ~1/64 of the mean of each other


def read_contacts(path: str | Path, columns: list[str], categorical: list[str] = (),
                  numbered: bool = False) -> dd.DataFrame:
    """The named columns of a Parquet dataset that it has, one Dask partition per part file, each read by
    the local engine's reader (contract/tables.py: the same dtypes, `categorical` ones as categoricals).
    `numbered`: with each row's position in the dataset as the local engine reads it (column `stored_row`)."""
    path = Path(path)
    parts = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not parts:
        raise FileNotFoundError(f"{path} holds no Parquet parts; run the stage that writes it again.")
    sizes = [pq.ParquetFile(p).metadata.num_rows for p in parts] if numbered else [0] * len(parts)
    firsts = [int(x) if numbered else None for x in np.cumsum([0, *sizes[:-1]])]
    with dask.config.set({"dataframe.convert-string": False}):  # text stays the local engine's dtype
        return dd.from_map(_read_part, [str(p) for p in parts], firsts, wanted=list(columns),
                           categorical=list(categorical),
                           meta=_read_part(str(parts[0]), firsts[0], list(columns), list(categorical)).iloc[:0])


def _read_part(path: str, first: int | None, wanted: list[str], categorical: list[str]) -> pd.DataFrame:
    part = read_columns(path, wanted, categorical)
    return part if first is None else part.assign(**{STORED_ROW: np.arange(first, first + len(part), dtype=np.int64)})


def dataset_categories(frame: dd.DataFrame, columns: list[str]) -> dict[str, list]:
    """The categories of categorical `columns` as the local engine reads the whole dataset: each part's in
    its order, new ones appended part after part (how Arrow unifies the parts' dictionaries)."""
    per_part = dask.compute(*[dask.delayed(_categories)(piece, columns) for piece in frame.to_delayed()])
    return {col: list(dict.fromkeys(v for cats in per_part for v in cats[col])) for col in columns}


def _categories(part: pd.DataFrame, columns: list[str]) -> dict[str, list]:
    return {col: list(part[col].cat.categories) for col in columns}


def with_categories(part: pd.DataFrame, categories: dict[str, list]) -> pd.DataFrame:
    """A partition whose categorical columns have the dataset's categories (a shuffle unions its pieces'); a
    column that has them already is left as it is (the dtype of no categories included)."""
    return part.assign(**{col: part[col].cat.set_categories(cats) for col, cats in categories.items()
                          if list(part[col].cat.categories) != list(cats)})


def _arrow(values: pd.Series) -> pa.ChunkedArray:
    arr = pa.array(values if values.dtype == "str" else values.astype("str"))
    return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr], type=arr.type)


def in_customer_order(part: pd.DataFrame) -> pd.DataFrame:
    """One partition in (customer, missing last; started_at; contact_id) order, as ingest stores contacts."""
    order = customer_time_order(_arrow(part["customer_id"]), as_microseconds(part["started_at"]),
                                _arrow(part["contact_id"]))
    return part.reset_index(drop=True) if order is None else part.iloc[order].reset_index(drop=True)


def customer_cuts(contacts: dd.DataFrame, npartitions: int) -> list[str]:
    """At most `npartitions - 1` increasing customer ids that cut the contacts into ranges of about equal rows
    (`by_customer_range`; the anonymous contacts count as after every id): `cuts_of` each part's `id_sample`
    (computed on the cluster)."""
    return cuts_of(dask.compute(*[dask.delayed(id_sample)(piece, npartitions)
                                  for piece in contacts["customer_id"].to_delayed()]), npartitions)


IdSample = tuple[list[str], float, int]  # a part's sampled ids, the rows each stands for, its anonymous rows


def cuts_of(samples: Iterable[IdSample], npartitions: int) -> list[str]:
    """The cuts of `customer_cuts` from the parts' `id_sample`s: row-weighted quantiles of the sampled ids."""
    samples = list(samples)
    ids = np.array([v for values, _, _ in samples for v in values], dtype=object)
    weights = np.concatenate([np.full(len(values), w) for values, w, _ in samples]) if samples else np.zeros(0)
    if not len(ids):
        return []
    order = np.argsort(ids, kind="stable")  # (Python's order of str: code points, the UTF-8 bytes' order)
    ids, rows = ids[order], np.cumsum(weights[order])
    total = rows[-1] + sum(anonymous for _, _, anonymous in samples)
    after = np.searchsorted(rows, total * np.arange(1, npartitions) / npartitions) + 1  # rows before: the share
    return [c for c in dict.fromkeys(ids[after[after < len(ids)]]) if c > ids[0]]


def id_sample(ids: pd.Series, npartitions: int) -> IdSample:
    """A part's customer ids at `SAMPLES * npartitions` evenly spaced ranks (all when fewer), the rows each
    stands for, and its anonymous rows."""
    k = SAMPLES * npartitions
    present = pa.array(ids.dropna().astype("str").array)
    n = len(present)
    ranks = pc.sort_indices(present).to_numpy()[(np.arange(min(k, n)) * n) // max(min(k, n), 1)]
    return present.take(pa.array(ranks, pa.int64())).to_pylist(), n / max(len(ranks), 1), len(ids) - n


def customer_partition(part: pd.DataFrame, cuts: list[str]) -> pd.DataFrame:
    """The partition of each row's customer (`PARTITION`): the number of `cuts` at or below its id; anonymous
    contacts in the last, after every id."""
    ids = part["customer_id"]
    missing = ids.isna().to_numpy()
    out = np.full(len(part), len(cuts), dtype=np.int64)
    out[~missing] = np.searchsorted(np.array(cuts, dtype=object), ids[~missing].astype("str").to_numpy(dtype=object),
                                    side="right")
    return part.assign(**{PARTITION: out})


def by_customer_range(frame: dd.DataFrame, cuts: list[str]) -> dd.DataFrame:
    """`len(cuts) + 1` partitions of `frame` (any frame with `customer_id`) by ranges of the customer id:
    partition i holds the customers from cut i - 1 (included) to cut i, the anonymous ones in the last; the
    rows of a partition in no particular order, the index meaningless."""
    keyed = frame.map_partitions(customer_partition, cuts, meta=customer_partition(frame._meta, cuts))
    return to_partitions(keyed, len(cuts) + 1, frame._meta)


def to_partitions(keyed: dd.DataFrame, n: int, meta: pd.DataFrame) -> dd.DataFrame:
    """`n` partitions of the rows of `keyed`, each row in the partition its `PARTITION` column names (dropped);
    the rows of a partition in no particular order, the index meaningless. (Dask's shuffle to known divisions.)"""
    moved = keyed.set_index(PARTITION, divisions=list(range(n + 1)))
    return moved.map_partitions(lambda part: part.reset_index(drop=True), meta=meta)


def by_customer(contacts: dd.DataFrame, npartitions: int) -> dd.DataFrame:
    """At most `npartitions` partitions by ranges of the customer id (`customer_cuts`), every customer's
    history in one, in stored order: the partitions one after another are the stored order."""
    parts = by_customer_range(contacts, customer_cuts(contacts, npartitions))
    return parts.map_partitions(in_customer_order, meta=contacts._meta)


def _write_part(part: pd.DataFrame, path: Path, write: Callable[[pd.DataFrame, Path], None],
                summarize: Callable[[pd.DataFrame], T]) -> T:
    write(part, path)
    return summarize(part)


def write_partitions(frame: dd.DataFrame, directory: str | Path,
                     write: Callable[[pd.DataFrame, Path], None]) -> int:
    """Each partition as `directory/part-NNNNN.parquet` (names sort in partition order), written on the
    workers by `write(piece, path)`; the folder replaces the previous one when all are written. Rows written."""
    return write_pieces(frame.to_delayed(), directory, write)


def write_pieces(pieces: list, directory: str | Path, write: Callable[[pd.DataFrame, Path], None]) -> int:
    """`write_partitions` of frames held on the cluster (Dask delayed objects or futures), in their order."""
    return sum(write_summarized(pieces, directory, write, len))


def write_summarized(pieces: list, directory: str | Path, write: Callable[[pd.DataFrame, Path], None],
                     summarize: Callable[[pd.DataFrame], T]) -> list[T]:
    """`write_pieces`, and each piece also handed to `summarize` by the worker that holds it, right after writing
    it: what it returns (something small: the piece itself is never gathered), in the pieces' order."""
    directory = Path(directory)
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        tasks = [dask.delayed(_write_part)(piece, partial / f"part-{i:05d}.parquet", write, summarize)
                 for i, piece in enumerate(pieces)]
        summaries = computed(get_client(), f"{len(tasks)} partitions written to {directory.name}", *tasks)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if directory.is_dir():
        shutil.rmtree(directory)
    elif directory.exists():
        directory.unlink()
    partial.replace(directory)
    return summaries
