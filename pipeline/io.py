"""File I/O shared by the stages: tables (CSV/Parquet), JSON, and logging set-up for entry points.

The JSON and CSV writers (contract/precision.py) and the Parquet column reader (contract/tables.py), which
domain code uses too, live in contract/ and are re-exported here."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contract.precision import NULL_REASONS, finite_json, round_floats, write_csv, write_csvs, write_json
from contract.tables import parquet_columns, read_columns

__all__ = ["NULL_REASONS", "ColumnSums", "ParquetParts", "VerifiedTable", "as_from_pandas", "column_checksums", "file_md5",
           "file_sha256", "finite_json", "parquet_columns", "read_columns", "read_json", "read_tables", "read_verified",
           "round_floats",
           "save_figures", "setup_logging", "write_checksums", "write_csv", "write_csvs", "write_json",
           "write_parquet", "write_parquet_parts", "write_parquet_pieces", "write_tables"]


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


ID_LIKE = ("merged_into", "row", "source_row")


def _writer_options(df: pd.DataFrame) -> dict:
    """Dictionary encoding for all but id, time and float columns (see `write_parquet`), min/max
    statistics for all but the text among those (the ids), and a CRC32 per page: corrupted pages fail
    on a verified read."""
    dictionary = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)
                  or not (c.endswith("_id") or c in ID_LIKE or pd.api.types.is_float_dtype(df[c])
                          or pd.api.types.is_datetime64_any_dtype(df[c]))]  # (times: nearly all distinct)
    # Min/max of a million distinct ids is a string comparison per value (a quarter of the 1M-row
    # contacts write) and no reader skips row groups by an id range; times and numbers keep theirs.
    statistics = [c for c in df.columns if c in dictionary or not (pd.api.types.is_string_dtype(df[c])
                                                                   or df[c].dtype == object)]
    return {"use_dictionary": dictionary or False, "write_statistics": statistics or False,
            "write_page_checksum": True}


def write_parquet(df: pd.DataFrame | pa.Table, path: str | Path, threads: int | None = None) -> None:
    """Parquet, with dictionary encoding for all but id, time and float columns: trying it on millions of
    distinct ids, times or measurements and falling back costs more than the whole plain encoding (the 10M
    feature table: 5.8 s instead of 8.2 s). `threads`: for the conversion from pandas (None: pyarrow's
    choice; 1 where the caller already writes in parallel threads). An Arrow table is written byte for
    byte as its pandas frame (`table.to_pandas()`) would be, without making that frame (`as_from_pandas`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(df, pa.Table):
        table, options = as_from_pandas(df)
    else:
        table, options = pa.Table.from_pandas(df, preserve_index=False, nthreads=threads), _writer_options(df)
    pq.write_table(table, path, **options)


ROW_GROUP_ROWS = 1024 * 1024  # the rows of a row group pyarrow's write_table cuts when given no size


def write_parquet_pieces(pieces: Iterable[pd.DataFrame], path: str | Path) -> "ColumnSums":
    """One Parquet file from the row pieces of a table coming one after another (the same columns and dtypes,
    categories included), byte for byte as `write_parquet` writes their concatenation: its schema, options and
    row groups (`RowGroups`), holding at most the piece in hand and a row group's rows. The file replaces `path`
    only when every piece is written. Returns the table's `ColumnSums`, for `write_checksums`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    sums, groups, first = ColumnSums(), None, None
    try:
        for piece in pieces:
            sums.add(piece)
            first = piece.iloc[:0] if first is None else first
            if len(piece):
                groups = groups or RowGroups(partial, piece)
                groups.add(piece)
            del piece  # (the caller's next piece is fetched without this one)
        if groups is None:  # no rows: the empty table as write_parquet writes it
            write_parquet(pd.DataFrame() if first is None else first, partial)
        else:
            groups.close()
    except BaseException:
        if groups is not None:
            groups.writer.close()
        _remove(partial)
        raise
    partial.replace(path)
    return sums


class RowGroups:
    """A Parquet file written from pandas pieces in row groups of `ROW_GROUP_ROWS` rows, where pyarrow's
    write_table cuts a whole table (each piece converted a row group's rows at a time); `write_parquet`'s options
    and the first piece's schema, which every piece must have."""

    def __init__(self, path: Path, first: pd.DataFrame) -> None:
        self.path, self.options, self.pending, self.rows, self.writer = path, _writer_options(first), [], 0, None

    def add(self, piece: pd.DataFrame) -> None:
        start = 0
        while start < len(piece):
            rows = pa.Table.from_pandas(piece.iloc[start:start + ROW_GROUP_ROWS - self.rows], preserve_index=False)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, rows.schema, **self.options)
            elif not rows.schema.equals(self.writer.schema, check_metadata=True):
                raise ValueError(f"{self.path}: a piece with columns {piece.dtypes.to_dict()} after pieces of "
                                 f"another schema ({self.writer.schema})")
            self.pending.append(rows)
            self.rows += rows.num_rows
            start += rows.num_rows
            if self.rows == ROW_GROUP_ROWS:
                self._flush()

    def _flush(self) -> None:
        self.writer.write_table(pa.concat_tables(self.pending))
        self.pending, self.rows = [], 0

    def close(self) -> None:
        if self.pending:
            self._flush()
        self.writer.close()


def as_from_pandas(table: pa.Table) -> tuple[pa.Table, dict]:
    """`table` as `pa.Table.from_pandas(table.to_pandas())` makes it, and `write_parquet`'s options for
    that frame, without the two copies of the round trip. The types and the pandas metadata are those of
    the round trip of a few rows holding each column's first missing value and first value (whether it has one
    decides its pandas type: integers become floats, booleans objects); the values are the table's, a
    float's NaN made missing as pandas makes it, one chunk per column as the frame converts to."""
    rows = {0} if table.num_rows else set()
    for column in table.columns:
        if column.null_count:  # its first missing value, and its first value (a column of only missing ones
            rows.add(pc.index(column.is_null(), True).as_py())  # in the sample would be typed null)
            if (first := pc.index(column.is_valid(), True).as_py()) >= 0:
                rows.add(first)
    sample = table.take(pa.array(sorted(rows), pa.int64())).to_pandas()
    schema = pa.Table.from_pandas(sample, preserve_index=False).schema
    columns = []
    for column, field in zip(table.columns, schema):
        if pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py():
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
        columns.append(column if column.type == field.type else column.cast(field.type))
    # (a table's combine_chunks leaves a column of one chunk as it is; a column's own would copy it)
    return pa.Table.from_arrays(columns, schema=schema).combine_chunks(), _writer_options(sample)


class ParquetParts:
    """A Parquet dataset (a folder of part files that `pd.read_parquet(folder)` or `pq.read_table`
    read back whole, in order) written one part per piece as the pieces come, with the settings of
    `write_parquet`, in `workers` background threads: calling it hands the piece over and returns,
    so the caller goes on (e.g. takes the next piece) while pieces are encoded side by side (Parquet
    encoding releases the GIL; one file is written by one thread only, so parts, not row groups).
    Used as a context manager: leaving the block waits for the writes, and the folder replaces
    `path` only when the block and every write succeeded, never half written."""

    def __init__(self, path: str | Path, workers: int = 2) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self._threads = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="parquet-parts")
        self._writes: list = []
        self._dtypes: pd.Series | None = None

    def __call__(self, piece: pd.DataFrame) -> None:
        if (failed := self._failure()) is not None:
            raise failed  # a failed write stops the caller at its next piece
        if not self._writes:
            _remove(self.partial)
            self.partial.mkdir(parents=True)
            self._dtypes = piece.dtypes
        elif not piece.dtypes.equals(self._dtypes):  # every part must read back as one table
            raise ValueError(f"{self.path}: a piece with columns {piece.dtypes.to_dict()} after pieces with "
                             f"{self._dtypes.to_dict()}")
        part = self.partial / f"part-{len(self._writes):05d}.parquet"  # (names sort in piece order)
        self._writes.append(self._threads.submit(write_parquet, piece, part, 1))

    def _failure(self) -> BaseException | None:
        return next((w.exception() for w in self._writes if w.done() and w.exception() is not None), None)

    def __enter__(self) -> "ParquetParts":
        return self

    def __exit__(self, kind, error, trace) -> None:
        self._threads.shutdown(wait=True, cancel_futures=kind is not None)  # (a failed block: no more writes)
        failed = self._failure()
        if kind is None and failed is None and self._writes:
            _remove(self.path)
            self.partial.replace(self.path)
        else:
            _remove(self.partial)
        if kind is None and failed is not None:
            raise failed


