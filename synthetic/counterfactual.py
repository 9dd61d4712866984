"""The same contact handled by another agent: the synthetic centre's true counterfactual repeat probability.

In: the generator's truth rows of some contacts (truth.parquet or its parts: `logit_without_agent`, `queued`,
`reason_code`, `started_at`, `p_return`, `busy_s`), agent_truth.parquet, and for each contact the agent
that would handle it. Out: the true probability that the customer comes back within the label window,
from the generator's own outcome model: the contact's logit without its agent's parts, plus the other
agent's skill on that reason (stronger on hard reasons) and new-agent effect, and the transfers drawn
from that agent's law (a queued contact is transferred more by a less skilled agent), averaged exactly
over the transfer count. The return law is the contact's own (its segment, its observed busy time).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy.special import expit
from scipy.stats import poisson

from synthetic.centre import (CODE_DIFFICULTY, CODES, FAMILIES, NEW_AGENT_EFFECT, SKILL_DIFFICULTY_INTERACTION,
                              TRANSFER_EFFECT, true_repeat_probability)
from synthetic.reasons import REASON_FAMILY
from synthetic.truth import truth_files

MAX_TRANSFERS = 3  # the generator caps transfers at 3
TRUTH_COLUMNS = ["contact_id", "started_at", "reason_code", "logit_without_agent", "queued", "p_return", "busy_s"]


def true_repeat_with_agent(truth: pd.DataFrame, agent_truth: pd.DataFrame, agent_id: np.ndarray,
                           window_days: float) -> np.ndarray:
    """True P(repeat within the window) of each truth row handled by `agent_id` (aligned with `truth`)."""
    if truth["logit_without_agent"].isna().any():
        raise ValueError("a contact without an agent in the generator has no agent counterfactual")
    agents = agent_truth.set_index("agent_id")
    unknown = sorted(set(agent_id) - set(agents.index))
    if unknown:
        raise ValueError(f"agents {unknown[:5]} are not the generator's")
    code = pd.Index(CODES).get_indexer(truth["reason_code"])
    diff = CODE_DIFFICULTY[code]
    fam = np.array([f"skill_{REASON_FAMILY[c]}" for c in truth["reason_code"]])
    skill_cols = [f"skill_{f}" for f in FAMILIES]
    skill_table = agents.loc[agent_id, skill_cols].to_numpy()
    skill = skill_table[np.arange(len(truth)), pd.Index(skill_cols).get_indexer(fam)]
    tenure_d = ((pd.to_datetime(truth["started_at"], utc=True).reset_index(drop=True)
                 - pd.to_datetime(agents.loc[agent_id, "hired_at_exact"], utc=True).reset_index(drop=True))
                .dt.total_seconds().to_numpy() / 86_400)
    agent_part = (-skill * (1 + SKILL_DIFFICULTY_INTERACTION * np.maximum(diff, 0))
                  + NEW_AGENT_EFFECT * np.exp(-np.maximum(tenure_d, 0) / 45))
    base = truth["logit_without_agent"].to_numpy() + agent_part
    lam = np.where(truth["queued"].to_numpy(), 0.12 * np.exp(0.8 * diff - 0.8 * skill), 0.0)
    p_unres = np.zeros(len(truth))
    for k in range(MAX_TRANSFERS + 1):
        weight = poisson.pmf(k, lam) if k < MAX_TRANSFERS else poisson.sf(MAX_TRANSFERS - 1, lam)
        p_unres += weight * expit(base + TRANSFER_EFFECT * k)
    frame = pd.DataFrame({"p_unresolved": p_unres, "p_return": truth["p_return"].to_numpy(),
                          "busy_s": truth["busy_s"].to_numpy()})
    return true_repeat_probability(frame, window_days).to_numpy()


def counterfactual_if_synthetic(truth_dir: str | Path, window_days: float
                                ) -> Callable[[pd.Series, np.ndarray], np.ndarray] | None:
    """(contact ids, agent ids) -> true P(repeat) of each contact handled by that agent (NaN for a contact
    that is not an agent-handled one of the generator), or None off the synthetic centre (or for a truth
    written before the generator recorded counterfactuals: regenerate with `dvc repro generate`)."""
    files, agents_file = truth_files(truth_dir), Path(truth_dir) / "agent_truth.parquet"
    if not files:
        return None
    agent_truth = pd.read_parquet(agents_file)
    if "logit_without_agent" not in pq.read_schema(files[0]).names or "hired_at_exact" not in agent_truth.columns:
        raise ValueError(f"{truth_dir} lacks the generator's counterfactual columns: run `dvc repro generate`")
    # The agent-handled contacts, part by part (truth-00000.parquet, ... when the centre is in parts).
    pieces = [t.loc[t["logit_without_agent"].notna()] for t in (pd.read_parquet(f, columns=TRUTH_COLUMNS)
                                                                for f in files)]
    truth = (pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)).set_index("contact_id")

    position = pd.Index(truth.index.astype(object)).get_indexer  # (object ids: hashed lookups, fast)
    agents = set(agent_truth["agent_id"])

    def true_p(contact_id: pd.Series, agent_id: np.ndarray) -> np.ndarray:
        pos = position(contact_id.astype(object).to_numpy())
        known = (pos >= 0) & np.array([a in agents for a in agent_id], dtype=bool)
        out = np.full(len(contact_id), np.nan)
        rows = truth.iloc[pos[known]].reset_index()
        out[known] = true_repeat_with_agent(rows, agent_truth, np.asarray(agent_id)[known], window_days)
        return out

    return true_p
