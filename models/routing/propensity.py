"""Which agent the centre gave a contact: the logging policy's propensity, fitted before the test window.

In: contacts with the arrival columns named in params (routing.propensity.features) and the agent who
handled them. Out: P(agent | the contact's cell), the cell being the combination of those columns: a
categorical naive Bayes on that one joint feature, i.e. the share of the cell's contacts each agent handled,
smoothed by `alpha` pseudo-contacts. A centre that routes by these columns is held exactly (given enough
contacts per cell); anything else it routes on is missed. A cell unseen before the test window falls back to
the agents' overall shares.

The model is scikit-learn's CategoricalNB on one feature, computed from the (agent, cell) counts: its fit
one-hot encodes the agents (contacts x agents), which at 3,333 agents and millions of contacts does not fit
in memory. tests/models/routing/test_propensity.py holds it equal to CategoricalNB.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logsumexp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Propensity:
    cells: pd.Index              # the cells seen in the fit rows, sorted (their position is the cell's code)
    log_prior: np.ndarray | None  # log share of the fit rows each agent handled; None: one agent only
    by_cell: np.ndarray | None   # P(agent | cell): one row per cell of `cells`, one column per agent
    agents: np.ndarray           # agent ids as text, sorted
    features: list[str]

    def matrix(self, contacts: pd.DataFrame) -> np.ndarray:
        """P(agent | contact): one row per contact, one column per agent of `agents`."""
        table, row = self.rows(contacts)
        return table[row]

    def rows(self, contacts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """`matrix` without repeating a row per contact: P(agent | cell) per cell (the last row: an unseen cell,
        the agents' overall shares) and each contact's row of it. (60k contacts x 3,333 agents are 1.6 GB.)"""
        if self.by_cell is None:
            return np.ones((1, 1)), np.zeros(len(contacts), dtype=np.intp)
        code = self.cells.get_indexer(_cell(contacts, self.features))
        return np.vstack([self.by_cell, np.exp(self.log_prior)]), np.where(code < 0, len(self.cells), code)


def _cell(table: pd.DataFrame, features: list[str]) -> np.ndarray:
    parts = [table[f].astype("str").fillna("(missing)").to_numpy().astype(object) for f in features]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "\x00" + part
    return joined


def fit_propensity(fit_rows: pd.DataFrame, agent: pd.Series, features: list[str], alpha: float) -> Propensity:
    """The agent given the contact's cell of `features` (columns of `fit_rows`), from the rows given."""
    cell = _cell(fit_rows, features)
    cells = pd.Index(np.unique(cell))
    agents, agent_code = np.unique(agent.astype("str").to_numpy(), return_inverse=True)
    if len(agents) < 2:
        return Propensity(cells, None, None, agents, features)
    counts = np.zeros((len(agents), len(cells)))
    np.add.at(counts, (agent_code, cells.get_indexer(cell)), 1)
    # As CategoricalNB(alpha) computes it: log P(cell | agent) smoothed, plus the log prior, normalised per cell.
    smoothed = counts + alpha
    log_p_cell = np.log(smoothed) - np.log(smoothed.sum(axis=1).reshape(-1, 1))
    class_count = counts.sum(axis=1)
    log_prior = np.log(class_count) - np.log(class_count.sum())
    jll = np.ascontiguousarray(log_p_cell.T) + log_prior  # (C order, as CategoricalNB sums it: the same bits)
    by_cell = np.exp(jll - np.atleast_2d(logsumexp(jll, axis=1)).T)
    log.info("propensity: %d agents, %d cells of %d contacts", len(agents), len(cells), len(fit_rows))
    return Propensity(cells, log_prior, by_cell, agents, features)
