"""Fair scorecards and the coaching list, from the case-mix scorecard of models/diagnostics.

In: labelled test-window contacts with the group (agent or team), outcome, reason family and the case-mix
model's expected repeat probability. Out: one row per group with observed FCR, the FCR expected for its
contacts, and the difference pulled toward zero in proportion to its noise (empirical Bayes: a group with
few contacts keeps little of its raw difference), with an interval; groups are ranked by the interval
(the lower bound of the adjusted FCR), never by the point estimate, and groups below a minimum size are
marked "too few contacts" and not ranked. The coaching list holds the agents whose interval lies wholly
below what their contacts lead one to expect, with the reason families where they fall short.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from models.diagnostics.scorecards import scorecard

COLUMNS = [
    "rank",
    "group",
    "contacts",
    "repeats",
    "observed_fcr",
    "expected_fcr",
    "difference",
    "adjusted_fcr",
    "adjusted_low",
    "adjusted_high",
    "verdict",
]


def fair_scorecard(
    group: pd.Series, repeated: np.ndarray, expected: np.ndarray, min_contacts: int, significance: float
) -> pd.DataFrame:
    z = float(norm.ppf(1 - significance / 2))
    raw = scorecard(group, repeated, expected, 1, level=1 - significance)
    if not len(raw):
        return pd.DataFrame(columns=COLUMNS)
    overall = 1 - float(np.mean(np.asarray(repeated, dtype=float)))
    d = raw["difference"].to_numpy(dtype=float)
    se = (raw["difference_high"] - raw["difference_low"]).to_numpy(dtype=float) / (2 * z)
    big = raw["contacts"].to_numpy() >= min_contacts
    # Between-group spread of true differences (method of moments on the groups large enough to rank).
    if big.sum() >= 3:
        tau2 = max(0.0, float(np.var(d[big]) - np.mean(se[big] ** 2)))
        weight = np.where(se > 0, tau2 / (tau2 + se**2), 1.0) if tau2 > 0 else np.zeros_like(d)
    else:  # too few groups to tell their spread from noise: each keeps its own difference and interval
        weight = np.ones_like(d)
    post = d * weight
    post_sd = np.sqrt(weight) * se
    out = pd.DataFrame(
        {
            "group": raw["group"].astype(str),
            "contacts": raw["contacts"].astype(np.int64),
            "repeats": raw["repeats"].astype(np.int64),
            "observed_fcr": raw["observed_fcr"],
            "expected_fcr": raw["expected_fcr"],
            "difference": post,
        }
    )
    out["adjusted_fcr"] = np.clip(overall + post, 0, 1)
    out["adjusted_low"] = np.clip(overall + post - z * post_sd, 0, 1)
    out["adjusted_high"] = np.clip(overall + post + z * post_sd, 0, 1)
    low, high = post - z * post_sd, post + z * post_sd
    out["verdict"] = np.where(
        ~big,
        "too few contacts",
        np.where(low > 0, "better than expected", np.where(high < 0, "below expected", "as expected")),
    )
    ranked = out[big].sort_values(["adjusted_low", "adjusted_fcr"], ascending=False, kind="stable")
    thin = out[~big].sort_values("group")
    ranked.insert(0, "rank", pd.array(np.arange(1, len(ranked) + 1), dtype="Int64"))
    thin.insert(0, "rank", pd.array([pd.NA] * len(thin), dtype="Int64"))
    return pd.concat([ranked, thin], ignore_index=True)[COLUMNS]


def coaching_list(card: pd.DataFrame, rows: pd.DataFrame, expected: np.ndarray, families: int) -> pd.DataFrame:
    """Agents credibly below expected (their adjusted interval wholly below the overall expectation), the
    lowest upper bound first, with the reason families where their repeats most exceed the expected ones."""
    cols = ["agent", "contacts", "observed_fcr", "expected_fcr", "adjusted_high", "falls_short_on"]
    below = card[card["verdict"] == "below expected"].sort_values("adjusted_high")
    if not len(below):
        return pd.DataFrame(columns=cols)
    fam = rows["reason_family"].astype(str) if "reason_family" in rows else pd.Series("all", index=rows.index)
    d = pd.DataFrame(
        {
            "agent": rows["agent_id"].astype(str).to_numpy(),
            "family": fam.to_numpy(),
            "excess": rows["repeated"].fillna(False).to_numpy(dtype=float) - np.asarray(expected, float),
        }
    )
    d = d[d["agent"].isin(set(below["group"]))]
    excess = d.groupby(["agent", "family"])["excess"].agg(["sum", "size"]).reset_index()
    words = {}
    for agent, g in excess.groupby("agent"):
        g = g[g["sum"] >= 0.5].sort_values("sum", ascending=False).head(families)
        words[agent] = (
            "; ".join(
                f"{f.replace('_', ' ')} ({s:+.0f} repeats over {n} contacts)"
                for f, s, n in zip(g["family"], g["sum"], g["size"])
            )
            or "spread across reasons"
        )
    return pd.DataFrame(
        {
            "agent": below["group"],
            "contacts": below["contacts"],
            "observed_fcr": below["observed_fcr"],
            "expected_fcr": below["expected_fcr"],
            "adjusted_high": below["adjusted_high"],
            "falls_short_on": below["group"].map(words).fillna("spread across reasons"),
        }
    )[cols]


def coaching_hit_rates(card: pd.DataFrame, coaching: pd.DataFrame, skill: pd.Series) -> dict:
    """Synthetic centre: of the k agents on the coaching list, how many are among the k agents of lowest true
    skill, against the k lowest by raw observed FCR (k = the list's length)."""
    ranked = (
        card[card["verdict"] != "too few contacts"]
        .assign(skill=lambda c: c["group"].map(skill))
        .dropna(subset=["skill"])
    )
    k = len(coaching)
    if k == 0 or len(ranked) < k:
        return {"listed": k, "coaching_hit_rate": None, "raw_fcr_hit_rate": None}
    worst = set(ranked.nsmallest(k, "skill")["group"])
    raw = set(ranked.nsmallest(k, "observed_fcr")["group"])
    return {
        "listed": k,
        "coaching_hit_rate": len(worst & set(coaching["agent"])) / k,
        "raw_fcr_hit_rate": len(worst & raw) / k,
    }
