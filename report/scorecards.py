"""Fair scorecards and the coaching list, from the case-mix scorecard of models/diagnostics.

In: labelled test-window contacts with the group (agent or team), outcome, reason family and the case-mix
model's expected repeat probability. Out: one row per group with observed FCR, the FCR expected for its
contacts, and the difference pulled toward zero in proportion to its noise (empirical Bayes: a group with
few contacts keeps little of its raw difference), with an interval; groups are ranked by the interval
(the lower bound of the adjusted FCR), never by the point estimate, and groups below a minimum size are
marked "too few contacts" and not ranked. When the adjustment cannot tell the groups apart (fewer than
`MIN_GROUPS` large enough, or their spread is all noise, so every adjusted figure would be the same), no
adjusted figure or rank is given, every such group reads "not told apart", and `out.attrs["not_ranked"]`
says why in words. The coaching list holds the agents whose interval lies wholly
below what their contacts lead one to expect, with the reason families where they fall short.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from markupsafe import Markup

from models.diagnostics.scorecards import group_sums, scorecard_of_sums
from report.charts import Bars, img
from report.html import table
from report.measures import pretty

MIN_GROUPS = 3  # fewer groups large enough to rank: their spread cannot be told from noise

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
    group: pd.Series,
    repeated: np.ndarray,
    expected: np.ndarray,
    min_contacts: int,
    significance: float,
    who: str = "agents",
) -> pd.DataFrame:
    """The scorecard of contacts (`group`, 1 = repeated, expected repeat probability); `fair_scorecard_of_sums`."""
    y = np.asarray(repeated, dtype=float)
    return fair_scorecard_of_sums(group_sums(group, y, expected), 1 - float(np.mean(y)) if len(y) else np.nan,
                                  min_contacts, significance, who)


def fair_scorecard_of_sums(sums: pd.DataFrame, overall: float, min_contacts: int, significance: float,
                           who: str = "agents") -> pd.DataFrame:
    """From the groups' sums (models/diagnostics/scorecards.py `group_sums`) and the FCR of all their contacts
    (`overall`). `who`: the groups in words ("agents", "teams"), for the reason they are not ranked."""
    z = float(norm.ppf(1 - significance / 2))
    raw = scorecard_of_sums(sums, overall, 1, level=1 - significance)
    if not len(raw):
        return pd.DataFrame(columns=COLUMNS)
    d = raw["difference"].to_numpy(dtype=float)
    se = (raw["difference_high"] - raw["difference_low"]).to_numpy(dtype=float) / (2 * z)
    big = raw["contacts"].to_numpy() >= min_contacts
    # Between-group spread of true differences (method of moments on the groups large enough to rank).
    tau2 = max(0.0, float(np.var(d[big]) - np.mean(se[big] ** 2))) if big.sum() >= MIN_GROUPS else 0.0
    weight = np.where(se > 0, tau2 / (tau2 + se**2), 1.0) if tau2 > 0 else np.zeros_like(d)
    not_ranked = (
        f"only {int(big.sum())} of the {who} have at least {min_contacts} first contacts; at least "
        f"{MIN_GROUPS} are needed to tell their differences from chance, so they are not ranked"
        if big.sum() < MIN_GROUPS
        else f"the {who}' results differ no more than chance alone would make them differ, once the contacts "
        "they got are taken into account: the adjustment cannot tell them apart, so they are not ranked"
        if tau2 == 0
        else None
    )
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
    if not_ranked is not None:
        out.loc[:, ["difference", "adjusted_fcr", "adjusted_low", "adjusted_high"]] = np.nan
        out["verdict"] = np.where(big, "not told apart", "too few contacts")
        big = np.zeros_like(big)
    ranked = out[big].sort_values(["adjusted_low", "adjusted_fcr"], ascending=False, kind="stable")
    thin = out[~big].sort_values(["verdict", "contacts", "group"], ascending=[True, False, True])
    ranked.insert(0, "rank", pd.array(np.arange(1, len(ranked) + 1), dtype="Int64"))
    thin.insert(0, "rank", pd.array([pd.NA] * len(thin), dtype="Int64"))
    card = pd.concat([ranked, thin], ignore_index=True)[COLUMNS]
    card.attrs["not_ranked"] = not_ranked
    return card


def card_sums(rows: pd.DataFrame, expected: np.ndarray) -> pd.DataFrame:
    """The scored contacts' sums (`group_sums`) per agent, team (missing: a team of its own, in no team's card)
    and reason family ("all" without families): what the scorecards and the coaching list need of them, additive
    over any split of the contacts (`add_sums`)."""
    keys = pd.DataFrame({"agent": rows["agent_id"].astype(str).to_numpy(),
                         "team": (rows["team"].astype(str).where(rows["team"].notna(), None).to_numpy(dtype=object)
                                  if "team" in rows else None),
                         "family": rows["reason_family"].astype(str).to_numpy() if "reason_family" in rows else "all"})
    return group_sums(keys, rows["repeated"].fillna(False).to_numpy(dtype=float), expected)


def add_sums(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The `card_sums` of two sets of contacts together."""
    return pd.concat([a, b]).groupby(level=[0, 1, 2], dropna=False).sum()


