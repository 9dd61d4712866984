"""Strict JSON outputs: no NaN / Infinity ever reaches a metrics file; nulls say why."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pipeline.io import write_json


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


def test_parquet_pieces_write_what_write_parquet_writes_and_nothing_on_error(tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq
    import pytest

    from pipeline.io import ParquetPieces, write_parquet

    df = pd.DataFrame({"contact_id": pd.array(["a", "b", None, "d", "e"], dtype="str"),
                       "started_at": pd.to_datetime([1, 2, 3, 4, 5], unit="s", utc=True),
                       "channel": pd.array(["phone"] * 5, dtype="str"), "wait_s": [1.0, None, 3.0, 4.0, 5.0],
                       "transfers": pd.array([0, 1, None, 2, 0], dtype="Int64")})
    write_parquet(df, tmp_path / "whole.parquet")
    with ParquetPieces(tmp_path / "pieces.parquet") as sink:
        for start in (0, 2, 4):
            sink(df.iloc[start:start + 2])
    assert pq.ParquetFile(tmp_path / "pieces.parquet").metadata.num_row_groups == 3
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "pieces.parquet"), pd.read_parquet(tmp_path / "whole.parquet"))
    assert pq.read_schema(tmp_path / "pieces.parquet").equals(pq.read_schema(tmp_path / "whole.parquet"), check_metadata=True)
    with pytest.raises(RuntimeError), ParquetPieces(tmp_path / "failed.parquet") as sink:
        sink(df)
        raise RuntimeError("the stage stopped after the first piece")
    assert list(tmp_path.glob("failed.parquet*")) == []  # fail closed: no file, no partial file
    # The pieces are written in a background thread: a write that fails (a piece whose types differ
    # from the first's) stops the block, at the next piece or at its end, and leaves no file either.
    for more in (1, 0):
        with pytest.raises(Exception, match="schema|type"), ParquetPieces(tmp_path / "bad.parquet") as sink:
            sink(df)
            sink(df.astype({"wait_s": "str"}))
            for _ in range(more * 50):
                sink(df)
        assert list(tmp_path.glob("bad.parquet*")) == []
