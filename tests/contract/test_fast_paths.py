"""The ingest's fast paths against their plain references, on many generated inputs: nulling by a new
validity bitmap against `pc.if_else`, the vectorised contact rules against the pandera schema built
from the same declaration, the duplicate sort against counting, both contact orders (on codes, on strings) against a
brute-force sort, and the threaded row take against `DataFrame.take`."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contract import ordering
from contract.mapping import any_byte_of, null_where, trim
from contract.ordering import coded_order, customer_time_order, radix_argsort, rank_codes, take_rows
from contract.schema import repeated, rule_failures, schema_failures, sorted_values
from contract.vocabulary import CONTRACT

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
texts = st.one_of(st.none(), st.sampled_from(["", " ", "a", " a ", "0", "\u00a0b", "é", "zz"]))


def _chunked(values: list, typ: pa.DataType, cuts: list[int]) -> pa.ChunkedArray:
    bounds = sorted({0, len(values), *(c for c in cuts if 0 < c < len(values))})
    return pa.chunked_array([pa.array(values[a:b], type=typ) for a, b in pairwise(bounds)] or
                            [pa.array([], type=typ)], type=typ)


@SETTINGS
@given(rows=st.lists(st.tuples(texts, st.one_of(st.none(), st.booleans())), max_size=25),
       offset=st.integers(0, 4), cuts=st.lists(st.integers(1, 24), max_size=3),
       large=st.booleans())
def test_null_where_matches_if_else(rows, offset, cuts, large):
    typ = pa.large_string() if large else pa.string()
    values, mask = [r[0] for r in rows], [r[1] for r in rows]
    arr, m = pa.array(values, type=typ).slice(offset), pa.array(mask, type=pa.bool_()).slice(offset)
    expected = pc.if_else(pc.fill_null(m, False), pa.scalar(None, typ), arr).to_pylist()
    got = null_where(arr, m)
    got.validate(full=True)
    assert got.to_pylist() == expected
    # Chunked, with the mask chunked alike (as element-wise kernels leave it) and not.
    carr = _chunked(values[offset:], typ, cuts)
    for cm in (_chunked(mask[offset:], pa.bool_(), cuts), pa.array(mask[offset:], type=pa.bool_())):
        got = null_where(carr, cm)
        got.validate(full=True)
        assert got.to_pylist() == expected


contact_rows = st.lists(st.fixed_dictionaries({
    "contact_id": st.sampled_from(["c1", "c2", None]),
    "started_at": st.sampled_from([0, 60, None]),
    "channel": st.sampled_from(["phone", "chat", "self_service", "fax", None]),
    "reason_code": st.sampled_from(["R1", None]),
    "agent_id": st.sampled_from(["a1", None]),
    "ended_at": st.sampled_from([30, 90, None]),
    "wait_s": st.sampled_from([0.0, 5.0, -1.0, None]),
    "handle_s": st.sampled_from([-0.0, 3.0, -2.5, None]),
    "transfers": st.sampled_from([0.0, 1.0, -1.0, None]),
    "disposition": st.sampled_from(["handled", "abandoned", None]),
}), min_size=1, max_size=12)


def _contact_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in ("started_at", "ended_at"):
        df[col] = pd.Timestamp("2025-03-03", tz="UTC") + pd.to_timedelta(df[col].astype("float64"), unit="s")
    for col in ("contact_id", "channel", "reason_code", "agent_id", "disposition"):
        df[col] = df[col].astype("str")
    for col in ("wait_s", "handle_s", "transfers"):
        df[col] = df[col].astype("float64")
    return df[[c for c in CONTRACT if c in df]]


@SETTINGS
@given(rows=contact_rows, agents=st.booleans())
def test_rule_failures_match_the_pandera_schema(rows, agents):
    df = _contact_frame(rows)
    first = pd.Series("", index=df.index, dtype="str")
    for mask, text in rule_failures(df, agents):
        first[mask & (first == "").to_numpy()] = text
    assert first.tolist() == schema_failures(df, agents).tolist()


@SETTINGS
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "ab", "", "B"])), max_size=30),
       cuts=st.lists(st.integers(1, 29), max_size=3), seed=st.integers(0, 5))
def test_repeated_matches_counting(values, cuts, seed):
    # Among the rows in play only (the sort is of all rows, taken before the rows in play are known).
    among = np.random.default_rng(seed).random(len(values)) < 0.7 if seed else np.ones(len(values), dtype=bool)
    dup, ranks = repeated(sorted_values(_chunked(values, pa.large_string(), cuts)), among)
    inplay = [v for v, a in zip(values, among) if a]
    counts = Counter(inplay)
    assert dup.tolist() == [counts[v] > 1 for v in inplay]
    # Positions in ascending order (missing last): a permutation that orders the values.
    assert sorted(ranks.tolist()) == list(range(len(inplay)))
    ordered = [inplay[i] for i in np.argsort(ranks)]
    present = [v for v in ordered if v is not None]
    assert present == sorted(present) and ordered[len(present):] == [None] * (len(inplay) - len(present))


@SETTINGS
@given(rows=st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(["k2", "k10", "k1", "a"])),
                               st.integers(0, 3)), min_size=0, max_size=25),
       presorted=st.booleans(), unit=st.sampled_from([1, 1_000, 1_000_000, 7, 2**61]),
       origin=st.sampled_from([0, 1_736_701_929_000_000, -2**40]))
def test_both_orders_are_the_brute_force_order(rows, presorted, unit, origin):
    # times in whole seconds, ms or us (the one-key path), and spans too wide for it (lexsort)
    rows = [(c, origin + k * unit) for c, k in rows]
    ids = [f"id{i:02d}" for i in np.random.default_rng(len(rows)).permutation(len(rows))]

    def reference() -> list[int]:  # by brute force: Python's sort on (missing last, customer, time, id)
        return sorted(range(len(rows)), key=lambda i: (rows[i][0] is None, rows[i][0] or "", rows[i][1], ids[i]))

    if presorted:  # also the already-ordered case, which must answer None in both
        key = reference()
        rows, ids = [rows[i] for i in key], [ids[i] for i in key]
    cust = pa.array([r[0] for r in rows], type=pa.large_string())
    t = np.array([r[1] for r in rows], dtype=np.int64)
    id_arr = pa.array(ids, type=pa.large_string())
    on_strings = customer_time_order(cust, t, id_arr)  # the labeller's (Arrow strings)
    on_codes = coded_order(rank_codes(cust), t, repeated(sorted_values(id_arr), np.ones(len(id_arr), dtype=bool))[1])
    expected = reference()
    # Rows already in order are left as they are (None); anonymous contacts, which have no history,
    # need only come last. A sort puts them in (time, id) order too.
    grouped = [(False, rows[i][0], rows[i][1], ids[i]) if rows[i][0] is not None else (True,) for i in range(len(rows))]
    in_order = all(a <= b for a, b in pairwise(grouped))
    for got in (on_strings, on_codes):
        if got is None:
            assert in_order
        else:
            assert got.tolist() == expected and not in_order


@SETTINGS
@given(keys=st.lists(st.integers(0, 2**64 - 1) | st.integers(0, 3) | st.integers(2**16 - 2, 2**16 + 2), max_size=40))
def test_radix_argsort_is_a_stable_argsort(keys):
    a = np.array(keys, dtype=np.uint64)
    assert radix_argsort(a).tolist() == np.argsort(a, kind="stable").tolist()


@SETTINGS
@given(n=st.integers(0, 30), seed=st.integers(0, 10))
def test_take_rows_matches_take(n, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "s": pd.array(rng.choice(["x", "yy", None], n), dtype="str"),
        "t": pd.to_datetime(rng.integers(0, 10**9, n), unit="s", utc=True),
        "f": rng.normal(size=n), "i": pd.array(rng.integers(0, 5, n), dtype="Int64"),
        "b": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
    }, index=pd.RangeIndex(n))
    df["u"] = pd.array([f"id{i}" for i in range(n)], dtype="str")  # all distinct: never dictionary-coded
    rows = rng.permutation(n)[: n // 2]
    expected = df.take(rows)
    # Text with few distinct values is taken through its dictionary encoding above a size; at every
    # size here too (the threshold lowered), and the result is the same.
    for threshold in (ordering.DICTIONARY_MIN_ROWS, 0):
        with mock.patch.object(ordering, "DICTIONARY_MIN_ROWS", threshold):
            got = take_rows(df, rows)
        pd.testing.assert_frame_equal(got, expected)
        assert got.dtypes.tolist() == expected.dtypes.tolist()
    # Taken piece by piece for a sink (the stage writes each as a Parquet row group): the pieces are
    # the rows in order, at least one piece even when no row is kept, and nothing else is kept.
    pieces = []
    chunk = int(rng.integers(1, 6))
    assert take_rows(df, rows, sink=pieces.append, chunk_rows=chunk) is None
    assert len(pieces) == max(1, -(-len(rows) // chunk)) and all(len(p) <= chunk for p in pieces)
    pd.testing.assert_frame_equal(pd.concat(pieces), expected)


@pytest.mark.parametrize("mapped", [False, True])
def test_line_breaks_in_quoted_values_survive_the_fast_reader(tmp_path, monkeypatch, mapped):
    """A file with the quote character is read allowing line breaks in quoted values (also where
    the reader's blocks split the file); one without it cannot have any, and the faster parse gives
    the same table. The same for memory-mapped files (large ones are)."""
    from contract import reading
    from contract.reading import read_export

    monkeypatch.setattr(reading, "BLOCK_SIZE", 32)
    if mapped:
        monkeypatch.setattr(reading, "MAP_FROM_BYTES", 0)
    quoted = tmp_path / "quoted.csv"
    quoted.write_text("id;note;n\n" + "".join(f'{i};"line {i}\nand more";{i}\n' for i in range(20)))
    table = read_export(str(quoted), None).table
    assert table["note"].tolist() == [f"line {i}\nand more" for i in range(20)]
    assert table["n"].tolist() == [str(i) for i in range(20)]
    bare = tmp_path / "bare.tsv"
    bare.write_text("id\tnote\n1\tx\n2\t\n\n3\tz\n")
    assert read_export(str(bare), None).table.to_dict("list") == {"id": ["1", "2", "3"], "note": ["x", "", "z"]}


@SETTINGS
@given(values=st.lists(st.one_of(st.none(), st.text(st.sampled_from(" \t\n\x1c\x0bab\u00a0\u3000é"), max_size=4)),
                       max_size=25),
       offset=st.integers(0, 4), cuts=st.lists(st.integers(1, 24), max_size=3), large=st.booleans())
@example(values=["a "], offset=0, cuts=[], large=False)
@example(values=["ab", "", "b\t"], offset=1, cuts=[1], large=True)
@example(values=["a\u00a0", "b"], offset=0, cuts=[], large=False)
def test_trim_matches_arrow(values, offset, cuts, large):
    """The shortcut (no value starts or ends with whitespace: the array as it is) is Arrow's trim."""
    typ = pa.large_string() if large else pa.string()
    arr = pa.array(values, type=typ).slice(offset)
    expected = pc.utf8_trim_whitespace(arr).to_pylist()
    assert trim(arr).to_pylist() == expected
    assert trim(_chunked(values[offset:], typ, cuts)).to_pylist() == expected


@SETTINGS
@given(values=st.lists(st.one_of(st.none(), st.text(st.sampled_from("0:+zé- Z\u00e9"), max_size=3)), max_size=20),
       offset=st.integers(0, 3), cuts=st.lists(st.integers(1, 19), max_size=2), large=st.booleans())
def test_any_byte_of_matches_a_scan(values, offset, cuts, large):
    typ = pa.large_string() if large else pa.string()
    expected = any(ch in v for v in values[offset:] if v is not None for ch in "zZ+-")
    assert any_byte_of(pa.array(values, type=typ).slice(offset), b"zZ+-") == expected
    assert any_byte_of(_chunked(values[offset:], typ, cuts), b"zZ+-") == expected


def test_ascii_check_of_a_mapped_file_finds_a_high_byte_anywhere(tmp_path):
    """The 8-bytes-at-a-time check of a memory-mapped export (large files are mapped) against
    bytes.isascii, with one non-ASCII byte at every position, words and the tail."""
    import mmap

    from contract.reading import _ascii

    for size in (1, 7, 8, 9, 23):
        for pos in (None, *range(size)):
            data = bytearray(b"a" * size)
            if pos is not None:
                data[pos] = 0xE9
            path = tmp_path / "f.csv"
            path.write_bytes(bytes(data))
            with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                assert _ascii(mapped) == bytes(data).isascii()


# Timestamps in the common shape (contract/isotime.py) and near it: field values in and out of range, a
# lower-case z, fractions, a space for T, missing seconds, offsets without a colon or beyond 14 hours.
iso_fields = st.tuples(st.integers(1890, 2210), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
                       st.integers(0, 61), st.integers(0, 61))
iso_zones = st.one_of(st.just("Z"), st.just("z"), st.tuples(st.sampled_from("+-"), st.integers(0, 16),
                                                              st.sampled_from([0, 30, 45, 59, 60])))
iso_variants = st.sampled_from(["", "", "", "fraction", "space", "no seconds", "no colon", "pad"])


def _iso_text(fields: tuple, zone, variant: str) -> str:
    y, mo, d, h, mi, s = fields
    text = f"{y:04d}-{mo:02d}-{d:02d}{' ' if variant == 'space' else 'T'}{h:02d}:{mi:02d}"
    text += "" if variant == "no seconds" else f":{s:02d}" + (".5" if variant == "fraction" else "")
    if isinstance(zone, str):
        return text + zone + (" " if variant == "pad" else "")
    sign, oh, om = zone
    return text + (f"{sign}{oh:02d}{om:02d}" if variant == "no colon" else f"{sign}{oh:02d}:{om:02d}")


@SETTINGS
@given(values=st.lists(st.one_of(st.none(), st.builds(_iso_text, iso_fields, iso_zones, iso_variants)), max_size=30),
       offset=st.integers(0, 3), cuts=st.lists(st.integers(1, 29), max_size=2), large=st.booleans())
@example(values=["2024-02-29T23:59:59-14:00", "2023-02-29T00:00:00Z", "1900-01-01T00:00:00+00:00",
                 "2199-12-31T23:59:59Z"], offset=0, cuts=[], large=True)
def test_timestamps_with_offsets_match_pandas(values, offset, cuts, large):
    """Read from their bytes or by pandas, every value with an offset parses as pandas' ISO 8601 parser
    reads it alone (the fast path reads a subset: exactly the values it reads, pandas reads the same)."""
    from contract.isotime import iso_with_offset
    from contract.schema import parse_times

    typ = pa.large_string() if large else pa.string()
    arr = pa.array(values, type=typ).slice(offset)
    kept = values[offset:]
    stripped = [v if v is None else v.strip() for v in kept]  # (parse_times trims first)
    expected = pd.to_datetime(pd.Series(stripped, dtype="str"), utc=True, format="ISO8601", errors="coerce")
    expected = expected.dt.as_unit("us").astype("int64").to_numpy()  # (NaT: the smallest int64)
    for given_arr in (arr, _chunked(kept, typ, cuts)):
        us, read = iso_with_offset(given_arr, np.ones(len(kept), dtype=bool))
        assert (us[read] == expected[read]).all()
        assert (expected[read] != np.iinfo(np.int64).min).all()
    got = parse_times(pd.Series(pd.array(arr, dtype="str")), None, "UTC").values
    assert got.dtype == "datetime64[us, UTC]"
    assert (got.astype("int64").to_numpy() == expected).all()  # (every value generated has an offset)


def test_timestamps_at_the_end_of_the_data_are_read():
    """A 20-byte value last in the string data (its 26-byte row would run past the data: padded copy)."""
    from contract.isotime import iso_with_offset

    for values in (["2025-01-01T00:00:00Z"], ["2025-01-01T00:00:00+01:00", "2025-01-02T00:00:00Z"],
                   ["x" * 100, "2025-01-01T00:00:00Z"]):
        us, read = iso_with_offset(pa.array(values), np.ones(len(values), dtype=bool))
        expected = pd.to_datetime(pd.Series(values), utc=True, format="ISO8601", errors="coerce")
        ok = expected.notna().to_numpy()
        assert (read == ok).all()
        assert (us[ok] == expected[ok].dt.as_unit("us").astype("int64").to_numpy()).all()


words = st.one_of(st.none(), st.sampled_from(["yes", " Yes", "NO ", "y", "true", "T", "0", "1", "resolved",
                                              "not resolved", "maybe", "", " ", "\u00a0no", "é", "A1", "A2"]))


@SETTINGS
@given(values=st.lists(words, max_size=30), cuts=st.lists(st.integers(1, 29), max_size=2))
def test_by_value_matches_pandas_per_row(values, cuts):
    """Mapping and yes/no parsing once per distinct value give each row what pandas gives it."""
    from contract.mapping import map_by_value
    from contract.schema import _FALSE, _TRUE, _parse_bool

    series = pd.Series(pd.array(_chunked(values, pa.large_string(), cuts), dtype="str"))
    for mapper in ({"A1": "team 1", "yes": "y"}, pd.Series({"A1": 7, "A2": 8}), pd.Series({"A1": "t1"})):
        assert_ = pd.testing.assert_series_equal
        assert_(map_by_value(series, mapper), series.map(mapper))
    text = series.astype("str").str.strip().str.lower().where(series.notna())  # (the reading row by row)
    parsed, bad = _parse_bool(series)
    expected = pd.Series(pd.NA, index=series.index, dtype="boolean")
    expected[text.isin(_TRUE)] = True
    expected[text.isin(_FALSE)] = False
    pd.testing.assert_series_equal(parsed, expected)
    assert bad.tolist() == (text.notna() & (text != "") & ~text.isin(_TRUE | _FALSE)).tolist()


@SETTINGS
@given(values=st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                                 st.integers(-2**63, 2**63 - 1).map(float)), max_size=20))
def test_typed_numbers_read_as_their_text(values):
    """A float64 or integer column taken as it is (mapping `_numbers_as_they_are`) parses as its text would."""
    from contract.mapping import _text, _typed_number
    from contract.schema import _numbers

    floats = pd.Series(values, dtype="float64")
    ints = pd.Series([int(v) for v in values if v is not None and np.isfinite(v) and abs(v) < 2**63], dtype="int64")
    for col in (floats, ints, floats.where(floats != 0, -0.0), floats.round().where(floats.abs() < 1e15, -0.0)):
        try:
            as_text = _numbers(_text(col, [""]), ".")
        except TypeError:  # (an integral float beyond int64: the text path cannot write it; typed, it is read)
            continue
        typed = _numbers(_typed_number(col), ".")
        pd.testing.assert_series_equal(typed, as_text)
        # (-0.0 and 0.0: different bytes in Parquet; a NaN, whatever its sign bit, is written as missing)
        assert (np.signbit(typed) == np.signbit(as_text))[as_text.notna()].all()