def _remove(path: Path) -> None:
    """Delete a previous output, a folder or a file, if there is one."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


class ColumnSums:
    """The rows and `column_checksums` of a table given piece by piece (rows in order): a column's checksum
    is the uint64 sum of its values' hashes, so the pieces' sums add up (mod 2^64) to the whole table's."""

    def __init__(self) -> None:
        self.rows, self.sums = 0, {}

    def add(self, piece: pd.DataFrame) -> "ColumnSums":
        for c in piece.columns:
            part = int(pd.util.hash_pandas_object(piece[c], index=False).to_numpy().sum(dtype=np.uint64))
            self.sums[str(c)] = (self.sums.get(str(c), 0) + part) % 2**64
        self.rows += len(piece)
        return self

    def checksums(self) -> dict[str, str]:
        return {c: f"{v:016x}" for c, v in self.sums.items()}


def column_checksums(df: pd.DataFrame) -> dict[str, str]:
    """One content hash per column (a sum over its values: see `ColumnSums`): names the columns a corruption
    touched."""
    return ColumnSums().add(df).checksums()


def write_checksums(table: pd.DataFrame | ColumnSums, table_path: str | Path, out: str | Path) -> dict:
    """Next to a table just written (from `table`, the frame, or its pieces' `ColumnSums`): its byte count,
    SHA-256, row count and column checksums."""
    sums = table if isinstance(table, ColumnSums) else ColumnSums().add(table)
    table_path = Path(table_path)
    record = {"file": table_path.name, "bytes": table_path.stat().st_size, "sha256": file_sha256(table_path),
              "rows": sums.rows, "columns": sums.checksums()}
    write_json(record, out)
    return record


