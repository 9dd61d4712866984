"""The rows of the feature table that the train stage's models use, so that it reads only those.

In: the KEY_COLUMNS of every row (started_at, status, repeated), the training spec, the `train` section and a
reader of chosen rows. Out: the rows read (every column, indexed by their table positions) and the `Windows`
built on them: the split, the outcome, the unusable features and the baselines' training-window columns are
those of the whole table (the reader hands each whole column to `column_checks`), and every sample is drawn
from the whole windows exactly as fit.py draws it, so the models are fitted and scored on the very rows the
whole table gives them. What is read: the routing model's training and validation samples, the auxiliary
models' and the logistic baseline's training samples, the whole test window, the table's first rows (MLflow's
schema of it) and, when tuning is on, the whole training and validation windows (its folds).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from models.config import TrainConfig
from models.training.fit import ColumnFacts, Windows, column_checks, sample_rows, split_outcomes, windows_from
from models.training.split import TimeSplit

# (rows, {column: check of the whole column}) -> (those rows of every column indexed by position, {column: facts})
RowReader = Callable[[np.ndarray, dict[str, Callable[[pd.Series], ColumnFacts]]],
                     tuple[pd.DataFrame, dict[str, ColumnFacts]]]


def rows_used(split: TimeSplit, cfg: TrainConfig, head: int = 0) -> np.ndarray:
    """Ascending table positions of every row a model of the train stage reads (see the module docstring),
    with the first `head` rows of the table."""
    train, valid = split.train, split.valid
    samples = [sample_rows(train, cfg.max_train_rows, cfg.seed), sample_rows(valid, cfg.max_valid_rows, cfg.seed),
               split.test, np.arange(head)]
    if cfg.casemix_model or cfg.after_contact_model:
        samples.append(sample_rows(train, cfg.auxiliary_rows, cfg.seed))
    samples.append(train[sample_rows(np.arange(len(train)), cfg.baseline_rows, cfg.seed)])  # (as train_model draws)
    if cfg.tuning.enabled:  # its folds span the whole training and validation windows
        samples += [train, valid]
    return np.unique(np.concatenate(samples).astype(np.int64))


def read_windows(keys: pd.DataFrame, spec: dict, cfg: TrainConfig, read: RowReader,
                 head: int = 0) -> tuple[pd.DataFrame, Windows]:
    """The rows the models use, read by `read`, and the Windows of `spec` (the union of the models' specs) on them."""
    split, y = split_outcomes(keys, cfg.split)
    rows = rows_used(split, cfg, min(head, len(keys)))
    table, facts = read(rows, column_checks(spec, split))
    return table, windows_from(split, y, table, spec, facts, rows, bool(keys["repeated"].isna().any()))
