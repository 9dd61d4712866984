"""Which agent the centre gave a contact: the logging policy's propensity, fitted before the test window.

In: contacts with the arrival columns named in params (routing.propensity.features) and the agent who
handled them. Out: P(agent | the contact's cell), the cell being the combination of those columns: a
categorical naive Bayes (scikit-learn) on that one joint feature, i.e. the share of the cell's contacts each
agent handled, smoothed by `alpha` pseudo-contacts. A centre that routes by these columns is held exactly
(given enough contacts per cell); anything else it routes on is missed. A cell unseen before the test
window falls back to the agents' overall shares.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.naive_bayes import CategoricalNB
from sklearn.preprocessing import OrdinalEncoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Propensity:
    encoder: OrdinalEncoder
    model: CategoricalNB | None  # None: one agent only (probability 1)
    agents: np.ndarray           # the classes, agent ids as text
    features: list[str]

    def matrix(self, contacts: pd.DataFrame) -> np.ndarray:
        """P(agent | contact): one row per contact, one column per agent of `agents`."""
        if self.model is None:
            return np.ones((len(contacts), 1))
        cell = self.encoder.transform(_cell(contacts, self.features))
        unseen = cell[:, 0] < 0
        p = self.model.predict_proba(np.where(unseen[:, None], 0, cell).astype(int))
        p[unseen] = np.exp(self.model.class_log_prior_)  # an unseen cell: the agents' overall shares
        return p


def _cell(table: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    parts = [table[f].astype("str").fillna("(missing)").to_numpy().astype(object) for f in features]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "\x00" + part
    return pd.DataFrame({"cell": joined})


def fit_propensity(fit_rows: pd.DataFrame, agent: pd.Series, features: list[str], alpha: float) -> Propensity:
    """The agent given the contact's cell of `features` (columns of `fit_rows`), from the rows given."""
    cell = _cell(fit_rows, features)
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.int64).fit(cell)
    agents = np.unique(agent.astype("str"))
    if len(agents) < 2:
        return Propensity(encoder, None, agents, features)
    model = CategoricalNB(alpha=alpha).fit(encoder.transform(cell), agent.astype("str").to_numpy())
    log.info("propensity: %d agents, %d cells of %d contacts", len(agents), len(encoder.categories_[0]), len(fit_rows))
    return Propensity(encoder, model, model.classes_.astype(str), features)