def read_verified(table_path: str | Path, checksums_path: str | Path, rebuild: str) -> pd.DataFrame:
    """The table, after checking it is byte for byte what its producer wrote (SHA-256), and reading it
    with Parquet page-checksum verification. Raises ValueError naming the file, what differs (size,
    rows, damaged columns when it can still be read) and `rebuild`, the command that writes it again."""
    table_path, checksums_path = Path(table_path), Path(checksums_path)
    if not checksums_path.exists():
        raise ValueError(f"{checksums_path} is missing, so {table_path} cannot be verified; run `{rebuild}`.")
    want = read_json(checksums_path)
    got = file_sha256(table_path)
    if got == want["sha256"]:
        df = pq.read_table(table_path, page_checksum_verification=True).to_pandas()
        if len(df) == want["rows"]:
            return df
    _refuse(table_path, want, got, rebuild)


def _refuse(table_path: Path, want: dict, got: str, rebuild: str) -> None:
    """Raise read_verified's error: what differs from what the producer wrote (`want`, its checksums record;
    `got`, the file's SHA-256), reading the whole table to name the damaged columns when it can."""
    problems = [f"SHA-256 {got[:12]}... instead of {want['sha256'][:12]}..."]
    size = table_path.stat().st_size
    if size != want["bytes"]:
        problems.append(f"{size} bytes instead of {want['bytes']}")
    try:
        df = pq.read_table(table_path, page_checksum_verification=True).to_pandas()
    except Exception as exc:  # noqa: BLE001 - any read failure is part of the report
        problems.append(f"unreadable ({type(exc).__name__}: {str(exc)[:200]})")
    else:
        if len(df) != want["rows"]:
            problems.append(f"{len(df)} rows instead of {want['rows']}")
        cols = column_checksums(df)
        damaged = [c for c, h in want["columns"].items() if cols.get(c) != h]
        if damaged:
            problems.append(f"columns changed: {', '.join(damaged)}")
    raise ValueError(f"{table_path} is not the table its producer wrote ({'; '.join(problems)}): it was modified "
                     f"or corrupted after it was written. Refusing to use it; run `{rebuild}` to rebuild it.")


