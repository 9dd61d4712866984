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
    return group_rate(reason_train.astype("str"), y_train, reason_test.astype("str"), prior_strength)


def group_rate(key_train: pd.Series, y_train: np.ndarray, key_test: pd.Series, prior_strength: float) -> np.ndarray:
    """Repeat rate of each key in the training rows, shrunk toward the overall rate; unseen keys get the overall."""
    overall = float(np.mean(y_train))
    stats = pd.DataFrame({"r": key_train.to_numpy(), "y": y_train}).groupby("r")["y"].agg(["sum", "count"])
    rate = (stats["sum"] + prior_strength * overall) / (stats["count"] + prior_strength)
    return key_test.map(rate).fillna(overall).to_numpy(dtype=float)


# The customer's number of earlier contacts: the longest history count the feature table holds.
FREQUENT_CALLER_COLUMN = "customer_contacts_90d"
PREVIOUS_OUTCOME_COLUMNS = ("days_since_last_contact", "same_issue_contacts_window", "customer_past_repeats")
UNKNOWN = "unknown customer or no history"
COLUMNS = ("reason_code", FREQUENT_CALLER_COLUMN, *PREVIOUS_OUTCOME_COLUMNS)  # what the simple baselines read


def earlier_contacts_key(table: pd.DataFrame, cap: float) -> pd.Series:
    """Earlier contacts of the customer, capped (the long tail pools at the cap); anonymous: UNKNOWN."""
    n = pd.to_numeric(table[FREQUENT_CALLER_COLUMN], errors="coerce").clip(upper=cap)
    known = n.notna().to_numpy()
    text = np.full(len(n), UNKNOWN, dtype=object)
    text[known] = n.to_numpy()[known].astype(np.int64).astype(str)  # (as f"{int(v)}": whole numbers, no ".0")
    return pd.Series(text, index=table.index)


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
    """What is known at arrival about the customer's previous contact. Its own label is unknown until its
    window closes, except when this contact is itself the repeat: an earlier same-issue contact inside the
    label window means the previous contact was not resolved."""
    last = pd.to_numeric(table["days_since_last_contact"], errors="coerce")
    open_issue = pd.to_numeric(table["same_issue_contacts_window"], errors="coerce").fillna(0) > 0
    past_repeats = pd.to_numeric(table["customer_past_repeats"], errors="coerce").fillna(0) > 0
    key = np.select([last.isna().to_numpy(), open_issue.to_numpy(), past_repeats.to_numpy()],
                    [UNKNOWN, "previous contact unresolved (this one repeats it)", "earlier repeats on record"],
                    default="earlier contacts, no repeat on record")
    return pd.Series(key, index=table.index)


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
