"""The benchmarks' DuckDB references (bench/_reference.py) do the stage's work: on a small synthetic
centre, the ingest in SQL keeps and rejects the rows the ingest stage does, in its order, and the
features in SQL are the featurize stage's, value for value. (Not timed.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench._reference import duckdb_features, duckdb_ingest
from pipeline import featurize, generate, ingest, label


@pytest.mark.parametrize("part_contacts", [4000, 1500])  # the centre in one part, and in three (contacts-00000, ...)
def test_sql_references_match_the_stages(params, paths, tmp_path, part_contacts):
    sized = params.synthetic.model_copy(update={"n_contacts": 4000, "n_customers": 800, "n_agents": 40, "n_teams": 6,
                                                "part_contacts": part_contacts})
    generate.run(sized, "synthetic", paths)
    assert len(list(Path(paths.raw_dir).glob("contacts*.parquet"))) == -(-4000 // part_contacts)
    counts = ingest.run(params.ingest, params.engine, paths)["contacts"]
    label.run(params.label, params.engine, paths)
    featurize.run(params.featurize, params.label, params.engine, paths)

    sql = duckdb_ingest(paths.raw_dir, tmp_path / "sql")
    assert (sql["rows_read"], sql["rows_kept"]) == (counts["rows_read"], counts["rows_kept"])
    assert sql["quarantined_by_reason"] == counts["quarantined_by_reason"]
    ours, theirs = pd.read_parquet(paths.contacts), pd.read_parquet(tmp_path / "sql" / "contacts.parquet")
    assert ours["contact_id"].tolist() == theirs["contact_id"].tolist()
    assert ours["reason_family"].tolist() == theirs["reason_family"].tolist()

    duckdb_features(paths.contacts, paths.labels, paths.customers, paths.agents, params.label.window_days,
                    params.featurize.prior_strength, tmp_path / "features.parquet")
    ours = pd.read_parquet(paths.features).set_index("contact_id")
    theirs = pd.read_parquet(tmp_path / "features.parquet").set_index("contact_id").loc[ours.index]
    assert set(ours.columns) == set(theirs.columns)
    for col in ours.columns:
        a, b = ours[col], theirs[col]
        if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
            same = np.isclose(a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan),
                              rtol=1e-5, atol=1e-5, equal_nan=True)
        else:
            same = ((a.astype("str") == b.astype("str")) | (a.isna() & b.isna())).to_numpy()
        assert same.all(), f"{col}: {a[~same].head(3).tolist()} vs {b[~same].head(3).tolist()}"
