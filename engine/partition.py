"""Contacts on a Dask cluster, partitioned by customer: read, shuffled and written back.

In: the contacts dataset (the pipeline's own Parquet, as ingest writes it) or any Dask frame with
`customer_id`, `started_at` and `contact_id`. Out: a Dask frame whose partitions each hold whole customers
(by a hash of the customer id; anonymous contacts together), each partition in the stored order the local
engine relies on (contract/ordering.py: customer, missing last; time; id). Writing: each partition one
Parquet part, written by the worker that holds it with the writer the stage hands in, the folder replacing
the previous one only when every part is written."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from contract.ordering import as_microseconds, customer_time_order
from contract.tables import read_columns


STORED_ROW = "stored_row"


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
    """A partition whose categorical columns have the dataset's categories (a shuffle unions its pieces')."""
    return part.assign(**{col: part[col].cat.set_categories(cats) for col, cats in categories.items()})


def _arrow(values: pd.Series) -> pa.ChunkedArray:
    arr = pa.array(values if values.dtype == "str" else values.astype("str"))
    return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr], type=arr.type)


def in_customer_order(part: pd.DataFrame) -> pd.DataFrame:
    """One partition in (customer, missing last; started_at; contact_id) order, as ingest stores contacts."""
    order = customer_time_order(_arrow(part["customer_id"]), as_microseconds(part["started_at"]),
                                _arrow(part["contact_id"]))
    return part.reset_index(drop=True) if order is None else part.iloc[order].reset_index(drop=True)


def by_customer(contacts: dd.DataFrame, npartitions: int) -> dd.DataFrame:
    """`npartitions` partitions by a hash of the customer id, every customer's history in one, in time order."""
    shuffled = contacts.shuffle(on="customer_id", npartitions=npartitions, ignore_index=True)
    return shuffled.map_partitions(in_customer_order, meta=contacts._meta)


def _write_part(part: pd.DataFrame, path: Path, write: Callable[[pd.DataFrame, Path], None]) -> int:
    write(part, path)
    return len(part)


def write_partitions(frame: dd.DataFrame, directory: str | Path,
                     write: Callable[[pd.DataFrame, Path], None]) -> int:
    """Each partition as `directory/part-NNNNN.parquet` (names sort in partition order), written on the
    workers by `write(piece, path)`; the folder replaces the previous one when all are written. Rows written."""
    directory = Path(directory)
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        tasks = [dask.delayed(_write_part)(piece, partial / f"part-{i:05d}.parquet", write)
                 for i, piece in enumerate(frame.to_delayed())]
        rows = sum(dask.compute(*tasks))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if directory.is_dir():
        shutil.rmtree(directory)
    elif directory.exists():
        directory.unlink()
    partial.replace(directory)
    return rows
