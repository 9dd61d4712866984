"""The report read from the feature table's Parquet file in row groups says what it says from the table held."""

from __future__ import annotations

import operator
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from base.frames import rows_of
from report.build import build_report
from report.config import ReportConfig
from report.feature_rows import FeatureRows, max_of
from report.measures import outcome_horizon
from report.words import data_days
from tests.report.exports import report_inputs, scenarios

CFG = ReportConfig.default(min_segment_contacts=20, scorecard_min_contacts=10)


@pytest.fixture(scope="module")
def held_and_file(tmp_path_factory):
    inp = report_inputs(scenarios()["ordinary"])
    path = tmp_path_factory.mktemp("features") / "features.parquet"
    inp.table.to_parquet(path, row_group_size=997)  # many row groups, the last one short
    return inp, FeatureRows(path)


def test_pieces_of_the_file_are_the_pieces_of_the_table(held_and_file):
    inp, rows = held_and_file
    t = inp.table
    assert rows.fold(["status", "started_at"], outcome_horizon, max_of) == outcome_horizon(t)
    assert data_days(rows) == data_days(t)
    labelled = rows.column("repeated", lambda part: (part["status"] == "labelled").to_numpy(), ["status"])
    assert labelled.tolist() == t.loc[t["status"] == "labelled", "repeated"].tolist()
    team = rows.column("team", lambda part: (part["status"] == "labelled").to_numpy(), ["status"])
    assert isinstance(team.dtype, pd.CategoricalDtype)  # the row groups' categories joined, as a whole read does
    ids = t["contact_id"].sample(50, random_state=1)
    assert rows_of(t, ids)[["channel", "team"]].astype(str).equals(rows.rows_with(ids, ["channel", "team"]).astype(str))
    def labelled(part: pd.DataFrame) -> tuple[np.ndarray, dict]:
        mask = (part["status"] == "labelled").to_numpy()
        return mask, {"n": np.arange(mask.sum())}  # numbered within its row group

    picked = rows.gather(["status"], ["contact_id", "team"], labelled)
    assert picked["contact_id"].tolist() == t.loc[t["status"] == "labelled", "contact_id"].tolist()
    assert len(picked) < len(t) and isinstance(picked["team"].dtype, pd.CategoricalDtype)
    assert (picked["n"].diff().dropna() != 1).sum() == rows.fold(["status"], lambda part: 1, operator.add) - 1


def test_the_report_from_the_file_is_the_report_from_the_table(held_and_file):
    inp, rows = held_and_file
    held, read = build_report(inp, CFG), build_report(replace(inp, table=rows), CFG)
    assert held.tables.keys() == read.tables.keys()
    for name, t in held.tables.items():
        pd.testing.assert_frame_equal(t, read.tables[name], check_dtype=False, obj=name)
    assert held.summary == read.summary
    assert len(held.tables["scorecard_agents"]) > 0 and len(held.tables["coaching_list"]) > 0
    assert held.html == read.html


def test_drivers_in_words_from_the_file_are_those_from_the_table(tmp_path):
    from report.words import drivers_in_words
    from tests.report.test_plain_words import _driver_frames

    drivers, spec, table, shap = _driver_frames(days=120.0)
    table.loc[::7, "status"] = "censored"  # only labelled rows count
    path = tmp_path / "features.parquet"
    table.to_parquet(path, row_group_size=333)
    held = drivers_in_words(drivers, spec, table, shap, 8, 0.05)
    assert len(held) >= 2
    pd.testing.assert_frame_equal(held, drivers_in_words(drivers, spec, FeatureRows(path), shap, 8, 0.05))
