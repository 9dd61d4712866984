"""The order contacts are stored in after ingest: each customer's history contiguous and in time order
(anonymous contacts last). The labeller and the feature builder rely on it to avoid sorting again."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contract.mapping import THREADS


def as_microseconds(s: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(s).as_unit("us").asi8


def customer_time_order(cust: pa.Array, t: np.ndarray, ids: pa.Array) -> np.ndarray | None:
    """Permutation to (customer_id, missing last; started_at; contact_id) order, or None when the
    rows already are in it (ingest writes them so: every customer's history is contiguous)."""
    n = len(t)
    if n < 2:
        return None
    null = cust.is_null().to_numpy(zero_copy_only=False)
    if (np.diff(null.astype(np.int8)) >= 0).all():
        a, b = cust.slice(0, n - 1), cust.slice(1)
        lt = pc.fill_null(pc.less(a, b), False).to_numpy(zero_copy_only=False)
        eq = pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
        later = t[1:] > t[:-1]
        tie = eq & (t[1:] == t[:-1])
        ok = lt | (eq & later) | null[1:]
        idx = np.flatnonzero(tie)
        if len(idx):
            ok[idx] = pc.less(ids.take(pa.array(idx)), ids.take(pa.array(idx + 1))).to_numpy(zero_copy_only=False)
        if ok.all():
            return None
    # Customers and ids as their ranks (missing last): sorted as integers, as ingest sorts them.
    id_codes = rank_codes(ids)
    id_codes[id_codes == MISSING] = n
    return coded_order(rank_codes(cust), t, id_codes.astype(np.int64))


MISSING = np.iinfo(np.uint64).max  # the rank code of a missing value: after every other


def rank_codes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each value's rank among the distinct values, as uint64 (ascending as Arrow sorts them; a
    missing value is `MISSING`). Ranks order rows as the values do, but sort as integers."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    enc = pc.dictionary_encode(values)
    ranks = pc.rank(enc.dictionary, sort_keys="ascending").to_numpy().astype(np.uint64)  # distinct: no ties
    idx = enc.indices
    codes = ranks[pc.fill_null(idx, 0).to_numpy()] if len(ranks) else np.zeros(len(idx), np.uint64)
    codes[idx.is_null().to_numpy(zero_copy_only=False)] = MISSING
    return codes


def order_codes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """uint64 codes that order rows as the values do (missing: `MISSING`), for `coded_order`: the values'
    `digit_keys` when they have them (no hashing, no sort), else their `rank_codes`."""
    packed = digit_keys(values)
    if packed is None:
        return rank_codes(values)
    keys, present = packed
    codes = np.full(len(present), MISSING, dtype=np.uint64)
    codes[present] = keys  # (at most 19 digits: below MISSING)
    return codes


