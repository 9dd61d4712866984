"""Baselines the LightGBM must beat, trained and scored on the same split.

In: training and test feature tables (model features) and training outcomes. Out: probabilities of a
repeat on the test rows for: the overall repeat rate, the repeat rate of the reason code (shrunk
toward the overall rate), and a logistic regression (scikit-learn pipeline: one-hot categoricals,
imputed and standardised numerics).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def overall_rate(y_train: np.ndarray, n_test: int) -> np.ndarray:
    return np.full(n_test, float(np.mean(y_train)))


def reason_rate(reason_train: pd.Series, y_train: np.ndarray, reason_test: pd.Series,
                prior_strength: float = 20.0) -> np.ndarray:
    """Repeat rate of each reason code, shrunk toward the overall rate; unseen codes get the overall."""
    overall = float(np.mean(y_train))
    stats = pd.DataFrame({"r": reason_train.astype("str").to_numpy(), "y": y_train}).groupby("r")["y"].agg(
        ["sum", "count"])
    rate = (stats["sum"] + prior_strength * overall) / (stats["count"] + prior_strength)
    return reason_test.astype("str").map(rate).fillna(overall).to_numpy(dtype=float)


def logistic_regression(X_train: pd.DataFrame, y_train: np.ndarray, seed: int) -> Pipeline:
    categorical = [c for c in X_train.columns if isinstance(X_train[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in X_train.columns if c not in categorical]
    prep = ColumnTransformer([
        ("categorical", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                      OneHotEncoder(handle_unknown="ignore", min_frequency=20)), categorical),
        ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
    ])
    model = Pipeline([("prep", prep), ("lr", LogisticRegression(max_iter=500, C=1.0, random_state=seed))])
    return model.fit(_as_object(X_train, categorical), y_train)


def predict_logistic(model: Pipeline, X: pd.DataFrame) -> np.ndarray:
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    return model.predict_proba(_as_object(X, categorical))[:, 1]


def _as_object(X: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    # SimpleImputer wants object columns with np.nan for missing categories.
    out = X.copy()
    for c in categorical:
        out[c] = X[c].astype(object).where(X[c].notna(), np.nan)
    return out
