"""Capacity-respecting assignment of contacts to agents, one period (hour or day) at a time.

In: per candidate pair (contact, agent) the policy's utility; per contact its period and the agent who
handled it. Each agent has as many slots in a period as the contacts it handled then, so no agent ever
takes more than it did. Out: the agent each contact gets, maximising the period's total utility over the
pairs given (a contact only goes to an agent it is paired with: the overlap); the observed assignment is
always feasible when each contact is paired with its own agent, so a full assignment always exists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

FORBIDDEN = 1e9  # cost of a pair outside the candidates: never chosen while a full assignment exists


def assign(period: np.ndarray, own_agent: np.ndarray, pair_contact: np.ndarray, pair_agent: np.ndarray,
           utility: np.ndarray) -> np.ndarray:
    """Agent of each contact (0..n-1) under the policy; `pair_*` index contacts and name agents."""
    n = len(period)
    out = np.empty(n, dtype=own_agent.dtype)
    pairs = pd.DataFrame({"c": pair_contact, "a": pair_agent, "u": utility})
    pairs["p"] = np.asarray(period)[pair_contact]
    by_period = dict(tuple(pairs.groupby("p", sort=False)))
    for p, contacts in pd.Series(np.arange(n)).groupby(np.asarray(period), sort=False):
        contacts = contacts.to_numpy()
        slots = np.sort(own_agent[contacts])  # one slot per contact the agent handled in the period
        names, slot_of = np.unique(slots, return_inverse=True)
        by_agent = np.full((len(contacts), len(names)), FORBIDDEN)
        if (cand := by_period.get(p)) is not None:
            a = cand["a"].to_numpy()
            pos = np.minimum(np.searchsorted(names, a), len(names) - 1)
            ok = names[pos] == a  # agents not working in the period have no slot
            row = pd.Index(contacts).get_indexer(cand["c"].to_numpy())
            by_agent[row[ok], pos[ok]] = -cand["u"].to_numpy()[ok]
        cost = by_agent[:, slot_of]
        rows, cols = linear_sum_assignment(cost)
        if np.any(cost[rows, cols] >= FORBIDDEN):
            raise ValueError(f"period {p}: no full assignment within the candidate pairs (a contact lacks its own agent?)")
        out[contacts[rows]] = slots[cols]
    return out
