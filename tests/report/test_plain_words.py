"""Issue 25, the presentation half: scorecards on the headline's definition, agents the adjustment cannot
tell apart are not ranked, placeholder agent ids are not scored; words, numbers and charts a manager can use."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.diagnostics.scorecards import scored_rows
from report.scorecards import card_table, fair_scorecard


def test_scored_rows_are_first_contacts_of_real_agents():
    rows = pd.DataFrame(
        {
            "agent_id": ["A1", "none", " SYSTEM ", "0", "", None, "A2", "A3"],
            "status": ["labelled"] * 7 + ["censored"],
            "is_first_contact": [True] * 6 + [False, True],
            "channel": ["phone"] * 8,
        }
    )
    mask = scored_rows(rows, ["", "NONE", "SYSTEM", "0"])
    assert mask.tolist() == [True, False, False, False, False, False, False, False]
    assert scored_rows(rows, []).tolist() == [True, True, True, True, True, False, False, False]


def test_agents_the_adjustment_cannot_tell_apart_are_not_ranked_nor_given_one_figure():
    # Three agents, identical true rate: every adjusted FCR would be the overall one ("82.1% to 82.1%").
    rng = np.random.default_rng(0)
    groups = np.repeat(["A", "B", "C"], 300)
    y = (rng.uniform(size=900) < 0.18).astype(float)
    card = fair_scorecard(pd.Series(groups), y, np.full(900, 0.18), 30, 0.05)
    assert card.attrs["not_ranked"] and "chance" in card.attrs["not_ranked"]
    assert card["rank"].isna().all() and card["adjusted_fcr"].isna().all()
    assert set(card["verdict"]) == {"not told apart"}
    text = card_table(card, "Agents")
    assert "not ranked" in text and "Adjusted" not in text and "Rank" not in text

    two = fair_scorecard(pd.Series(groups[:600]), y[:600], np.full(600, 0.18), 30, 0.05)
    assert "only 2 of the agents" in two.attrs["not_ranked"] and two["rank"].isna().all()


def test_agents_that_differ_are_ranked_with_their_adjusted_figures():
    rng = np.random.default_rng(1)
    rates = np.linspace(0.05, 0.45, 8)
    groups = np.repeat([f"A{i}" for i in range(8)], 500)
    y = (rng.uniform(size=4000) < np.repeat(rates, 500)).astype(float)
    card = fair_scorecard(pd.Series(groups), y, np.full(4000, 0.25), 30, 0.05)
    assert card.attrs["not_ranked"] is None and card["rank"].tolist() == list(range(1, 9))
    assert card["adjusted_fcr"].nunique() == 8
    assert "Rank" in card_table(card, "Agents")
