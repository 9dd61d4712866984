"""Reading exports: a path or glob named in params.yaml -> one raw table of text columns.

In: the `contacts` path/glob and the `ingest.files.read` options. Out: `RawExport` with the rows of
every file (Parquet keeps its types; delimited text stays text, so all parsing is ours), the source
column names as the files spell them (a name the header repeats: `NAME#1`, `NAME#2`, ... by
position, and its positions in `duplicated`), and notes. Every command that reads a file (the ingest
stage, `fcr ingest --check`, `fcr label`, `fcr score`) reads it here.

Delimited text goes through pyarrow's multi-threaded CSV reader; the encoding is taken from the
BOM, else from params, else must be UTF-8 (a file that is not fails with the byte offset and what to
write in params.yaml, never guessed: a wrong guess garbles names silently).
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import glob
import gzip
import io
import logging
import mmap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pandas.io._util import arrow_table_to_pandas  # pd.read_parquet's conversion, applied to row groups

from contract.config import ReadConfig
from base.errors import StageStop

log = logging.getLogger(__name__)
DELIMITERS = ",;\t|"
BLOCK_SIZE = 1 << 24  # bytes the CSV reader parses per task (its threads split the file in blocks)
MAP_FROM_BYTES = 1 << 20  # plain files from this size are memory-mapped, smaller ones read
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


class ReadError(StageStop, ValueError):
    """An export file cannot be read as configured; the message says what to change in params.yaml."""


@dataclass
class RawExport:
    table: pd.DataFrame | None
    files: list[str]
    # source column name -> its 1-based positions in the header, for names that occur more than once
    duplicated: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def hand_over(self) -> pd.DataFrame:
        """The table, which the export then no longer holds: once its new holder lets it go, its
        memory can be reused (the ingest does so before its peak)."""
        table, self.table = self.table, None
        if table is None:
            raise RuntimeError("the export's table was already handed over")
        return table


def expand(pattern: str, key: str = "ingest.files.contacts") -> list[str]:
    """The files a path, glob or folder names, sorted; none is an error naming the params key. A folder (a
    Parquet dataset folder too) names every file under it whose name starts with neither `.` nor `_` (a
    dataset's `_SUCCESS`, `_metadata`). An fsspec URL (`s3://...`, `gs://...`, `memory://...`,
    `file://...`) is expanded the same way on its filesystem, when the package of that filesystem is
    installed, and its files are named by URL."""
    if is_url(pattern):
        files = _expand_url(pattern, key)
    elif any(ch in pattern for ch in "*?["):
        files = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    elif Path(pattern).is_dir():
        files = sorted(str(p) for p in Path(pattern).rglob("*")
                       if p.is_file() and _listed(p.relative_to(pattern).parts))
    else:
        files = [pattern] if Path(pattern).is_file() else []
    if not files:
        hint = ("put your export under inputs/ and name it there in params.yaml" if key.startswith(("ingest.", "report."))
                else "check the path")
        raise ReadError(f"{key}: no file matches {pattern!r}; {hint}.")
    return files


def is_url(path: str) -> bool:
    """True for an fsspec URL such as s3://bucket/x.csv (a Windows drive letter is not a protocol)."""
    head, sep, _ = path.partition("://")
    return bool(sep) and len(head) > 1 and head.replace("+", "").replace("-", "").isalnum()


def _listed(parts: tuple[str, ...]) -> bool:
    return not any(part.startswith((".", "_")) for part in parts)


def _filesystem(url: str, key: str):
    """(fsspec filesystem, path on it) of a URL; a protocol whose package is missing is an error to fix."""
    import fsspec  # (only exports named by URL need it)

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ReadError(f"{key}: cannot open {url!r} ({exc}); install the package of its filesystem (e.g. s3fs "
                        "for s3://, gcsfs for gs://) or name a local path in params.yaml.") from None


def _expand_url(url: str, key: str) -> list[str]:
    fs, path = _filesystem(url, key)
    if any(ch in path for ch in "*?["):
        found = [p for p in fs.glob(path) if fs.isfile(p)]
    elif fs.isdir(path):
        root = path.rstrip("/")
        found = [p for p in fs.find(path) if _listed(tuple(p[len(root):].strip("/").split("/")))]
    else:
        found = [path] if fs.exists(path) else []
    return sorted(fs.unstrip_protocol(p) for p in found)


def _fetch(url: str) -> bytes:
    """The bytes of a file named by URL."""
    fs, path = _filesystem(url, "ingest.files")
    return fs.cat_file(path)


