"""Check the pipeline's findings against the synthetic centre's truth (synthetic data only).

In: the global drivers table of the explain stage, the generator's planted drivers (truth.json:
each with the model features that carry it, how it is observed, and `spread_sd`, the standard
deviation of its part of the logit over the generated contacts), the agent scorecard of the report
and the agents' true skills. Out: plain dicts for `metrics/report.json`:
- driver recovery: for every planted driver observed at arrival (or after the contact, ranked by the
  after-contact diagnostic model) with a non-trivial spread, the best rank of its features among the
  drivers, and whether that is within the top drivers; the best rank of a feature with no planted
  effect (must stay out of the top 3);
- skill tracking: Spearman correlation of true agent skill with the raw observed FCR ranking and
  with the case-mix adjusted ranking.
"""

from __future__ import annotations

import pandas as pd
from scipy.stats import spearmanr


def driver_recovery(drivers: pd.DataFrame, planted: list[dict], non_drivers: list[str], top: int,
                    min_spread: float, after_contact: pd.DataFrame | None = None) -> dict:
    """`drivers`: feature and rank (1 = strongest), all model features. A planted driver counts as
    recovered when one of its features ranks within `top`. Drivers observed only after the contact
    are looked up in `after_contact` (the diagnostic model's drivers) when given."""
    rank = dict(zip(drivers["feature"], drivers["rank"].astype(int)))
    after_rank = {} if after_contact is None else dict(zip(after_contact["feature"], after_contact["rank"].astype(int)))
    rows = []
    for d in planted:
        observed = d.get("observed", "arrival")
        ranks_of = after_rank if observed == "after_contact" else rank
        ranks = [ranks_of[f] for f in d["features"] if f in ranks_of]
        best = min(ranks) if ranks else None
        ranked = observed == "arrival" or (observed == "after_contact" and after_contact is not None)
        checked = ranked and d.get("spread_sd", 0.0) >= min_spread
        rows.append({"driver": d["driver"], "observed": observed,
                     "spread_sd": round(float(d.get("spread_sd", 0.0)), 4), "best_feature_rank": best,
                     "best_feature": next((f for f in d["features"] if best is not None and ranks_of.get(f) == best),
                                          None),
                     "checked": checked, "recovered": best is not None and best <= top})
    non = {f: rank[f] for f in non_drivers if f in rank}
    checked = [r for r in rows if r["checked"]]
    return {
        "top": top, "min_spread_sd": min_spread, "drivers": rows,
        "checked": len(checked), "recovered": sum(r["recovered"] for r in checked),
        "all_recovered": all(r["recovered"] for r in checked),
        "non_driver_ranks": non, "best_non_driver_rank": min(non.values()) if non else None,
        "non_driver_outside_top3": all(v > 3 for v in non.values()),
    }


def skill_tracking(card: pd.DataFrame, skill: pd.Series) -> dict:
    """`card`: an agent scorecard (group, observed_fcr, adjusted_fcr); `skill`: true skill by agent id."""
    df = card.assign(true_skill=card["group"].astype("str").map(skill)).dropna(subset=["true_skill"])
    if len(df) < 3:
        return {"agents": int(len(df)), "spearman_raw_fcr": None, "spearman_adjusted_fcr": None}
    raw = float(spearmanr(df["observed_fcr"], df["true_skill"]).statistic)
    adjusted = float(spearmanr(df["adjusted_fcr"], df["true_skill"]).statistic)
    return {"agents": int(len(df)), "spearman_raw_fcr": raw, "spearman_adjusted_fcr": adjusted,
            "adjusted_better": adjusted > raw}