@SETTINGS
@given(numbers=st.lists(st.one_of(st.none(), st.integers(0, 10**6 - 1)), max_size=40),
       digits=st.sampled_from([1, 6, 19]), prefix=st.sampled_from(["", "CT", "9"]), offset=st.integers(0, 3),
       cuts=st.lists(st.integers(1, 39), max_size=2), large=st.booleans(),
       odd=st.sampled_from([None, "CT1", "x" * 25, "CTa00001"]))
def test_digit_ids_sort_as_arrow_sorts_them(numbers, digits, prefix, offset, cuts, large, odd):
    """Ids of one size, a shared prefix and digits, sorted as integers: the order and groups of Arrow's sort."""
    from contract import schema

    values = [None if v is None else f"{prefix}{v % 10**digits:0{digits}d}" for v in numbers] + ([odd] if odd else [])
    typ = pa.large_string() if large else pa.string()
    for arr in (pa.array(values, type=typ).slice(offset), _chunked(values[offset:], typ, cuts)):
        got = schema.sorted_values(arr)
        with mock.patch.object(schema, "digit_keys", lambda v: None):
            expected = schema.sorted_values(arr)
        assert got[0].tolist() == expected[0].tolist() and got[1].tolist() == expected[1].tolist()


@SETTINGS
@given(numbers=st.lists(st.one_of(st.none(), st.integers(0, 999)), max_size=30), prefix=st.sampled_from(["", "C0"]),
       odd=st.sampled_from([None, "C", "Cx12"]))