def _members(path: str, read: ReadConfig) -> list[tuple[str, bytes | mmap.mmap]]:
    """(name, bytes) of a file, the members of a .zip, or a decompressed .gz (a large plain file:
    its memory map, which reads like bytes; a file named by URL: its bytes, fetched)."""
    low = path.lower()
    source = io.BytesIO(_fetch(path)) if is_url(path) else path
    if low.endswith(".zip"):
        with zipfile.ZipFile(source) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")
                     and (read.member is None or fnmatch.fnmatch(n, read.member))]
            if not names:
                raise ReadError(f"{path}: no member matches ingest.files.read.member={read.member!r}; "
                                f"the archive holds {zf.namelist()}.")
            return [(f"{path}:{n}", zf.read(n)) for n in names]
    if low.endswith(".gz"):
        with gzip.open(source, "rb") as fh:
            return [(path, fh.read())]
    if not isinstance(source, str):
        return [(path, source.getvalue())]
    size = Path(path).stat().st_size
    if size < max(MAP_FROM_BYTES, 1):  # (an empty file cannot be mapped)
        return [(path, Path(path).read_bytes())]
    # Mapped, not read: the reader's threads fault the pages in side by side, where read() copies the
    # whole file in one thread first (a tenth of the 1M-row ingest). Read where it cannot be mapped.
    try:
        with open(path, "rb") as fh:
            return [(path, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))]
    except (OSError, ValueError):
        return [(path, Path(path).read_bytes())]


def _encoding(name: str, data: bytes, read: ReadConfig) -> tuple[str, bytes]:
    """The encoding to decode with (BOM first) and the data without its BOM."""
    for bom, enc in _BOMS:
        if data[:len(bom)] == bom:
            if enc == "utf-16":  # keep the BOM: Python's utf-16 codec reads the byte order from it
                return enc, data
            return "utf-8", data[len(bom):]
    enc = read.encoding or "utf-8"
    if enc in ("utf-8", "utf-8-sig"):
        try:
            if not _ascii(data):  # ASCII is UTF-8: a test 10x cheaper than decoding
                bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise ReadError(
                f"{name} is not UTF-8: byte {data[exc.start:exc.start + 1]!r} at offset {exc.start} (line {line}). "
                "Set ingest.files.read.encoding in params.yaml to latin-1 or cp1252 (Western European "
                "exports), or utf-16.") from None
        return "utf-8", data
    return enc, data