def coaching_list(card: pd.DataFrame, sums: pd.DataFrame, families: int) -> pd.DataFrame:
    """Agents credibly below expected (their adjusted interval wholly below the overall expectation), the
    lowest upper bound first, with the reason families where their repeats most exceed the expected ones
    (`sums`: `card_sums`)."""
    cols = ["agent", "contacts", "observed_fcr", "expected_fcr", "adjusted_high", "falls_short_on"]
    below = card[card["verdict"] == "below expected"].sort_values("adjusted_high")
    if not len(below):
        return pd.DataFrame(columns=cols)
    by_family = sums.groupby(level=["agent", "family"]).sum()
    excess = pd.DataFrame({"sum": by_family["repeats"] - by_family["expected_repeats"],
                           "size": by_family["contacts"].astype(np.int64)}).reset_index()
    excess = excess[excess["agent"].isin(set(below["group"]))]
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


SHOWN = {
    "rank": "rank",
    "group": "agent",
    "contacts": "contacts handled",
    "observed_fcr": "resolution rate",
    "expected_fcr": "resolution rate expected for their contacts",
    "adjusted_fcr": "adjusted resolution rate",
    "adjusted_low": "adjusted from",
    "adjusted_high": "adjusted to",
    "verdict": "verdict",
}
PCT = ("observed_fcr", "expected_fcr", "adjusted_fcr", "adjusted_low", "adjusted_high")


def card_bars(card: pd.DataFrame, who: str) -> str:
    """The ranked groups' adjusted FCR with its interval (the 12 highest and 12 lowest when there are many)."""
    ranked = card[card["rank"].notna()]
    if len(ranked) > 25:
        ranked = pd.concat([ranked.head(12), ranked.tail(12)])
    return img(
        Bars(
            f"{who}: resolution rate adjusted for the contacts they got",
            [pretty(g) for g in ranked["group"]],
            ranked["adjusted_fcr"],
            "adjusted first-contact resolution",
            low=ranked["adjusted_low"],
            high=ranked["adjusted_high"],
            groups=ranked["verdict"].to_numpy(),
            sort=False,
            colours={"better than expected": "green", "as expected": "sky", "below expected": "vermillion"},
        ),
        f"{who} scorecard",
    )


def card_table(card: pd.DataFrame, who: str, rows: int = 15) -> str:
    """The scorecard as a table: ranked, the best and the worst `rows`; not ranked (the adjustment cannot tell
    them apart): a line saying why and the measured figures only, never identical adjusted ones."""
    group = {"group": who[:-1].lower() if who.endswith("s") else who.lower()}
    why = card.attrs.get("not_ranked")
    if why:
        cols = ["group", "contacts", "observed_fcr", "expected_fcr", "verdict"]
        return str(
            Markup("<p class='note'>{}: not ranked. {}.</p>").format(who, why[:1].upper() + why[1:])
            + table(card[cols], PCT, labels=SHOWN | group)
        )
    show = pd.concat([card.head(rows), card[card["verdict"].isin(["below expected", "better than expected"])].tail(rows)])
    cols = list(SHOWN)
    return str(table(show.drop_duplicates("group")[cols], PCT, labels=SHOWN | group))


def scorecard_blocks(cards: dict[str, pd.DataFrame]) -> list[str]:
    """Bars of the ranked teams and agents, then their tables."""
    ranked = [(who, card) for who, card in (("Teams", cards["teams"]), ("Agents", cards["agents"])) if len(card)]
    bars = [card_bars(card, who) for who, card in ranked if card["rank"].notna().any()]
    return (["<div class='grid'>" + "".join(bars) + "</div>"] if bars else []) + [
        card_table(card, who) for who, card in ranked
    ]
