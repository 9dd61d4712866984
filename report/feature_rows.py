"""The feature table as the report reads it: never whole, only the columns and rows a section needs.

In: the featurize stage's Parquet file (or, in tests, a feature table already in memory). Out: the pieces
the report asks for, each read one Parquet row group at a time: the schema's column names; a summary per
row group folded into one (`fold`: the summary function runs on each row group alone, the partial results
are combined exactly: max, min, or); the rows a rule picks, a few columns of them, with values computed on
the row group (`gather`: the newest scored contacts with the case-mix model's expectation, the labelled
rows of one column, the explained sample's rows). At 10M contacts the whole table is 6.7 GB; a row group
and the picked rows' few columns are what is held."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import reduce
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from base.frames import rows_of

T = TypeVar("T")


class FeatureRows:
    """A feature table read by columns and row groups (a Parquet file) or held (a DataFrame, in tests)."""

    def __init__(self, source: str | Path | pd.DataFrame) -> None:
        self.frame = source if isinstance(source, pd.DataFrame) else None
        self.path = None if self.frame is not None else str(source)
        held = self.frame is not None
        self.columns = list(self.frame.columns) if held else pq.ParquetFile(self.path).schema_arrow.names

    @classmethod
    def of(cls, table: FeatureRows | pd.DataFrame) -> FeatureRows:
        return table if isinstance(table, FeatureRows) else cls(table)

    def _present(self, columns: list[str]) -> list[str]:
        return list(dict.fromkeys(c for c in columns if c in self.columns))

    def rows_with(self, ids: pd.Series, columns: list[str], key: str = "contact_id") -> pd.DataFrame:
        """The named columns of the rows whose `key` is in `ids`, indexed by `key` in the order of `ids`
        (base/frames.py `rows_of`), reading only those rows' values from a file."""
        if self.frame is not None:
            return rows_of(self.frame, ids, key)
        wanted = pa.array(pd.unique(ids.astype(str)), pa.large_string())  # ids tested in Arrow, not as Python text
        few = self.gather([key], [key, *columns], lambda group: (pc.is_in(group[key].cast(pa.large_string()),
                                                                          value_set=wanted).to_numpy(), {}), arrow=True)
        return rows_of(few, ids, key)

    def row_groups(self, columns: list[str]) -> Iterator[pd.DataFrame]:
        """The named columns, one Parquet row group at a time (a held table: in one piece)."""
        if self.frame is not None:
            yield self.frame
            return
        f = pq.ParquetFile(self.path)
        if not f.num_row_groups:  # an empty file: one empty piece
            yield f.read(columns=self._present(columns)).to_pandas()
        for i in range(f.num_row_groups):
            yield f.read_row_group(i, columns=self._present(columns)).to_pandas()

    def fold(self, columns: list[str], summary: Callable[[pd.DataFrame], T], combine: Callable[[T, T], T]) -> T:
        """`summary` of each row group (of the named columns), combined pairwise by `combine`."""
        return reduce(combine, (summary(part) for part in self.row_groups(columns)))

    def gather(
        self, columns: list[str], keep: list[str], pick: Callable[..., tuple[np.ndarray, dict]], arrow: bool = False
    ) -> pd.DataFrame:
        """Columns `keep` of the rows `pick` chooses, with the values it computes for them. `pick` sees the
        named columns of one row group at a time and returns (mask of its rows, {name: values for the chosen
        rows}); only the chosen rows are kept, filtered in Arrow so that the row groups' categories are
        joined as a whole read joins them. `arrow`: `pick` sees the row group as an Arrow table."""
        if self.frame is not None:
            mask, values = pick(self.frame)
            return self.frame.loc[mask, self._present(keep)].assign(**values)
        f, parts = pq.ParquetFile(self.path), []
        for i in range(f.num_row_groups):
            group = f.read_row_group(i, columns=self._present([*columns, *keep]))
            given = group.select(self._present(columns))
            mask, values = pick(given if arrow else given.to_pandas())
            part = group.select(self._present(keep)).filter(pa.array(mask, pa.bool_()))
            for name, v in values.items():
                part = part.append_column(name, pa.array(np.asarray(v)))
            parts.append(part)
        return pa.concat_tables(parts).to_pandas()

    def column(self, name: str, mask: Callable[[pd.DataFrame], np.ndarray], mask_columns: list[str]) -> pd.Series:
        """Column `name` of the rows `mask` picks (mask computed on `mask_columns`, a row group at a time)."""
        if self.frame is not None:
            return self.frame[name][mask(self.frame)]
        return self.gather(mask_columns, [name], lambda part: (mask(part), {}))[name]


def max_of(a: T | None, b: T | None) -> T | None:
    """The larger of two partial maxima, either possibly None or NaT (no rows, or no values)."""
    return b if pd.isna(a) else a if pd.isna(b) else max(a, b)


def min_of(a: T | None, b: T | None) -> T | None:
    """The smaller of two partial minima, either possibly None or NaT (no rows, or no values)."""
    return b if pd.isna(a) else a if pd.isna(b) else min(a, b)