def _ascii(data: bytes | mmap.mmap) -> bool:
    if isinstance(data, bytes):
        return data.isascii()
    # A mapped file: no byte has its high bit set. OR-ed 8 bytes at a time (no temporary array).
    whole = len(data) // 8 * 8
    words = np.bitwise_or.reduce(np.frombuffer(data, dtype=np.uint64, count=whole // 8)) if whole else 0
    return not (int(words) & 0x8080808080808080) and bytes(data[whole:]).isascii()


def _header(text_start: str, delimiter: str, quote: str) -> list[str]:
    first = text_start.splitlines()[0] if text_start else ""
    return next(csv.reader([first], delimiter=delimiter, quotechar=quote))


def _sniff(name: str, sample: str) -> str:
    lines = [ln for ln in sample.splitlines()[:20] if ln.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in DELIMITERS} if lines else {}
        best = max(counts, key=counts.get) if counts else ","
        if not counts or counts[best] == 0:
            raise ReadError(f"{name}: cannot tell the delimiter from the first lines; set "
                            "ingest.files.read.delimiter (one of , ; tab |) in params.yaml.") from None
        return best


def occurrence_names(name: str, header: list[str]) -> list[str]:
    """The table's column names: the header's, except that each occurrence of a name the header holds
    more than once is `NAME#1`, `NAME#2`, ... in header order. No occurrence keeps the bare name, so a
    mapping cannot take the first one by accident (contract/mapping.py `check_sources`)."""
    counts = {h: header.count(h) for h in header}
    seen: dict[str, int] = {}
    unique = []
    for h in header:
        seen[h] = seen.get(h, 0) + 1
        unique.append(h if counts[h] == 1 else f"{h}#{seen[h]}")
    clash = sorted({u for u in unique if unique.count(u) > 1})
    if clash:  # e.g. a header with `note`, `note` and `note#2`
        raise ReadError(f"{name}: the header's repeated names and its own column(s) {clash} cannot be told apart "
                        "(repeated names are read as NAME#1, NAME#2, ...); rename those columns in the export.")
    return unique


def _read_delimited(name: str, data: bytes, read: ReadConfig) -> tuple[pd.DataFrame, list[str]]:
    if not len(data) or (data[:1 << 16].isspace() and bytes(data).isspace()):  # (no .strip(): it copies)
        raise ReadError(f"{name} is empty: no header and no rows. Check ingest.files.contacts in params.yaml.")
    enc, data = _encoding(name, data, read)
    if enc != "utf-8":  # pyarrow reads UTF-8: transcode once, here
        data = bytes(data).decode(enc).encode("utf-8")
    head = data[:65536].decode("utf-8", errors="ignore")
    quote = read.quote or '"'
    delimiter = read.delimiter or _sniff(name, head)
    header = [h.strip() for h in _header(head, delimiter, quote)]
    unique = occurrence_names(name, header)
    table = pacsv.read_csv(
        pa.BufferReader(data),  # zero-copy (a Python file object would be read under the GIL)
        read_options=pacsv.ReadOptions(column_names=unique, skip_rows=1, block_size=BLOCK_SIZE),
        # Only a quoted value can hold a line break: without the quote character in the file, the
        # reader may split blocks at any newline (the faster, parallel-friendly parse).
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=quote,
                                         newlines_in_values=data.find(quote.encode("utf-8")) >= 0),
        # large_string: the storage of pandas' Arrow-backed "str" dtype, so to_pandas() copies nothing.
        convert_options=pacsv.ConvertOptions(column_types={c: pa.large_string() for c in unique},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    # One chunk per column (the reader gives one per block): every later take on a chunked column
    # would concatenate its chunks again first.
    return table.combine_chunks().to_pandas(), header


def one_chunk(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with each Arrow text column in one chunk, in place. Parquet gives a chunk per row group (a
    million rows), and every take of rows from a chunked column concatenates its chunks again first: the
    ingest takes its rows in pieces, so a 10M-row export's text was copied whole for every piece."""
    for pos, name in enumerate(df.columns):
        values = df.iloc[:, pos]
        if isinstance(values.array, pd.arrays.ArrowStringArray):
            chunked = pa.chunked_array(pa.array(values.array))
            if chunked.num_chunks > 1:
                df.isetitem(pos, pd.Series(pd.array(chunked.combine_chunks(), dtype=values.dtype), index=df.index))
    return df


def read_file(path: str, read: ReadConfig | None, groups: range | None = None) -> list[tuple[str, pd.DataFrame, list[str]]]:
    """One file the pattern names as (name, raw table, header as the file spells it): a .zip gives one per
    member. The reader of one file that `read_export` concatenates (and the Dask engine runs per file, or per
    range of a Parquet file's row groups: `groups`, see `read_units`)."""
    read = read or ReadConfig()
    if path.lower().endswith(PARQUET):
        return [_read_parquet(path, groups)]
    return [(name, *_read_delimited(name, data, read)) for name, data in _members(path, read)]


PARQUET = (".parquet", ".pq")


def read_units(path: str, max_rows: int) -> list[range | None]:
    """How the Dask engine reads a file in tasks: a Parquet file as ranges of its row groups of at most
    `max_rows` rows each (a larger row group alone), so that no task holds a whole large file; any other file
    whole (None)."""
    if not path.lower().endswith(PARQUET):
        return [None]
    with _opened(path) as source:
        meta = pq.ParquetFile(source).metadata
    units, first, rows = [], 0, 0
    for g in range(meta.num_row_groups):
        size = meta.row_group(g).num_rows
        if g > first and rows + size > max_rows:
            units.append(range(first, g))
            first, rows = g, 0
        rows += size
    units.append(range(first, meta.num_row_groups))
    return units


def _opened(path: str) -> Any:
    """A local path, or a file named by URL opened on its filesystem (read where Parquet asks: footer, pages)."""
    if not is_url(path):
        return contextlib.nullcontext(path)
    fs, inner = _filesystem(path, "ingest.files")
    return fs.open(inner, "rb")


def _read_parquet(path: str, groups: range | None) -> tuple[str, pd.DataFrame, list[str]]:
    """A Parquet file, or the row groups `groups` of it, as pandas' own reader makes it (`pd.read_parquet`,
    whose Arrow-to-pandas conversion is applied to the groups read: the same dtypes in every range)."""
    with _opened(path) as source:
        file = pq.ParquetFile(source)
        header = file.schema_arrow.names
        table = (file.read(use_pandas_metadata=True) if groups is None
                 else file.read_row_groups(list(groups), use_pandas_metadata=True))
    unique = occurrence_names(path, header)
    if unique != header:  # pandas refuses repeated names: renamed in Arrow
        table = table.rename_columns(unique)
    df = arrow_table_to_pandas(table)
    if groups is not None:  # rows numbered from 0 in every range, as a whole file's
        df.index = pd.RangeIndex(len(df))
    return path, one_chunk(df), header


def same_header(names: list[str], headers: list[list[str]], key: str = "ingest.files.contacts") -> dict[str, list[int]]:
    """Checks that every file has the first one's columns; returns the repeated names' positions."""
    first = headers[0]
    for name, header in zip(names[1:], headers[1:]):
        if header != first:
            raise ReadError(f"{name} has columns {header}, unlike {names[0]} ({first}); every file that "
                            f"{key} names must have the same columns.")
    duplicated: dict[str, list[int]] = {}
    for pos, h in enumerate(first, start=1):
        if first.count(h) > 1:
            duplicated.setdefault(h, []).append(pos)
    return duplicated


def no_rows(names: list[str], header: list[str]) -> ReadError:
    return ReadError(f"{', '.join(names)}: a header ({len(header)} columns) but no rows.")


def read_export(pattern: str, read: ReadConfig | None, key: str = "ingest.files.contacts") -> RawExport:
    """Every file the pattern names, concatenated (same columns required)."""
    pieces = [piece for path in expand(pattern, key) for piece in read_file(path, read)]
    names, frames, headers = ([p[i] for p in pieces] for i in range(3))
    duplicated = same_header(names, headers, key)
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    if not len(table):
        raise no_rows(names, headers[0])
    log.info("read %d rows from %d file(s): %s", len(table), len(names), ", ".join(names[:5]))
    return RawExport(table, names, duplicated)


def read_side_table(path: str, read: ReadConfig | None, key: str) -> pd.DataFrame:
    """A customers/agents table, read like the contacts."""
    return read_export(path, read, key).table
