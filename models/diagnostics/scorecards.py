"""Case-mix adjusted agent and team scorecards.

In: labelled contacts of a scoring period with the group they belong to (agent or team), their
outcome (1 = repeated) and their expected repeat probability from a case-mix model that sees the
contact (customer, reason, channel, time, wait) but not who handled it. Out: per group, observed FCR
with its Wilson interval, the FCR expected for the contacts it actually got, the difference
(observed - expected) with its interval, and the adjusted FCR (overall FCR + difference), so an agent
who takes the hard calls is not ranked below one who takes the easy ones. `casemix_scorecards` scores
agents and teams of the test window with the case-mix model's expectations. Agents and teams are measured
on every labelled contact they handled (`scored_rows`), first contacts and follow-ups alike: the share
resolved without the customer coming back, called the *resolution rate*, not FCR, since the headline's FCR
counts first contacts only. (On first contacts alone an agent has about a third fewer contacts, and the
coaching list found fewer of the truly weakest agents than raw FCR did on the default centre: 0.55 vs 0.59.)
Only contacts handled by a person whose agent id is not a placeholder ("no agent" values of the user's
system, report.placeholder_agents) are scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from contract.schema import NO_AGENT_CHANNELS
from base.frames import per_value
from labelling.measure import wilson_interval


def scored_rows(rows: pd.DataFrame, placeholders: list[str] | tuple[str, ...] = ()) -> np.ndarray:
    """Mask of the contacts a scorecard measures: labelled contacts (first contacts and follow-ups) handled
    by a person: an agent id that is set and not one of `placeholders` (compared ignoring case and
    surrounding blanks), on a channel that has agents."""
    if "agent_id" not in rows.columns:
        return np.zeros(len(rows), dtype=bool)
    marks = {str(p).strip().upper() for p in placeholders}
    person = per_value(rows["agent_id"], lambda a: (a.notna() & ~a.astype("string").str.strip().str.upper()
                                                    .isin(marks)).fillna(False))
    labelled = (rows["status"] == "labelled").fillna(False).to_numpy(dtype=bool) if "status" in rows else True
    channel = per_value(rows["channel"], lambda c: ~c.astype("str").isin(NO_AGENT_CHANNELS)) if "channel" in rows else True
    return person & labelled & channel


SUMS = ["contacts", "repeats", "expected_repeats", "variance"]  # what a scorecard needs of a group's contacts


def group_sums(group: pd.Series | pd.DataFrame, repeated: np.ndarray, expected: np.ndarray) -> pd.DataFrame:
    """Per group (a Series: its values as text, missing ones left out; a frame: its columns' values, a missing one
    a value of its own):
    contacts, repeats, expected repeats and the variance of the repeats under the expectation (sum of p(1 - p)):
    additive, so the sums of parts of the contacts add up to the whole's."""
    y = np.asarray(repeated, dtype=float)
    p = np.asarray(expected, dtype=float)
    keys = group.astype("str").to_frame("group") if isinstance(group, pd.Series) else group
    df = keys.reset_index(drop=True).assign(contacts=np.ones(len(y), dtype=np.int64), repeats=y, expected_repeats=p,
                                             variance=p * (1 - p))
    return df.groupby(list(keys.columns), observed=True, dropna=isinstance(group, pd.Series))[SUMS].sum()


def scorecard(group: pd.Series, repeated: np.ndarray, expected: np.ndarray, min_contacts: int,
              level: float = 0.95) -> pd.DataFrame:
    """One row per group with at least `min_contacts` contacts, best adjusted FCR first."""
    y = np.asarray(repeated, dtype=float)
    return scorecard_of_sums(group_sums(group, y, expected), 1 - y.mean() if len(y) else np.nan, min_contacts, level)


def scorecard_of_sums(sums: pd.DataFrame, overall_fcr: float, min_contacts: int, level: float = 0.95) -> pd.DataFrame:
    """`scorecard` from the groups' `group_sums` (indexed by group) and the FCR of all their contacts."""
    g = sums[sums["contacts"] >= min_contacts].copy()
    g.index.name = "group"
    g["contacts"] = g["contacts"].astype(np.int64)
    g["repeats"] = g["repeats"].round().astype(np.int64)
    n = g["contacts"].to_numpy(dtype=float)
    g["observed_fcr"] = 1 - g["repeats"] / n
    g["observed_low"], g["observed_high"] = wilson_interval(n - g["repeats"].to_numpy(), n, level)
    g["expected_fcr"] = 1 - g["expected_repeats"] / n
    # Observed minus expected: under "this group is average for its case mix" the repeats are a sum of
    # independent Bernoullis with the expected probabilities, hence the interval.
    z = norm.ppf(0.5 + level / 2)
    g["difference"] = g["observed_fcr"] - g["expected_fcr"]
    half = z * np.sqrt(g["variance"].to_numpy()) / n
    g["difference_low"], g["difference_high"] = g["difference"] - half, g["difference"] + half
    g["adjusted_fcr"] = overall_fcr + g["difference"]
    g["verdict"] = np.where(g["difference_low"] > 0, "better than expected",
                            np.where(g["difference_high"] < 0, "worse than expected", "as expected"))
    g = g.drop(columns=["variance"]).sort_values("adjusted_fcr", ascending=False)
    g.insert(0, "rank", np.arange(1, len(g) + 1))
    return g.reset_index()


def casemix_scorecards(rows: pd.DataFrame, expected_repeat: np.ndarray, min_contacts: int,
                       placeholders: list[str] | tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
    """Agent and team scorecards of the rows (the test window), given each contact's expected repeat
    probability from the case-mix model (models/training/auxiliary.py, fitted in train), on the contacts
    `scored_rows` keeps (labelled contacts handled by a person; the self-service bot is not an agent)."""
    if "agent_id" not in rows.columns:
        empty = scorecard(pd.Series([], dtype="str"), np.array([]), np.array([]), min_contacts)
        return {"agents": empty, "teams": empty.copy()}
    y = rows["repeated"].fillna(False).to_numpy(dtype=float)
    human = scored_rows(rows, placeholders)
    team = rows["team"] if "team" in rows.columns else pd.Series(pd.NA, index=rows.index, dtype="str")
    return {"agents": scorecard(rows["agent_id"][human], y[human], expected_repeat[human], min_contacts),
            "teams": scorecard(team[human].dropna(), y[human][team[human].notna().to_numpy()],
                               expected_repeat[human][team[human].notna().to_numpy()], min_contacts)}