def test_order_codes_order_as_rank_codes(numbers, prefix, odd):
    """The customers' codes for the stored order (digit keys when the ids have them) order rows as their ranks."""
    from contract.ordering import order_codes

    tail = [odd] if odd else []
    values = pa.array([None if v is None else f"{prefix}{v:03d}" for v in numbers] + tail, pa.large_string())
    # Also with missing values that keep their bytes (as null_where leaves anonymous ids).
    kept_bytes = pa.array([f"{prefix}{v:03d}" if v is not None else "0" for v in numbers] + tail, pa.large_string())
    masked = null_where(kept_bytes, pa.array([v is None for v in numbers] + [False] * len(tail), pa.bool_()))
    assert masked.to_pylist() == values.to_pylist()
    for got, ranks in ((order_codes(values), rank_codes(values)), (order_codes(masked), rank_codes(masked))):
        _same_order(got, ranks)


def _same_order(got: np.ndarray, ranks: np.ndarray) -> None:
    from contract.ordering import MISSING

    assert ((got == MISSING) == (ranks == MISSING)).all()
    assert np.argsort(got, kind="stable").tolist() == np.argsort(ranks, kind="stable").tolist()
    assert (np.equal.outer(got, got) == np.equal.outer(ranks, ranks)).all()


def test_parquet_text_columns_are_read_in_one_chunk(tmp_path):
    """A Parquet export of several row groups is read with each text column in one chunk (a take of rows
    from a chunked column concatenates the chunks first), the same values and dtypes as pandas reads."""
    import pyarrow.parquet as pq

    from contract.reading import read_export

    table = pa.table({"contact_id": [f"c{i}" for i in range(10)], "wait_s": [float(i) for i in range(10)],
                      "note": ["a", None] * 5})
    path = tmp_path / "contacts.parquet"
    pq.write_table(table, path, row_group_size=3)
    got = read_export(str(path), None).table
    pd.testing.assert_frame_equal(got, pd.read_parquet(path))
    for name in ("contact_id", "note"):
        assert pa.chunked_array(pa.array(got[name].array)).num_chunks == 1


@SETTINGS
@given(values=st.lists(st.one_of(st.none(), st.booleans(), st.just(float("nan")), st.just(pd.NA),
                                 st.just(np.True_)), max_size=20))
def test_yes_no_objects_as_text_match_astype(values):
    """Booleans with gaps (an object column) written as text by Arrow, as pandas' astype("str") writes them."""
    from contract.mapping import _bools_as_text

    series = pd.Series(values, dtype=object)
    if pd.api.types.infer_dtype(series, skipna=True) == "boolean":
        pd.testing.assert_series_equal(_bools_as_text(series), series.astype("str"))
