"""Off-policy value of a routing policy: the outcome model's difference, corrected per agent x cell, with its interval.

In: per contact the observed resolution `y` (1 = resolved), the outcome model's predicted resolution under
the observed agent (`m_own`) and under the policy's agent (`m_pol`), and the correction cell of the
observed agent and of the policy's agent (an integer per (agent, cell of the contact), e.g. agent x reason
family; `own_agent`/`pol_agent` give the agent alone, for cells the agent never had).

Out: the uplift over the observed FCR, estimated as

    mean(m_pol - m_own) + 1/N * sum over (agent, cell) k of (P_k - O_k) * mean residual of k,

O_k the contacts the agent had in the cell, P_k those the policy gives it, the residual y - m_own of the
contacts it had. The first term is the outcome model's own answer (the direct method), paired contact by
contact so the noise it shares with today's FCR cancels; the second is the doubly robust correction with
the importance weight P_k / O_k of the agent in the cell (the policy's share of the cell's contacts that
go to the agent over the centre's share) instead of 1 / P(agent | contact) of one contact: one agent of
~60 in a cell gets weights of ~60 per contact, the cell's weight is the policy's count over today's. It
is right when the outcome model is right, or when the model's error for an agent is the same on the
contacts of a cell the policy gives it as on those it had (the agent's within-cell assignment as if
random with respect to that error); an agent's error common to all its cells cancels because each agent
keeps its number of contacts. A cell the agent never had takes the agent's mean residual over its cells.

The interval resamples contacts (bootstrap percentile), recomputing the counts and residual means of each
resample; models and assignments are held fixed.
"""

from __future__ import annotations

import numpy as np

from models.config import BootstrapConfig


def _correction(o_cnt, p_cnt, res_sum, own_agent_of_cell, a_cnt, a_res) -> float:
    """sum_k (P_k - O_k) * mean residual of k (the agent's mean where O_k = 0), not yet divided by N."""
    with np.errstate(invalid="ignore", divide="ignore"):
        agent_mean = np.where(a_cnt > 0, a_res / np.maximum(a_cnt, 1), 0.0)
        cell_mean = np.where(o_cnt > 0, res_sum / np.maximum(o_cnt, 1), agent_mean[own_agent_of_cell])
    return float(((p_cnt - o_cnt) * cell_mean).sum())


def uplift_interval(y: np.ndarray, m_own: np.ndarray, m_pol: np.ndarray, own_cell: np.ndarray,
                    pol_cell: np.ndarray, agent_of_cell: np.ndarray, boot: BootstrapConfig) -> dict:
    """The policy's FCR and uplift (points) over the observed FCR, with percentile intervals (see the module
    docstring). `own_cell`/`pol_cell`: codes 0..K-1 of (agent, cell) per contact; `agent_of_cell`: agent
    code 0..A-1 of each cell code. A contact the policy leaves alone has pol_cell == own_cell, m_pol == m_own."""
    y, m_own, m_pol = (np.asarray(v, float) for v in (y, m_own, m_pol))
    own_cell, pol_cell, agent_of_cell = (np.asarray(v, np.int64) for v in (own_cell, pol_cell, agent_of_cell))
    n, k, a = len(y), len(agent_of_cell), int(agent_of_cell.max()) + 1 if len(agent_of_cell) else 0
    if n == 0:
        raise ValueError("no contacts to estimate on")
    if np.any(np.isnan(m_own)) or np.any(np.isnan(m_pol)):
        raise ValueError("the outcome model must predict every contact with its own and its policy agent")
    diff, res = m_pol - m_own, y - m_own
    own_agent = agent_of_cell[own_cell]

    def estimate(idx: np.ndarray | None) -> tuple[float, float]:
        oc, pc, r, d, oa, yy = ((own_cell, pol_cell, res, diff, own_agent, y) if idx is None else
                                (own_cell[idx], pol_cell[idx], res[idx], diff[idx], own_agent[idx], y[idx]))
        corr = _correction(np.bincount(oc, minlength=k), np.bincount(pc, minlength=k),
                           np.bincount(oc, weights=r, minlength=k), agent_of_cell,
                           np.bincount(oa, minlength=a), np.bincount(oa, weights=r, minlength=a))
        up = d.mean() + corr / len(d)
        return up, yy.mean() + up

    up, fcr = estimate(None)
    rng = np.random.default_rng(boot.seed)
    draws = np.array([estimate(rng.integers(0, n, n)) for _ in range(boot.resamples)])
    tail = (1 - boot.confidence) / 2
    lo, hi = np.quantile(draws, tail, axis=0), np.quantile(draws, 1 - tail, axis=0)
    return {"fcr": float(fcr), "fcr_low": float(lo[1]), "fcr_high": float(hi[1]),
            "uplift_points": 100 * float(up), "uplift_low": 100 * float(lo[0]), "uplift_high": 100 * float(hi[0]),
            "direct_method_points": 100 * float(diff.mean())}
