"""Baselines the LightGBM must beat, trained and scored on the same split.

In: training and test feature tables (model features) and training outcomes. Out: probabilities of a
repeat on the test rows for: the overall repeat rate, the repeat rate of the reason code (shrunk
toward the overall rate), the frequent-caller baseline (repeat rate by the customer's number of
earlier contacts), the previous-outcome baseline (repeat rate by what is known at arrival of the
customer's previous contact: none, still unresolved, earlier repeats or not), and a logistic
regression (scikit-learn pipeline: one-hot categoricals, imputed and standardised numerics).
The two customer baselines read feature columns; a table without them gets None (not computable).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def overall_rate(y_train: np.ndarray, n_test: int) -> np.ndarray:
    return np.full(n_test, float(np.mean(y_train)))


def reason_rate(reason_train: pd.Series, y_train: np.ndarray, reason_test: pd.Series,
                prior_strength: float = 20.0) -> np.ndarray:
    """Repeat rate of each reason code, shrunk toward the overall rate; unseen codes get the overall."""
    return group_rate(reason_train, y_train, reason_test, prior_strength)


def group_rate(key_train: pd.Series, y_train: np.ndarray, key_test: pd.Series, prior_strength: float) -> np.ndarray:
    """Repeat rate of each key in the training rows, shrunk toward the overall rate; keys unseen in training and
    missing keys get the overall. Counted on integer codes: grouping millions of strings took GBs (train's
    peak at 10M contacts)."""
    overall = float(np.mean(y_train))
    train, test, n_keys = _shared_codes(key_train, key_test)
    seen = train >= 0
    repeats = np.bincount(train[seen], weights=y_train[seen], minlength=n_keys + 1)
    count = np.bincount(train[seen], minlength=n_keys + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(count > 0, (repeats + prior_strength * overall) / (count + prior_strength), overall)
    return rate[np.where(test < 0, n_keys, test)].astype(float)  # (code n_keys: never counted, the overall)


def _shared_codes(train: pd.Series, test: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Both key columns as codes of one coding (a shared categorical's own codes, else factorized together),
    -1 where the key is missing; and the number of keys."""
    if isinstance(train.dtype, pd.CategoricalDtype) and train.dtype == test.dtype:
        return train.cat.codes.to_numpy(), test.cat.codes.to_numpy(), len(train.cat.categories)
    codes, uniques = pd.factorize(pd.concat([train.astype(object), test.astype(object)], ignore_index=True))
    return codes[:len(train)], codes[len(train):], len(uniques)


# The customer's number of earlier contacts: the longest history count the feature table holds.
FREQUENT_CALLER_COLUMN = "customer_contacts_90d"
PREVIOUS_OUTCOME_COLUMNS = ("days_since_last_contact", "same_issue_contacts_window", "customer_past_repeats")
UNKNOWN = "unknown customer or no history"
PREVIOUS_STATES = (UNKNOWN, "previous contact unresolved (this one repeats it)", "earlier repeats on record",
                   "earlier contacts, no repeat on record")
COLUMNS = ("reason_code", FREQUENT_CALLER_COLUMN, *PREVIOUS_OUTCOME_COLUMNS)  # what the simple baselines read


def earlier_contacts_key(table: pd.DataFrame, cap: float) -> pd.Series:
    """Earlier contacts of the customer, capped (the long tail pools at the cap); anonymous: UNKNOWN. A
    categorical of "0" .. "<cap>" and UNKNOWN (counts are never negative), so every table shares its coding."""
    top = max(int(cap), 0)
    n = pd.to_numeric(table[FREQUENT_CALLER_COLUMN], errors="coerce").clip(upper=cap).to_numpy(dtype=float)
    codes = np.full(len(n), top + 1, dtype=np.int64)
    known = ~np.isnan(n)
    codes[known] = n[known].astype(np.int64)  # (as int(v): whole numbers, the long tail at the cap)
    categories = [str(v) for v in range(top + 1)] + [UNKNOWN]
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=table.index)


def frequent_caller(train: pd.DataFrame, y_train: np.ndarray, test: pd.DataFrame,
                    prior_strength: float = 20.0) -> np.ndarray | None:
    """Repeat rate by the customer's number of earlier contacts (training window), shrunk; counts above
    the training window's 99th percentile pool together. None when the table has no such column."""
    if FREQUENT_CALLER_COLUMN not in train.columns or FREQUENT_CALLER_COLUMN not in test.columns:
        return None
    counts = pd.to_numeric(train[FREQUENT_CALLER_COLUMN], errors="coerce").dropna()
    cap = float(np.quantile(counts, 0.99)) if len(counts) else 0.0
    return group_rate(earlier_contacts_key(train, cap), y_train, earlier_contacts_key(test, cap), prior_strength)


def previous_outcome_key(table: pd.DataFrame) -> pd.Series:
    """What is known at arrival about the customer's previous contact (a categorical of PREVIOUS_STATES). Its
    own label is unknown until its window closes, except when this contact is itself the repeat: an earlier
    same-issue contact inside the label window means the previous contact was not resolved."""
    last = pd.to_numeric(table["days_since_last_contact"], errors="coerce")
    open_issue = pd.to_numeric(table["same_issue_contacts_window"], errors="coerce").fillna(0) > 0
    past_repeats = pd.to_numeric(table["customer_past_repeats"], errors="coerce").fillna(0) > 0
    codes = np.select([last.isna().to_numpy(), open_issue.to_numpy(), past_repeats.to_numpy()], [0, 1, 2], default=3)
    return pd.Series(pd.Categorical.from_codes(codes, categories=PREVIOUS_STATES), index=table.index)


def previous_outcome(train: pd.DataFrame, y_train: np.ndarray, test: pd.DataFrame,
                     prior_strength: float = 20.0) -> np.ndarray | None:
    """Repeat rate by the previous-outcome state (training window), shrunk. None without the columns."""
    if not all(c in train.columns and c in test.columns for c in PREVIOUS_OUTCOME_COLUMNS):
        return None
    return group_rate(previous_outcome_key(train), y_train, previous_outcome_key(test), prior_strength)


def logistic_regression(X_train: pd.DataFrame, y_train: np.ndarray, seed: int) -> Pipeline:
    categorical = [c for c in X_train.columns if isinstance(X_train[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in X_train.columns if c not in categorical]
    prep = ColumnTransformer([
        ("categorical", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                      OneHotEncoder(handle_unknown="ignore", min_frequency=20)), categorical),
        ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
    ])
    # Newton steps to convergence, on one BLAS thread: lbfgs stopped early (predictions up to 0.02 from the
    # optimum), at a point that moved with the CPU's BLAS kernels (1e-10); converged, they agree to 1e-15.
    lr = LogisticRegression(solver="newton-cholesky", tol=1e-8, max_iter=100, C=1.0, random_state=seed)
    with threadpool_limits(1):
        return Pipeline([("prep", prep), ("lr", lr)]).fit(_as_object(X_train, categorical), y_train)


PREDICT_ROWS = 200_000  # rows scored at a time: the object columns and one-hot matrix of 1.3M rows are GBs


def predict_logistic(model: Pipeline, X: pd.DataFrame) -> np.ndarray:
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    parts = [model.predict_proba(_as_object(X.iloc[lo:lo + PREDICT_ROWS], categorical))[:, 1]
             for lo in range(0, len(X), PREDICT_ROWS)]
    return np.concatenate(parts) if parts else np.empty(0)


def _as_object(X: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    # SimpleImputer wants object columns with np.nan for missing categories.
    out = X.copy()
    for c in categorical:
        out[c] = X[c].astype(object).where(X[c].notna(), np.nan)
    return out