class VerifiedTable:
    """A Parquet table verified as `read_verified` verifies it (its SHA-256 and row count against its checksums
    record; on a mismatch the same error, naming damaged columns; every read with page-checksum verification),
    read in parts and never whole: `columns` of every row, then `rows`, the chosen rows of every column, read a
    few columns at a time (memory: those whole columns and the result). `version`: its data version (`file_md5`, hashed
    beside the SHA-256)."""

    COLUMNS_AT_ONCE = 4  # columns decoded together by `rows` (in parallel threads): memory of 4 whole columns

    def __init__(self, table_path: str | Path, checksums_path: str | Path, rebuild: str) -> None:
        self.path, checksums_path = Path(table_path), Path(checksums_path)
        if not checksums_path.exists():
            raise ValueError(f"{checksums_path} is missing, so {self.path} cannot be verified; run `{rebuild}`.")
        want = read_json(checksums_path)
        with ThreadPoolExecutor(1) as pool:
            version = pool.submit(file_md5, self.path)
            got = file_sha256(self.path)
            self.version = version.result()
        try:
            self.file = pq.ParquetFile(self.path, page_checksum_verification=True)
            rows = self.file.metadata.num_rows
        except Exception:  # noqa: BLE001 - _refuse reports why it cannot be read
            rows = None
        if got != want["sha256"] or rows != want["rows"]:
            _refuse(self.path, want, got, rebuild)
        self.num_rows = int(rows)
        index = (self.file.schema_arrow.pandas_metadata or {}).get("index_columns", [])
        if any(isinstance(c, str) for c in index):
            raise ValueError(f"{self.path} stores a pandas index ({index}): VerifiedTable reads tables written "
                             "without one (pipeline/io.py write_parquet).")

    def columns(self, names: Iterable[str]) -> pd.DataFrame:
        """These columns of every row, as `read_verified(...)[names]` gives them."""
        return self.file.read(columns=list(names)).to_pandas()

    def rows(self, rows: np.ndarray, whole: dict[str, Callable[[pd.Series], object]] | None = None
             ) -> tuple[pd.DataFrame, dict[str, object]]:
        """The rows at these positions (ascending or not; repeats allowed) of every column, indexed by their
        positions: `read_verified(...).iloc[rows]` with that index, equal value for value and type for type.
        `whole`: a function per column, called with the whole column (pandas) as it is read; their results
        come back by column name (columns the table lacks are left out)."""
        whole, rows = whole or {}, np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.num_rows):
            raise IndexError(f"{self.path} has {self.num_rows} rows: positions {rows.min()}..{rows.max()} asked")
        out, facts, names = {}, {}, self.file.schema_arrow.names
        for batch in (names[i:i + self.COLUMNS_AT_ONCE] for i in range(0, len(names), self.COLUMNS_AT_ONCE)):
            part = self.file.read(columns=batch)  # (decoded in parallel threads)
            for name in batch:
                if name in whole or not _text(part.schema.field(name).type):
                    column = part.select([name]).to_pandas()[name]  # (as the whole table converts it: the type
                    if name in whole:                               # can depend on every row)
                        facts[name] = whole[name](column)
                    out[name] = column.iloc[rows].reset_index(drop=True)
                else:  # text converts value by value: only the rows asked are converted
                    out[name] = part.select([name]).take(pa.array(rows)).to_pandas()[name]
            del part
        return pd.DataFrame(out).set_axis(pd.Index(rows)), facts


def _text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def read_versioned(table_path: str | Path, checksums_path: str | Path, rebuild: str) -> tuple[pd.DataFrame, str]:
    """`read_verified`'s table and its data version (`file_md5`), hashed beside the read (hashing frees the GIL)."""
    with ThreadPoolExecutor(1) as pool:
        version = pool.submit(file_md5, table_path)
        return read_verified(table_path, checksums_path, rebuild), version.result()


def file_md5(path: str | Path) -> str:
    """The hash DVC gives a file output: the data version of a table."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def write_parquet_parts(df: pd.DataFrame, directory: str | Path, parts: int = 2) -> None:
    """A Parquet dataset of `parts` files written in parallel threads (see `ParquetParts`)."""
    bounds = np.linspace(0, len(df), max(parts, 1) + 1).astype(int)
    with ParquetParts(directory, workers=parts) as sink:
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            sink(df.iloc[lo:hi])


def write_tables(tables: dict[str, pd.DataFrame], directory: str | Path) -> None:
    """A folder with one Parquet file per named table (index kept), e.g. the online snapshot."""
    directory = Path(directory)
    _remove(directory)
    directory.mkdir(parents=True)
    for name, table in tables.items():
        table.to_parquet(directory / f"{name}.parquet")


def read_tables(directory: str | Path) -> dict[str, pd.DataFrame]:
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} does not exist; run `dvc repro featurize` to build it.")
    return {p.stem: pd.read_parquet(p) for p in sorted(directory.glob("*.parquet"))}


def save_figures(figures: dict, folder: str | Path) -> None:
    """Each matplotlib figure as <name>.png in `folder` (emptied first: no stale plots), then closed."""
    import matplotlib.pyplot as plt

    folder = Path(folder)
    _remove(folder)
    folder.mkdir(parents=True)
    for name, fig in figures.items():
        fig.savefig(folder / f"{name}.png", dpi=100)
        plt.close(fig)
