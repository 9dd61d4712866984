"""Labels on a LocalCluster (2 workers) equal the local engine's, row for row: on a small synthetic centre of
the default shape, on every real-export fixture under tests/ (the example shapes of tests/contract/fixtures
and the exports of tests/real_exports.py, through ingest), under every issue-matching rule and both label
sources; and cutting the data at a time T leaves the Dask labels of contacts whose window closed before T
unchanged (the labeller's truncation invariance). The label stage's figures from the partitions' summaries
combined (and, on the synthetic centre, the agreement with the generator's truth from each partition's truth
rows) equal the local engine's from the whole table, float for float."""

from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from contract.config import FilesConfig
from contract.ingest import ingest
from base.config import Paths
from engine.label import label_on_dask, summarized_on_cluster
from engine.partition import by_customer, by_customer_range, customer_cuts, cuts_of, id_sample, read_contacts
from labelling.config import LabelConfig
from labelling.labeller import LABEL_COLUMNS, label_contacts, label_table
from labelling.measure import data_end, label_figures, summarize
from pipeline.io import read_columns, write_parquet
from pipeline.label import CATEGORICAL, COLUMNS
from synthetic.config import SyntheticConfig
from tests.centre import centre
from tests.contract.test_shapes import SHAPES, example
from synthetic.truth import read_truth, truth_counts
from tests.engine.conftest import as_dataset
from tests.labelling.test_measure import _same_figures
from tests.real_exports import EXPORTS


@pytest.fixture(scope="module")
def synthetic_centre() -> tuple:
    """The default centre's shape (messiness included) at 20k contacts: the generator's data and the contacts."""
    return centre(SyntheticConfig.default(n_contacts=20_000, n_customers=4_000, n_agents=60, n_teams=6, days=150))


@pytest.fixture(scope="module")
def synthetic_contacts(synthetic_centre) -> pd.DataFrame:
    return synthetic_centre[1]


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
    # by ranges of the customer id, anonymous contacts last: the partitions one after another are the stored order
    whole = pd.concat(pieces, ignore_index=True)
    assert whole["contact_id"].tolist() == read_columns(path, ["contact_id"])["contact_id"].tolist()
    assert whole["customer_id"].isna().any() and max(map(len, pieces)) < 1.5 * len(whole) / len(pieces)


def test_customer_ranges_follow_arrow_s_order_of_utf8_ids(client):
    """Ids Python and Arrow could order differently if either compared anything but the UTF-8 bytes (case,
    accents, other scripts, emoji, digits of different lengths): every partition's customers sort before the
    next one's as Arrow sorts them, each customer in one partition, the anonymous ones in the last."""
    ids = ["a", "B", "b", "Z", "é", "e", "ü", "日本", "中", "\U0001F600", "ﬀ", "10", "9", "099", "a b", "a\tb", ""]
    rows = pd.DataFrame({"customer_id": pd.array([ids[i % len(ids)] if i % 11 else None for i in range(600)],
                                                 dtype="str"), "contact_id": [f"c{i}" for i in range(600)]})
    frame = dd.from_pandas(rows, npartitions=4, sort=False)
    cuts = customer_cuts(frame, 5)
    pieces = [p.compute() for p in by_customer_range(frame, cuts).to_delayed()]
    assert len(pieces) == len(cuts) + 1 >= 4 and sum(map(len, pieces)) == len(rows)
    arrow = pc.sort_indices(pa.array(sorted(set(ids)))).to_pylist()
    assert arrow == list(range(len(set(ids))))  # (Python's order of str is Arrow's)
    order = {c: i for i, c in enumerate(sorted(set(ids)))}
    seen = [[order[c] for c in p["customer_id"].dropna().unique()] for p in pieces]
    for before, after in zip(seen[:-1], seen[1:]):
        assert not before or not after or max(before) < min(after)
    assert all(p["customer_id"].notna().all() for p in pieces[:-1]) and pieces[-1]["customer_id"].isna().any()


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


