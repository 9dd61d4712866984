"""Strict JSON outputs: no NaN / Infinity ever reaches a metrics file; nulls say why."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from contract.precision import write_json


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
