"""Features on a LocalCluster (2 workers), written partition after partition and read back with their checksums
verified, equal the local engine's table, row for row (every column, same dtypes and categories; the same file,
byte for byte, at these sizes) with the same spec, checksums and online snapshot: on a small synthetic centre of
the default shape and on every real-export fixture under tests/ (the example shapes and the exports of
tests/real_exports.py, through ingest); cutting the data at a time T leaves the Dask features of every
contact before T unchanged; and the service's state from the Dask snapshot at T gives a contact arriving at T
its Dask batch features (batch/online parity). The customer partitions are ranges of the customer id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from base.errors import StageStop
from contract.config import FilesConfig
from contract.ingest import ingest
from engine.features import LABELS, categorical_columns, featurize_on_dask
from engine.partition import read_contacts
from features.builder import LABELS_FOR_TRAINING, input_columns, training_table
from features.config import FeaturizeConfig
from features.online import LABEL_INPUTS, online_snapshot, snapshot_time
from features.spec import FEATURES, extra_columns
from labelling.config import LabelConfig
from labelling.labeller import LABEL_COLUMNS, label_contacts
from pipeline.featurize import CATEGORICAL
from pipeline.io import (column_checksums, read_columns, read_json, read_verified, write_checksums, write_parquet,
                         write_parquet_parts, write_parquet_pieces)
from synthetic.config import SyntheticConfig
from tests.centre import centre
from tests.contract.test_shapes import SHAPES, example
from tests.engine.conftest import as_dataset
from tests.features.test_builder import assert_online_equals_batch
from tests.real_exports import EXPORTS


def both_engines(contacts: pd.DataFrame, customers: pd.DataFrame, agents: pd.DataFrame, folder: Path, client,
                 label: LabelConfig = LabelConfig.default(), extras: dict | None = None):
    """(local, dask) feature tables (with the label columns), specs and snapshots, from the same datasets, as the
    featurize stage makes and train reads them: the local table written by `write_parquet` and read back, the
    Dask one written by `write_parquet_pieces` and read back by `read_verified` (its checksums written from the
    pieces' sums, equal to the local table's)."""
    contacts_path = as_dataset(contacts, folder / "contacts")
    columns = list(dict.fromkeys([*input_columns(extras), *LABEL_INPUTS]))
    read = read_columns(contacts_path, columns, CATEGORICAL)
    labels = label_contacts(read, label)[["contact_id", *LABEL_COLUMNS]]
    write_parquet_parts(labels.sample(frac=1.0, random_state=1), folder / "labels", parts=2)  # in another order
    labels = pd.read_parquet(folder / "labels", columns=["contact_id", *LABELS_FOR_TRAINING])  # as the stage does
    cfg = FeaturizeConfig.default()
    table, spec = training_table(read, labels, customers, agents, label.window_days, cfg, extras)
    snapshot = online_snapshot(read, labels, label, snapshot_time(label, read["started_at"].max()))
    made = featurize_on_dask(
        client, read_contacts(contacts_path, columns, CATEGORICAL, numbered=True),
        read_contacts(folder / "labels", LABELS, categorical_columns(folder / "labels", LABELS)), customers, agents,
        label, cfg, extras, CATEGORICAL, 6, folder / "features.pieces")
    assert sorted((folder / "features.pieces").glob("part-*.parquet")) == made.paths  # the workers wrote each piece
    path, checksums = folder / "features.parquet", folder / "features.checksums.json"
    write_checksums(write_parquet_pieces(made.pieces(), path), path, checksums)
    assert not made.paths and not list((folder / "features.pieces").iterdir())  # every piece taken, and removed
    assert read_json(checksums)["columns"] == column_checksums(table) and read_json(checksums)["rows"] == len(table)
    write_parquet(table, folder / "local.parquet")  # what train reads of the local engine's table
    assert path.read_bytes() == (folder / "local.parquet").read_bytes()
    local = pd.read_parquet(folder / "local.parquet")
    return (local, spec, snapshot), (read_verified(path, checksums, "rebuild"), made.spec, made.snapshot)
def assert_same(local, dask) -> pd.DataFrame:
    (table, spec, snapshot), (dask_table, dask_spec, dask_snapshot) = local, dask
    pd.testing.assert_frame_equal(dask_table, table, check_exact=True, check_categorical=True)
    assert dask_spec == spec
    assert dask_snapshot.keys() == snapshot.keys()
    for name, frame in snapshot.items():
        pd.testing.assert_frame_equal(dask_snapshot[name], frame, check_exact=True, obj=name)
    return table


@pytest.fixture(scope="module")
def synthetic():
    data, contacts = centre(SyntheticConfig.default(n_contacts=20_000, n_customers=4_000, n_agents=60, n_teams=6,
                                                    days=150))
    return contacts, data.customers, data.agents


def test_synthetic_centre_features_equal_the_local_engine(synthetic, tmp_path, client):
    table = assert_same(*both_engines(*synthetic, tmp_path, client))
    # not a vacuous comparison: matured history, agents' days and repeats are there
    assert table["agent_family_repeat_rate"].nunique() > 100 and table["agent_contacts_today"].max() > 3
    assert table["customer_past_repeats"].max() > 0 and table["previous_channel"].nunique() > 2


def ingested(name: str, tmp_path: Path):
    if name in SHAPES:
        return ingest(*example(name))
    data, files = EXPORTS[name]()
    export = tmp_path / "export.csv"
    export.write_bytes(data)
    return ingest(FilesConfig.model_validate(files | {"contacts": str(export)}), 1.0)


@pytest.mark.parametrize("name", [*SHAPES, *EXPORTS])
def test_real_export_fixtures_features_equal_the_local_engine(name, tmp_path, client):
    out = ingested(name, tmp_path)
    sources = ["repeats", "column"] if "resolution_signal" in out.contacts else ["repeats"]
    for source in sources:
        table = assert_same(*both_engines(out.contacts, out.customers, out.agents, tmp_path / source, client,
                                          LabelConfig.default(source=source), extra_columns(out.contract)))
        assert len(table) == len(out.contacts), name


@pytest.mark.parametrize("cut", [0.35, 0.8])
def test_truncation_invariance_on_dask(synthetic, tmp_path, client, cut):
    """The Dask features of the contacts before T, made from the data cut at T, are those made from all of it."""
    contacts, customers, agents = synthetic
    t = contacts["started_at"]
    T = t.min() + (t.max() - t.min()) * cut
    (_, _, _), (whole, _, _) = both_engines(contacts, customers, agents, tmp_path / "whole", client)
    label = LabelConfig.default(as_of=T.isoformat())
    local, dask = both_engines(contacts[t < T], customers, agents, tmp_path / "cut", client, label)
    cut_table = assert_same(local, dask).set_index("contact_id")
    before = whole.set_index("contact_id").loc[cut_table.index]
    assert len(before) > 5000 and before["customer_past_labelled"].max() > 0
    for f in FEATURES:
        kind = "object" if f.kind == "categorical" else "float64"
        pd.testing.assert_series_equal(dask[0].set_index("contact_id")[f.name].astype(kind),
                                       before[f.name].astype(kind), obj=f"feature {f.name} at cut {T}")


def test_online_features_from_the_dask_snapshot_equal_the_dask_batch_features(synthetic, tmp_path, client):
    """Batch/online parity on the Dask engine: the service's state from the snapshot featurize on Dask takes at T
    (the data cut at T) scores a contact arriving at T with its features in the Dask table of all the data."""
    from features.online_state import OnlineState

    contacts, customers, agents = synthetic
    (_, _, _), (whole, spec, _) = both_engines(contacts, customers, agents, tmp_path / "whole", client)
    batch, spec = whole.set_index("contact_id"), spec.to_dict()
    handled = contacts[contacts["customer_id"].notna() & contacts["agent_id"].notna()]
    handled = handled.sort_values("started_at", kind="stable")
    picks = handled.iloc[(np.array([0.3, 0.6, 0.9]) * len(handled)).astype(int)]  # more history each time
    for i, (_, k) in enumerate(picks.iterrows()):
        T = k["started_at"]
        before = contacts[contacts["started_at"] < T]
        _, (_, _, snapshot) = both_engines(before, customers, agents, tmp_path / f"at{i}", client,
                                           LabelConfig.default(as_of=T.isoformat()))
        assert len(snapshot["history"]) > 1000 * (i + 1)  # not a vacuous comparison: the state knows the past
        state = OnlineState(snapshot, customers, agents, spec, FeaturizeConfig.default())
        assert_online_equals_batch(state, k, batch, spec)


def test_contacts_not_in_stored_order_stop_the_stage(synthetic, tmp_path, client):
    """The partitions one after another are the stored order only when the contacts dataset is in it (ingest
    writes it so): a dataset in another order is refused, naming the stage that writes it again."""
    contacts, customers, agents = synthetic
    path = as_dataset(contacts.iloc[::-1], tmp_path / "contacts")
    columns = list(dict.fromkeys([*input_columns(None), *LABEL_INPUTS]))
    labels = label_contacts(read_columns(path, columns, CATEGORICAL), LabelConfig.default())
    write_parquet_parts(labels[["contact_id", *LABEL_COLUMNS]], tmp_path / "labels")
    made = featurize_on_dask(client, read_contacts(path, columns, CATEGORICAL, numbered=True),
                             read_contacts(tmp_path / "labels", LABELS, ["status"]), customers, agents,
                             LabelConfig.default(), FeaturizeConfig.default(), None, CATEGORICAL, 6,
                             tmp_path / "pieces")
    with pytest.raises(StageStop, match="dvc repro ingest"):
        write_parquet_pieces(made.pieces(), tmp_path / "features.parquet")
    assert not list(tmp_path.glob("features*"))