def figures_here_and_on_dask(path: Path, cfg: LabelConfig, client, dask_cfg, tmp_path: Path,
                             truth_dir: Path | None = None) -> tuple[tuple, tuple]:
    """(label_figures, truth counts) of the whole table labelled here, and of the summaries made on the cluster
    (the stage's `summarized_on_cluster`, on the test's cluster: at most its 6 partitions, ranges of customer ids,
    fewer where a small export has too few distinct ids at the cuts)."""
    truth_dir = truth_dir or tmp_path / "no_truth"
    labelled = label_table(read_columns(path, COLUMNS, CATEGORICAL), cfg)
    rules = cfg.model_dump()
    here = summarize(labelled, cfg.window_days, data_end(labelled["started_at"], cfg.as_of))
    paths = Paths.default(contacts=str(path), labels=str(tmp_path / "labels"), truth_dir=str(truth_dir))
    on_cluster = dask_cfg.model_copy(update={"scheduler": client.scheduler.address})
    summary, truth = summarized_on_cluster(cfg, on_cluster, paths, COLUMNS, CATEGORICAL, write_parquet)
    assert 1 < len(list((tmp_path / "labels").glob("part-*.parquet"))) <= 6
    return ((label_figures(here, rules), truth_counts(labelled, read_truth(truth_dir), cfg.window_days)),
            (label_figures(summary, rules), truth))


@pytest.mark.parametrize("settings", [{}, {"match": "same_reason", "window_days": 3}, {"as_of": "2025-04-01"}])
def test_figures_from_partition_summaries_equal_the_local_engine(synthetic_centre, tmp_path, client, dask_cfg,
                                                                settings):
    data, contacts = synthetic_centre
    path = as_dataset(contacts, tmp_path / "contacts")
    (tmp_path / "truth").mkdir()
    data.truth.iloc[:9000].to_parquet(tmp_path / "truth" / "truth-00000.parquet", index=False)
    data.truth.iloc[9000:].to_parquet(tmp_path / "truth" / "truth-00001.parquet", index=False)
    cfg = LabelConfig.default(**settings)
    (here, truth_here), (dask, truth_dask) = figures_here_and_on_dask(path, cfg, client, dask_cfg, tmp_path,
                                                                      tmp_path / "truth")
    _same_figures(dask, here)
    assert truth_dask == truth_here and truth_here["contacts_compared"] > 5_000
    assert here[0]["counts"]["rows_in"] == len(contacts) and here[0]["sanity"]["merged_share"] > 0


@pytest.mark.parametrize("name", [*SHAPES, *EXPORTS])
def test_real_export_fixtures_figures_equal_the_local_engine(name, tmp_path, client, dask_cfg):
    contacts = ingested(name, tmp_path)
    path = as_dataset(contacts, tmp_path / "contacts")
    sources = ["repeats", "column"] if "resolution_signal" in contacts else ["repeats"]
    for source in sources:
        (here, no_truth), (dask, none) = figures_here_and_on_dask(path, LabelConfig.default(source=source), client,
                                                                  dask_cfg, tmp_path / source)
        _same_figures(dask, here)
        assert no_truth is None and none is None and here[0]["fcr"]["first_contacts"] > 0


def test_cuts_of_samples_weigh_each_id_by_the_rows_it_stands_for():
    """Ingest and the customer partitions cut ranges from the same `cuts_of`: row-weighted, in the stored order,
    the anonymous rows counted after every id; none for one partition or no ids."""
    assert cuts_of([(["b", "a"], 1.0, 0), (["d", "c"], 1.0, 0)], 2) == ["c"]
    assert cuts_of([(["a", "b"], 1.0, 0), (["c", "d"], 3.0, 0)], 2) == ["d"]  # c, d stand for 3 rows each
    assert cuts_of([(["a", "b", "c", "d"], 1.0, 4)], 2) == []  # half the rows anonymous: the ids in one range
    assert cuts_of([(["x"], 1.0, 0)], 4) == [] and cuts_of([([], 1.0, 0)], 3) == [] and cuts_of([], 3) == []
    assert cuts_of([(["a", "b"], 1.0, 0)], 1) == []
    assert id_sample(pd.Series(["b", None, "a", "c"], dtype="str"), 1) == (["a", "b", "c"], 1.0, 1)