def coded_order(cust: np.ndarray, t: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
    """Permutation to (customer, missing last; time; id) order on rank codes (`rank_codes` of the
    customers; ids as non-negative ranks), or None when the rows already are in it: the order of
    `customer_time_order`, at integer speed."""
    n = len(t)
    if n < 2:
        return None
    null = cust == MISSING
    if (np.diff(null.astype(np.int8)) >= 0).all():
        a, b = cust[:-1], cust[1:]
        eq = (a == b) & ~null[1:]
        tie = eq & (t[1:] == t[:-1])
        ok = (a < b) | (eq & (t[1:] > t[:-1])) | null[1:] | (tie & (ids[:-1] < ids[1:]))
        if ok.all():
            return None
    # Two stable passes instead of a three-key comparison sort (5x faster at 1M rows): rows in (time,
    # id) order, then by customer with a radix sort, which keeps that order within each customer.
    by_time = _time_id_order(t, ids)
    codes = np.where(null, np.uint64(int(cust[~null].max(initial=0)) + 1), cust)
    return by_time[radix_argsort(codes[by_time])]


def _time_id_order(t: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Argsort by (t, ids), ids non-negative and distinct. One integer key (time in its coarsest
    whole unit, times the id range, plus the id) when it fits in 63 bits: exports mostly come in
    time order, which numpy's stable sort (timsort) takes in near-linear time."""
    lo, hi = int(t.min()), int(t.max())
    width = int(ids.max()) + 1
    step = next(s for s in (1_000_000, 1_000, 1) if s == 1 or not (t % s).any())  # whole seconds, ms, us
    if hi - lo < 2**63 and ((hi - lo) // step + 1) * width < 2**63:
        return np.argsort((t - lo) // step * width + ids, kind="stable")
    return np.lexsort((ids, t))


def radix_argsort(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative integers, 16 bits a pass from the lowest (numpy sorts 16-bit
    integers by radix: linear time, where a comparison sort of 64-bit keys is n log n)."""
    top, shift = int(keys.max(initial=0)), 0
    if top < 2**32:
        keys = keys.astype(np.uint32)  # (half the bytes to gather a pass)
    order = None
    while True:
        digit = (((keys if order is None else keys[order]) >> shift) & 0xFFFF).astype(np.uint16)
        step = np.argsort(digit, kind="stable")
        order = step if order is None else order[step]
        shift += 16
        if top >> shift == 0:
            return order


def digit_keys(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """(one uint64 per present value, True where present) when every present value is the same number of
    bytes, a prefix they all share, then at most 19 ASCII digits (ids such as CT000806603 or 1234567):
    the keys order the values as Arrow's string sort does (digits of one length sort as their number).
    Else None. Read from the string data as a byte matrix, without copying it."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)) or not len(values):
        return None
    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=width)[values.offset: values.offset + len(values) + 1]
    present = values.is_valid().to_numpy(zero_copy_only=False)
    lengths = np.diff(offsets)
    m = int(present.sum())
    size = int(lengths[present][0]) if m else 0
    if not m or not size or (lengths[present] != size).any():
        return None
    data = np.frombuffer(data_buf, dtype=np.uint8)
    if not lengths[~present].any():  # the present values side by side in the data: a view
        block = data[int(offsets[0]): int(offsets[-1])].reshape(m, size)
    else:  # (missing values that keep bytes, e.g. anonymous ids made missing: the present ones copied out)
        block = np.lib.stride_tricks.sliding_window_view(data, size)[offsets[:-1][present]]
    prefix = 0
    while prefix < size and (block[:, prefix] == block[0, prefix]).all():
        prefix += 1
    if size - prefix > 19:
        return None
    keys = np.zeros(m, dtype=np.uint64)
    for j in range(prefix, size):
        digit = block[:, j] - np.uint8(48)
        if (digit > 9).any():
            return None
        keys = keys * np.uint64(10) + digit
    return keys, present


def digit_sort(keys: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions in ascending key order (`digit_keys`), stable, the missing values last in position
    order (Arrow's `array_sort_indices(null_placement="at_end")` of the values), and the keys in that order."""
    by_key = radix_argsort(keys)
    return np.concatenate([np.flatnonzero(present)[by_key], np.flatnonzero(~present)]), keys[by_key]


PIECE_ROWS = 250_000  # rows a piece handed to a sink (1M rows: four parts, written two at a time)


def take_rows(df: pd.DataFrame, rows: np.ndarray, sink: Callable[[pd.DataFrame], None] | None = None,
              chunk_rows: int | None = None) -> pd.DataFrame | None:
    """`df.take(rows)`, its columns taken in parallel threads (Arrow and numpy release the GIL).
    With a `sink`, the rows are taken `chunk_rows` (default `PIECE_ROWS`) at a time, each piece is
    handed to the sink as soon as it is taken (e.g. `pipeline.io.ParquetParts`, which writes it as a
    Parquet part file in a background thread while the next piece is taken) and nothing is returned:
    no piece is held once the sink lets it go, so the taken rows never sit in memory whole. The sink
    always gets at least one piece."""
    if len(df.columns) < 2 or THREADS < 2 or not df.columns.is_unique:
        return _pieces(df, rows, sink, chunk_rows, lambda part: df.take(part))
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        sources = list(pool.map(_source, [df.iloc[:, i] for i in range(len(df.columns))]))

        def take(part: np.ndarray) -> pd.DataFrame:
            taken = pool.map(lambda s: s.take(part), sources)
            return pd.DataFrame(dict(zip(df.columns, taken)), index=df.index.take(part), copy=False)

        return _pieces(df, rows, sink, chunk_rows, take)


def _pieces(df: pd.DataFrame, rows: np.ndarray, sink: Callable[[pd.DataFrame], None] | None, chunk_rows: int,
            take: Callable[[np.ndarray], pd.DataFrame]) -> pd.DataFrame | None:
    if sink is None:
        return take(rows)
    chunk_rows = chunk_rows or PIECE_ROWS
    if (df.dtypes == object).any():  # a piece of all-missing objects would type differently: one piece
        chunk_rows = max(len(rows), 1)
    for start in range(0, max(len(rows), 1), chunk_rows):
        sink(take(rows[start:start + chunk_rows]))
    return None


DICTIONARY_MIN_ROWS = 1 << 16  # shorter text columns are taken directly (the encoding would not pay)


class _Coded:
    """A text column with few distinct values, taken as its Arrow dictionary encoding: small integer
    codes and a dictionary that stays in cache. Taking the strings themselves in a new order reads
    them scattered over memory, 2-3x slower per column at a million rows, encoding included."""

    def __init__(self, values: pd.Series, encoded: pa.ChunkedArray) -> None:
        self.dtype, self.type, self.encoded = values.dtype, encoded.type.value_type, encoded

    def take(self, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
        return pd.array(pc.take(self.encoded, rows).cast(self.type), dtype=self.dtype)


def _source(values: pd.Series) -> pd.api.extensions.ExtensionArray | _Coded:
    """What a column's rows are taken from: the column, or `_Coded` when it is Arrow text whose
    evenly spaced sample of 4,096 values holds at most 512 distinct ones."""
    arr = values.array
    if not len(arr) or len(arr) < DICTIONARY_MIN_ROWS or not isinstance(arr, pd.arrays.ArrowStringArray):
        return arr
    text = pa.chunked_array(pa.array(arr))
    sample = pc.take(text, pa.array(np.linspace(0, len(arr) - 1, 4096).astype(np.int64)))
    if pc.count_distinct(sample, mode="all").as_py() > 512:
        return arr
    return _Coded(values, pc.dictionary_encode(text))


