"""Another agent for the same contact: that agent's features at the contact's time, and the specialist pool.

In: the feature table (featurize's point-in-time agent features: team, tenure, repeat rate overall and on
the reason family), candidate (contact, agent) pairs, the case-mix model's expected repeats. Out: each
pair's model row, the contact's own features with the agent's as they stood at the agent's last contact
before this one (its family rate at its last contact of that family; none yet: its overall rate, the
prior featurize shrinks toward), so the routing model of the train stage predicts the contact with that
agent, as /v1/route ranks agents; and per reason family the agents with the best case-mix adjusted FCR.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.diagnostics.scorecards import scorecard

AGENT_FEATURES = ["team", "agent_tenure_days", "agent_repeat_rate", "agent_family_repeat_rate"]


def pair_rows(table: pd.DataFrame, contacts: pd.DataFrame, pair_contact: np.ndarray,
              pair_agent: np.ndarray) -> pd.DataFrame:
    """Model rows of the pairs: `contacts` indexed by `pair_contact`, agent columns of `pair_agent` (agent ids
    as text) as of each contact's start, read from the agent rows of `table` (the history: the routing stage
    passes the contacts before the test window, so every pair's agent is as it stood then)."""
    rows = contacts.iloc[pair_contact].reset_index(drop=True)
    history = table.loc[table["agent_id"].notna(), ["started_at", "agent_id", "reason_family", *[
        c for c in AGENT_FEATURES if c in table.columns]]].copy()
    history["agent_id"] = history["agent_id"].astype("str")
    history["reason_family"] = history["reason_family"].astype("str")
    history = history.sort_values("started_at", kind="stable")
    query = pd.DataFrame({"t": rows["started_at"].to_numpy(), "agent_id": pair_agent.astype(str),
                          "reason_family": rows["reason_family"].astype("str").to_numpy(),
                          "pair": np.arange(len(rows))}).sort_values("t", kind="stable")
    overall = pd.merge_asof(query, history.drop(columns=["reason_family", "agent_family_repeat_rate"], errors="ignore")
                            .rename(columns={"started_at": "seen"}), left_on="t", right_on="seen", by="agent_id",
                            allow_exact_matches=False).set_index("pair").sort_index()
    for col in ("team", "agent_repeat_rate"):
        if col in rows.columns:
            rows[col] = overall[col].to_numpy() if col != "team" else pd.Categorical(
                overall[col].astype("str").where(overall[col].notna()).to_numpy())
    if "agent_tenure_days" in rows.columns:
        elapsed = (overall["t"] - overall["seen"]).dt.total_seconds().to_numpy() / 86_400
        rows["agent_tenure_days"] = overall["agent_tenure_days"].to_numpy() + elapsed
    if "agent_family_repeat_rate" in rows.columns:
        fam = pd.merge_asof(query, history[["started_at", "agent_id", "reason_family", "agent_family_repeat_rate"]],
                            left_on="t", right_on="started_at", by=["agent_id", "reason_family"],
                            allow_exact_matches=False).set_index("pair").sort_index()
        rows["agent_family_repeat_rate"] = fam["agent_family_repeat_rate"].fillna(overall["agent_repeat_rate"]).to_numpy()
    rows["agent_id"] = pair_agent.astype(str)
    return rows


def specialist_pool(history: pd.DataFrame, expected_repeat: np.ndarray | None, team: str | None, share: float,
                    min_history: int) -> dict[str, set[str]]:
    """Reason family -> its specialists: the named team's agents for every family, or else the top `share` of
    the agents with `min_history` contacts of the family by case-mix adjusted FCR (`history`: labelled
    agent-handled contacts before the test window, `expected_repeat` from the case-mix model)."""
    families = history["reason_family"].astype("str")
    if team is not None:
        members = set(history.loc[history["team"].astype("str") == team, "agent_id"].astype("str"))
        if not members:
            raise ValueError(f"routing.specialist_team {team!r} handled no contact before the test window")
        return {f: members for f in families.unique()}
    if expected_repeat is None:
        raise ValueError("no case-mix model (train.casemix_model is off): set routing.specialist_team")
    pool = {}
    for fam, idx in families.groupby(families).groups.items():
        rows = history.loc[idx]
        card = scorecard(rows["agent_id"].astype("str"), rows["repeated"].to_numpy(dtype=float),
                         expected_repeat[history.index.get_indexer(idx)], min_history)
        if len(card):
            pool[fam] = set(card["group"].head(max(1, int(round(share * len(card))))))
    return pool
