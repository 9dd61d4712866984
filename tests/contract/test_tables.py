"""contract/tables.py: rows read by id equal the whole table's selection, across row groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from contract.tables import read_rows_by_id

N = 300
RNG = np.random.default_rng(0)
TABLE = pd.DataFrame({"contact_id": pd.array([f"CT{i:05d}" for i in RNG.permutation(N)], dtype="str"),
                      "team": pd.Categorical(RNG.choice(["b", "a", None], N), categories=["b", "a", "spare"]),
                      "x": RNG.random(N), "n": pd.array(RNG.integers(0, 3, N), dtype="Int64")})


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    out = tmp_path_factory.mktemp("tables") / "t.parquet"
    pq.write_table(pa.Table.from_pandas(TABLE, preserve_index=False), out, row_group_size=40)  # 8 row groups
    return out


@settings(max_examples=40, deadline=None)
@given(picks=st.lists(st.integers(0, N - 1), min_size=1, max_size=60, unique=True))
def test_rows_by_id_are_the_whole_tables_selection(path, picks):
    ids = TABLE["contact_id"].iloc[picks]
    want = pd.read_parquet(path).set_index("contact_id").loc[ids].reset_index()
    pd.testing.assert_frame_equal(read_rows_by_id(path, "contact_id", ids), want)


def test_an_absent_id_is_a_key_error(path):
    with pytest.raises(KeyError):
        read_rows_by_id(path, "contact_id", pd.Series(["CT00001", "nope"]))
