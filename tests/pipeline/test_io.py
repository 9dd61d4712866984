"""Strict JSON outputs: no NaN / Infinity ever reaches a metrics file; nulls say why."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.precision import write_json
from pipeline.io import file_md5


def _strict(text: str) -> object:
    def refuse(name: str) -> None:
        raise ValueError(f"non-JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_with_a_reason(tmp_path):
    write_json({"model": {"ece": float("nan"), "auc": np.float32(0.75), "lift": [1.0, np.inf]}, "n": np.int64(3)},
               tmp_path / "m.json")
    out = _strict((tmp_path / "m.json").read_text())
    assert out["model"] == {"ece": None, "auc": 0.75, "lift": [1.0, None]} and out["n"] == 3
    assert set(out["null_reasons"]) == {"model.ece", "model.lift[1]"}
    assert "NaN" in out["null_reasons"]["model.ece"]


@given(st.recursive(st.floats() | st.integers() | st.text(max_size=3) | st.none(),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3)))
def test_anything_written_parses_strictly(tmp_path_factory, obj):
    path = tmp_path_factory.mktemp("j") / "x.json"
    write_json({"v": obj}, path)
    out = _strict(path.read_text())
    nulls = out.get("null_reasons", {})
    finite = [x for x in json.dumps(obj, default=str).split() if x.strip(",[]{}") in ("NaN", "Infinity", "-Infinity")]
    assert bool(finite) == bool(nulls)
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(out))


def _leaves(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _leaves(v)
    elif isinstance(x, list):
        for v in x:
            yield from _leaves(v)
    else:
        yield x


def test_parquet_parts_write_what_write_parquet_writes_and_nothing_on_error(tmp_path):
    import time

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pytest

    from contract.tables import parquet_columns, read_columns
    from pipeline.io import ParquetParts, write_parquet

    df = pd.DataFrame({"contact_id": pd.array(["a", "b", None, "d", "e"], dtype="str"),
                       "started_at": pd.to_datetime([1, 2, 3, 4, 5], unit="s", utc=True),
                       "channel": pd.array(["phone"] * 5, dtype="str"), "wait_s": [1.0, None, 3.0, 4.0, 5.0],
                       "transfers": pd.array([0, 1, None, 2, 0], dtype="Int64")})
    write_parquet(df, tmp_path / "whole.parquet")
    # More pieces than ten (part names must sort in piece order), written by several threads.
    many = pd.concat([df] * 12, ignore_index=True)
    many["contact_id"] = pd.array([f"c{i}" for i in range(len(many))], dtype="str")
    write_parquet(many, tmp_path / "many.parquet")
    with ParquetParts(tmp_path / "contacts", workers=3) as sink:
        for start in range(0, len(many), 5):
            sink(many.iloc[start:start + 5])
    assert len(list((tmp_path / "contacts").glob("part-*.parquet"))) == 12
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "contacts"), pd.read_parquet(tmp_path / "many.parquet"))
    assert pq.read_table(tmp_path / "contacts").column("contact_id").to_pylist() == many["contact_id"].tolist()
    assert parquet_columns(tmp_path / "contacts") == parquet_columns(tmp_path / "whole.parquet") == list(df.columns)
    pd.testing.assert_frame_equal(read_columns(tmp_path / "contacts", ["wait_s", "channel", "nope"], ["channel"]),
                                  read_columns(tmp_path / "many.parquet", ["wait_s", "channel", "nope"], ["channel"]))
    assert pq.read_schema(tmp_path / "contacts/part-00000.parquet").equals(pq.read_schema(tmp_path / "whole.parquet"),
                                                                           check_metadata=True)
    # Written again: the new dataset replaces the old one whole (no part left over from a longer run).
    with ParquetParts(tmp_path / "contacts") as sink:
        sink(df)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "contacts"), pd.read_parquet(tmp_path / "whole.parquet"))
    with pytest.raises(RuntimeError), ParquetParts(tmp_path / "failed") as sink:
        sink(df)
        raise RuntimeError("the stage stopped after the first piece")
    assert list(tmp_path.glob("failed*")) == []  # fail closed: no dataset, no partial folder
    # A piece whose types differ from the first's stops the block and leaves nothing either.
    with pytest.raises(ValueError, match="a piece with columns"), ParquetParts(tmp_path / "bad") as sink:
        sink(df)
        sink(df.astype({"wait_s": "str"}))
    assert list(tmp_path.glob("bad*")) == []
    # A write that fails in its thread stops the block, at the next piece or at its end.
    good, broken = (df.assign(x=pd.Series(v, dtype=object)) for v in ([1, 2, 3, 4, 5], [1, "a", 3, 4, 5]))
    for more in (50, 0):
        with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)), ParquetParts(tmp_path / "broken") as sink:
            sink(good)
            sink(broken)  # (Arrow cannot write ints and text in one column)
            for _ in range(more):
                sink(good)
                time.sleep(0.001)
        assert list(tmp_path.glob("broken*")) == []


def test_an_arrow_table_is_written_as_its_pandas_frame_would_be(tmp_path):
    """write_parquet of an Arrow table: the same bytes as of `table.to_pandas()` (the generator writes its
    export so, without the round trip's copies), whatever the types, missing values and NaN."""
    import pandas as pd
    import pyarrow as pa

    from pipeline.io import write_parquet

    rng = np.random.default_rng(0)
    n = 3000
    nan_and_null = pa.array(np.where(rng.random(n) < 0.1, np.nan, rng.random(n)), mask=rng.random(n) < 0.1)
    table = pa.table({
        "contact_id": pa.array([f"CT{i:09d}" for i in range(n)]),
        "text_with_nulls": pa.array(np.where(rng.random(n) < 0.2, None, "x")),
        "started_at": pa.array([f"2025-01-{1 + i % 28:02d}T10:00:00Z" for i in range(n)], pa.large_string()),
        "flag": pa.array(rng.random(n) < 0.5),
        "flag_with_nulls": pa.array(rng.random(n) < 0.5, mask=rng.random(n) < 0.3),
        "count": pa.array(rng.integers(0, 5, n)),
        "count_with_nulls": pa.array(rng.integers(0, 5, n), mask=rng.random(n) < 0.05),
        "wait_s": nan_and_null,
        "when": pa.array(pd.date_range("2025-01-01", periods=n, freq="min", tz="UTC")),
    })
    for t in (table, pa.concat_tables([table.slice(0, 1000), table.slice(1000)]), table.slice(0, 0)):
        write_parquet(t, tmp_path / "arrow.parquet")
        write_parquet(t.to_pandas(), tmp_path / "pandas.parquet")
        assert (tmp_path / "arrow.parquet").read_bytes() == (tmp_path / "pandas.parquet").read_bytes()


def test_a_column_missing_in_every_sampled_row_keeps_its_type():
    """The round-trip types come from a few sampled rows: a column missing in all of them but set later
    (a survey answer of a small centre) is still typed as the whole column's round trip types it."""
    import pyarrow as pa

    from pipeline.io import as_from_pandas

    table = pa.table({"answer": pa.array([None, None, True, False]), "wait": pa.array([1.0, None, 2.0, 3.0])})
    got, _ = as_from_pandas(table)
    want = pa.Table.from_pandas(table.to_pandas(), preserve_index=False)
    assert got.schema == want.schema and got.equals(want)


def test_a_table_written_in_pieces_is_write_parquet_s_file_and_its_checksums_add_up(tmp_path):
    """Pieces of uneven sizes (empty ones too) across row groups: the file of their concatenation, byte for
    byte; the column checksums (a categorical column included) summed piece by piece are the whole table's,
    and the checksums record validates with read_verified. A piece of other types, or a failure, leaves no file."""
    import pandas as pd
    import pyarrow.parquet as pq
    import pytest

    from pipeline.io import (ROW_GROUP_ROWS, column_checksums, read_json, read_verified, write_checksums,
                             write_parquet, write_parquet_pieces)

    n = 2 * ROW_GROUP_ROWS + 1000
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"contact_id": pd.array([f"CT{i:08d}" for i in range(n)], dtype="str"),
                       "x": rng.random(n).astype("float32"),
                       "team": pd.Categorical(rng.choice(["b", "a", None], n), categories=["b", "a", "unused"]),
                       "status": pd.array(rng.choice(["labelled", None], n), dtype="str"),
                       "repeated": pd.array(rng.choice([True, False, None], n), dtype="boolean")})
    write_parquet(df, tmp_path / "whole.parquet")
    assert pq.ParquetFile(tmp_path / "whole.parquet").metadata.num_row_groups == 3
    cuts = [0, 0, 10, ROW_GROUP_ROWS - 5, ROW_GROUP_ROWS - 5, ROW_GROUP_ROWS + 7, n]
    sums = write_parquet_pieces((df.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:])), tmp_path / "pieces.parquet")
    assert (tmp_path / "pieces.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert sums.rows == n and sums.checksums() == column_checksums(df)
    assert column_checksums(df.iloc[:10]) != column_checksums(df.iloc[10:20])  # (not a constant)
    record = write_checksums(sums, tmp_path / "pieces.parquet", tmp_path / "checksums.json")
    assert record == write_checksums(df, tmp_path / "whole.parquet", tmp_path / "whole.json") | {
        "file": "pieces.parquet"} and read_json(tmp_path / "checksums.json") == record
    pd.testing.assert_frame_equal(read_verified(tmp_path / "pieces.parquet", tmp_path / "checksums.json", "rebuild"),
                                  pd.read_parquet(tmp_path / "whole.parquet"))
    # No rows at all: the empty table write_parquet writes.
    write_parquet_pieces([df.iloc[:0]], tmp_path / "none.parquet")
    write_parquet(df.iloc[:0], tmp_path / "none_whole.parquet")
    assert (tmp_path / "none.parquet").read_bytes() == (tmp_path / "none_whole.parquet").read_bytes()
    with pytest.raises(ValueError, match="a piece with columns"):
        write_parquet_pieces([df.iloc[:5], df.iloc[5:10].astype({"x": "float64"})], tmp_path / "bad.parquet")

    def failing():
        yield df.iloc[:5]
        raise RuntimeError("the cluster stopped")

    with pytest.raises(RuntimeError):
        write_parquet_pieces(failing(), tmp_path / "failed.parquet")
    assert list(tmp_path.glob("bad*")) == [] and list(tmp_path.glob("failed*")) == []


def _mixed_table(n: int):
    """Every kind of column the feature table holds, with missing values in some rows only."""
    import pandas as pd

    rng = np.random.default_rng(3)
    ints = pd.array(rng.integers(0, 5, n), dtype="Int64")
    ints[n // 2] = pd.NA
    flags = pd.array(rng.integers(0, 2, n).astype(bool), dtype="boolean")
    flags[1] = pd.NA
    text = pd.Series([f"id-{i}" for i in range(n)], dtype=object)
    text.iloc[2] = None
    return pd.DataFrame({
        "contact_id": text,
        "started_at": pd.date_range("2025-01-01", periods=n, freq="17min", tz="UTC"),
        "count": ints.astype(float),  # (a float column: NaN in one row)
        "ints": ints, "flag": flags,
        "reason_code": pd.Categorical(rng.choice(["a", "b", "c", "d"], n), categories=["d", "c", "b", "a", "zz"]),
        "wait": rng.normal(size=n).astype("float32"),
    })


@pytest.fixture(scope="module")
def several_row_groups(tmp_path_factory):
    """A verified Parquet table of 7-row row groups (the checksums record as the featurize stage writes it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.io import _writer_options, write_checksums

    folder = tmp_path_factory.mktemp("verified")
    df = _mixed_table(60)
    path = folder / "t.parquet"
    table = pa.Table.from_pandas(df, preserve_index=False)  # + integers with no pandas type: floats when one is missing
    table = table.append_column("raw_ints", pa.array([None if i == 40 else i for i in range(60)], pa.int64()))
    pq.write_table(table, path, row_group_size=7, **_writer_options(df))
    write_checksums(pq.read_table(path).to_pandas(), path, folder / "t.checksums.json")
    assert pq.ParquetFile(path).num_row_groups == 9
    return path, folder / "t.checksums.json"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 59), max_size=70))
def test_verified_table_reads_exactly_the_asked_rows_in_order(several_row_groups, rows):
    import pandas as pd

    from pipeline.io import VerifiedTable, read_verified

    path, checksums = several_row_groups
    whole = read_verified(path, checksums, "rebuild it")
    table = VerifiedTable(path, checksums, "rebuild it")
    rows = np.asarray(rows, dtype=np.int64)
    got, facts = table.rows(rows, {"ints": lambda c: c.dtype, "reason_code": lambda c: list(c.cat.categories)})
    assert got["raw_ints"].dtype == "float64"  # (as in the whole table: a value missing in a row not asked for)
    pd.testing.assert_frame_equal(got, whole.iloc[rows].set_axis(pd.Index(rows)), check_exact=True)
    assert facts == {"ints": whole["ints"].dtype, "reason_code": list(whole["reason_code"].cat.categories)}
    pd.testing.assert_frame_equal(table.columns(["started_at", "ints"]), whole[["started_at", "ints"]])
    assert table.num_rows == 60 and table.version == file_md5(path)


def test_verified_table_refuses_a_corrupted_file_as_read_verified_does(several_row_groups, tmp_path):
    import shutil

    import pytest

    from pipeline.io import VerifiedTable, read_verified

    path, checksums = several_row_groups
    bad = tmp_path / path.name
    shutil.copy(path, bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 3] ^= 0xFF  # (a byte inside the column data)
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError) as expected:
        read_verified(bad, checksums, "dvc repro --force featurize")
    with pytest.raises(ValueError) as got:
        VerifiedTable(bad, checksums, "dvc repro --force featurize")
    assert str(got.value) == str(expected.value)
    assert str(bad) in str(got.value) and "dvc repro --force featurize" in str(got.value)
    assert "SHA-256" in str(got.value)
    with pytest.raises(ValueError, match="is missing, so"):
        VerifiedTable(path, tmp_path / "none.json", "rebuild it")
