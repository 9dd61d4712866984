"""Labels on a LocalCluster (2 workers) equal the local engine's, row for row: on a small synthetic centre of
the default shape, on every real-export fixture under tests/ (the example shapes of tests/contract/fixtures
and the exports of tests/real_exports.py, through ingest), under every issue-matching rule and both label
sources; and cutting the data at a time T leaves the Dask labels of contacts whose window closed before T
unchanged (the labeller's truncation invariance)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from contract.config import FilesConfig
from contract.ingest import ingest
from engine.label import label_on_dask, with_labels
from engine.partition import by_customer, read_contacts
from labelling.config import LabelConfig
from labelling.labeller import LABEL_COLUMNS, label_contacts, label_table
from pipeline.io import read_columns
from pipeline.label import CATEGORICAL, COLUMNS
from synthetic.config import SyntheticConfig
from tests.centre import centre
from tests.contract.test_shapes import SHAPES, example
from tests.engine.conftest import as_dataset
from tests.real_exports import EXPORTS


@pytest.fixture(scope="module")
def synthetic_contacts() -> pd.DataFrame:
    """The default centre's shape (messiness included) at 20k contacts."""
    return centre(SyntheticConfig.default(n_contacts=20_000, n_customers=4_000, n_agents=60, n_teams=6, days=150))[1]


def local_and_dask(path: Path, cfg: LabelConfig, client, partitions: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    local = label_contacts(read_columns(path, COLUMNS, CATEGORICAL), cfg)
    dask = label_on_dask(read_contacts(path, COLUMNS, CATEGORICAL), cfg, partitions).compute()
    assert dask["contact_id"].is_unique and len(dask) == len(local)
    return (local.set_index("contact_id").sort_index(),
            dask[["contact_id", *LABEL_COLUMNS]].set_index("contact_id").sort_index())


def assert_same_labels(path: Path, cfg: LabelConfig, client) -> pd.DataFrame:
    local, dask = local_and_dask(path, cfg, client)
    pd.testing.assert_frame_equal(dask, local)
    return local


@pytest.mark.parametrize("match", ["reason_family", "same_reason", "any"])
def test_synthetic_centre_labels_equal_the_local_engine(synthetic_contacts, tmp_path, client, match):
    path = as_dataset(synthetic_contacts, tmp_path / "contacts")
    local = assert_same_labels(path, LabelConfig.default(match=match), client)
    # not a vacuous comparison: every status, merges and repeats are there
    assert set(local["status"]) == {"labelled", "censored", "excluded"}
    assert local["merged_into"].notna().any() and local["repeated"].fillna(False).any()


def test_partitions_hold_whole_customers_in_stored_order(synthetic_contacts, tmp_path, client):
    path = as_dataset(synthetic_contacts, tmp_path / "contacts")
    parts = by_customer(read_contacts(path, COLUMNS), 5)
    pieces = [p.compute() for p in parts.to_delayed()]
    owner = {}
    for i, piece in enumerate(pieces):
        for cust in piece["customer_id"].dropna().unique():
            assert owner.setdefault(cust, i) == i, f"customer {cust} in partitions {owner[cust]} and {i}"
        ordered = piece.sort_values(["customer_id", "started_at", "contact_id"], na_position="last")
        assert piece["contact_id"].tolist() == ordered["contact_id"].tolist()
    assert sum(len(p) for p in pieces) == len(synthetic_contacts) and sum(len(p) > 0 for p in pieces) >= 4


def ingested(name: str, tmp_path: Path) -> pd.DataFrame:
    if name in SHAPES:
        files, share = example(name)
        return ingest(files, share).contacts
    data, files = EXPORTS[name]()
    export = tmp_path / "export.csv"
    export.write_bytes(data)
    return ingest(FilesConfig.model_validate(files | {"contacts": str(export)}), 1.0).contacts


@pytest.mark.parametrize("name", [*SHAPES, *EXPORTS])
def test_real_export_fixtures_label_equal_the_local_engine(name, tmp_path, client):
    contacts = ingested(name, tmp_path)
    path = as_dataset(contacts, tmp_path / "contacts")
    sources = ["repeats", "column"] if "resolution_signal" in contacts else ["repeats"]
    for source in sources:
        local = assert_same_labels(path, LabelConfig.default(source=source), client)
        assert (local["status"] == "labelled").any(), name


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9])
def test_truncation_invariance_on_dask(synthetic_contacts, tmp_path, client, cut):
    """Labelled on the data cut at T (end of data T), a contact whose window closed before T has the labels
    it has on the whole data; and the cut data's Dask labels equal the local engine's on it."""
    t = synthetic_contacts["started_at"]
    T = t.min() + (t.max() - t.min()) * cut
    whole = as_dataset(synthetic_contacts, tmp_path / "whole")
    before = as_dataset(synthetic_contacts[t < T], tmp_path / "before")
    cfg = LabelConfig.default(as_of=T.isoformat())
    local_cut, dask_cut = local_and_dask(before, cfg, client)
    pd.testing.assert_frame_equal(dask_cut, local_cut)
    _, dask_whole = local_and_dask(whole, LabelConfig.default(), client)
    closed = dask_cut.index[dask_cut["status"] == "labelled"]
    assert len(closed) > 1000
    fields = ["status", "repeated", "tracking_repeated", "repeat_source", "episode_id", "contact_seq",
              "is_first_contact", "merged_into"]
    pd.testing.assert_frame_equal(dask_cut.loc[closed, fields], dask_whole.loc[closed, fields])


def test_labels_read_back_in_any_order_join_as_label_table(synthetic_contacts):
    cfg = LabelConfig.default()
    want = label_table(synthetic_contacts, cfg)
    shuffled = want[["contact_id", *LABEL_COLUMNS]].sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(with_labels(synthetic_contacts, shuffled), want)
