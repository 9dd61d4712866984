"""The pipeline's own Parquet tables read back column by column (a stage output, a file or a dataset folder).

In: the path of a table a stage wrote and the columns a reader wants. Out: those of them the table has, as a
DataFrame. (The user's export files are read by contract/reading.py, and only there.)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq


def parquet_columns(path: str | Path) -> list[str]:
    """The column names of a Parquet file or dataset folder (its parts share them: `ParquetParts`)."""
    path = Path(path)
    if path.is_dir():
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            raise FileNotFoundError(f"{path} holds no Parquet parts; run the stage that writes it again.")
        path = parts[0]
    return pq.read_schema(path).names


def read_columns(path: str | Path, columns: list[str], categorical: list[str] = ()) -> pd.DataFrame:
    """The named columns of a Parquet file or dataset that it has; `categorical` ones as pandas
    categoricals."""
    present = set(parquet_columns(path))
    cols = [c for c in columns if c in present]
    return pq.read_table(path, columns=cols, read_dictionary=[c for c in categorical if c in cols]).to_pandas()


def read_rows_by_id(path: str | Path, column: str, ids: pd.Series) -> pd.DataFrame:
    """The rows of a Parquet table whose `column` is one of `ids`, in the order of `ids` (each once), as
    `pd.read_parquet(path).set_index(column).loc[ids].reset_index()` gives them (same dtypes and categories),
    without reading the other rows into memory (a filter pushed into the scan). KeyError when an id is absent."""
    table = pq.read_table(path, filters=[(column, "in", list(dict.fromkeys(ids.tolist())))])
    return table.to_pandas().set_index(column).loc[ids].reset_index()
