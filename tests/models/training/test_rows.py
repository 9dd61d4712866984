"""The train stage reads only the rows its models use (models/training/rows.py): with every sample cap biting,
the models, metrics and test predictions are those of the whole table, and far fewer rows are read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models.config import LightGBMConfig, TrainConfig
from models.registry.tracking import SCHEMA_SAMPLE_ROWS, TableOutline, data_inputs
from models.training.auxiliary import auxiliary_models, training_spec
from models.training.fit import KEY_COLUMNS, prepare_windows, train_model
from models.training.rows import read_windows, rows_used
from pipeline.io import VerifiedTable, _writer_options, read_verified, write_checksums
from synthetic.centre import true_repeat_probability
from synthetic.config import SyntheticConfig
from tests.centre import centre as centre_of
from tests.centre import feature_table

FAST = LightGBMConfig.default(learning_rate=0.1, num_leaves=7, min_child_samples=50, early_stopping_rounds=20,
                              n_estimators=300)
CAPPED = dict(lightgbm=FAST, max_train_rows=3000, max_valid_rows=1000, auxiliary_rows=1500, baseline_rows=1000)


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """A small centre's feature table as the featurize stage leaves it (Parquet of several row groups, its
    checksums record), its spec and the true probabilities."""
    data, contacts = centre_of(SyntheticConfig.default(n_contacts=20000, n_customers=3000, n_agents=40, n_teams=4,
                                                       days=150, seed=11))
    table, spec, _ = feature_table(data, contacts)
    folder = tmp_path_factory.mktemp("features")
    path, checksums = folder / "features.parquet", folder / "features.checksums.json"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path, row_group_size=3000,
                   **_writer_options(table))
    write_checksums(table, path, checksums)
    truth = data.truth
    p = pd.Series(true_repeat_probability(truth, 7).to_numpy(), index=truth["contact_id"])
    return path, checksums, spec, p


def _true_p(p: pd.Series, ids: pd.Series) -> pd.Series:
    return p.reindex(ids).set_axis(ids.index)


def _outputs(table: pd.DataFrame, windows, spec: dict, cfg: TrainConfig, p: pd.Series) -> dict:
    result = train_model(table, spec, cfg, _true_p(p, windows.take(table, windows.split.test)["contact_id"]), windows)
    return {"result": result, "aux": auxiliary_models(windows, spec, cfg)}


@pytest.mark.parametrize("caps", [CAPPED, dict(lightgbm=FAST)], ids=["sampled", "nothing-sampled"])
def test_reading_only_the_rows_used_fits_and_scores_as_the_whole_table(features, caps):
    path, checksums, spec, p = features
    cfg = TrainConfig.default(**caps)
    whole = read_verified(path, checksums, "rebuild")
    reference = _outputs(whole, prepare_windows(whole, training_spec(spec, cfg), cfg.split), spec, cfg, p)

    verified = VerifiedTable(path, checksums, "rebuild")
    keys = verified.columns(KEY_COLUMNS)
    table, windows = read_windows(keys, training_spec(spec, cfg), cfg, verified.rows, SCHEMA_SAMPLE_ROWS)
    got = _outputs(table, windows, spec, cfg, p)

    labelled = int((keys["status"] == "labelled").sum())
    if caps is CAPPED:  # the test window and the samples (and the table's first rows: MLflow's schema of it)
        assert len(rows_used(windows.split, cfg)) < 0.6 * labelled
        assert got["result"].metrics["model"]["fitted_rows"] == 3000 < len(windows.split.train)
    assert np.array_equal(table.index, rows_used(windows.split, cfg, SCHEMA_SAMPLE_ROWS))
    want, have = reference["result"], got["result"]
    assert have.metrics == want.metrics and "bayes" in have.metrics
    pd.testing.assert_frame_equal(have.test, want.test, check_exact=True)
    assert have.booster.model_to_string() == want.booster.model_to_string()
    assert have.split.describe(keys["started_at"]) == want.split.describe(whole["started_at"])
    for name in have.curves:
        pd.testing.assert_frame_equal(have.curves[name], want.curves[name], check_exact=True)
    assert set(got["aux"]) == set(reference["aux"]) == {"casemix", "after_contact"}
    for name, model in got["aux"].items():
        assert model.booster.model_to_string() == reference["aux"][name].booster.model_to_string()
        assert model.spec == reference["aux"][name].spec
    # MLflow's record of the feature table: its outline is the whole table's
    outline = TableOutline(table.iloc[:SCHEMA_SAMPLE_ROWS], len(keys), windows.missing)
    records = [d.to_dict() for d, _ in data_inputs(have, have.spec, "0" * 32, outline, str(path))]
    assert records == [d.to_dict() for d, _ in data_inputs(want, want.spec, "0" * 32, whole, str(path))]


def test_a_row_not_read_is_refused(features):
    path, checksums, spec, _ = features
    cfg = TrainConfig.default(**CAPPED)
    verified = VerifiedTable(path, checksums, "rebuild")
    table, windows = read_windows(verified.columns(KEY_COLUMNS), training_spec(spec, cfg), cfg, verified.rows)
    with pytest.raises(ValueError, match="were not read"):
        windows.take(table, windows.split.train)  # (only a sample of it was read)
    assert len(windows.take(table, windows.split.test)) == len(windows.split.test)


def test_tuning_reads_the_whole_training_and_validation_windows_and_tunes_as_on_the_whole_table(features):
    from models.training.tuning import tune

    path, checksums, spec, _ = features
    cfg = TrainConfig.default(**CAPPED)
    verified = VerifiedTable(path, checksums, "rebuild")
    keys = verified.columns(KEY_COLUMNS)
    tuned = cfg.model_copy(update={"tuning": cfg.tuning.model_copy(update={"enabled": True, "trials": 2, "folds": 2,
                                                                          "space": {"num_leaves": (4, 8)}})})
    table, windows = read_windows(keys, training_spec(spec, cfg), tuned, verified.rows)
    split = windows.split
    assert np.array_equal(windows.read, np.sort(np.concatenate([split.train, split.valid, split.test])))
    assert np.array_equal(np.flatnonzero(keys["status"] == "labelled"), windows.read)
    got, want = tune(table, spec, tuned), tune(read_verified(path, checksums, "rebuild"), spec, tuned)
    pd.testing.assert_frame_equal(got.trials, want.trials, check_exact=True)
    assert got.summary == want.summary and got.config == want.config
