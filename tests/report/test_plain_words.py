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


def test_conditions_carry_their_unit_and_never_scientific_notation():
    from report.words import condition_words, number

    assert condition_words(("gt", 39.5), "contacts") == "more than 39 contacts"
    assert condition_words(("le", 1.0), "contacts") == "1 contact or fewer"
    assert condition_words(("gt", 0.99), "share") == "above 99%"
    assert condition_words(("gt", 0.995), "share") == "above 99.5%"
    assert condition_words(("gt", 0.4), "share") == "above 40%"
    assert condition_words(("gt", 0.81), "days") == "more than 19 hours"
    assert condition_words(("le", 3.5), "days") == "3.5 days or less"
    assert condition_words(("gt", 95.0), "seconds") == "more than 1.6 minutes"
    assert condition_words(("gt", 17.0), "hour") == "from 18:00 on"
    assert condition_words(("le", 4.0), "weekday") == "Friday or earlier"
    assert condition_words(("gt", 0.0), "flag") == "yes"
    assert condition_words(("eq", "220"), None) == "\u201c220\u201d"
    assert number(15734.2) == "15,734" and number(0.8125) == "0.81" and number(1.5e-5) == "0"
    assert "e+" not in number(1.57e4) and "e-" not in number(3e-7)


def _driver_frames(n: int = 2000, days: float = 28.0):
    from tests.report.exports import T0

    rng = np.random.default_rng(3)
    code = rng.choice(["220", "174", "301", "999"], n)
    risky = np.isin(code, ["220", "174"])
    count = rng.integers(0, 6, n).astype(float)
    repeated = rng.uniform(size=n) < np.where(risky, 0.4, 0.1) + 0.05 * (count > 2)
    table = pd.DataFrame(
        {
            "contact_id": [f"C{i}" for i in range(n)],
            "status": "labelled",
            "repeated": repeated,
            "started_at": T0 + pd.to_timedelta(np.linspace(0, days, n), unit="D"),
            "reason_code": pd.Categorical(code),
            "reason_family": pd.Categorical(code),  # no reason families: each code is its own
            "customer_contacts_90d": count,
            "customer_contacts_7d": count,
        }
    )
    shap = pd.DataFrame(
        {
            "contact_id": table["contact_id"],
            "shap_reason_code": np.where(risky, 0.5, -0.2),
            "shap_reason_family": np.where(risky, 0.4, -0.1),
            "shap_customer_contacts_90d": 0.2 * (count - 2.5),
            "shap_customer_contacts_7d": 0.1 * (count - 2.5),
        }
    )
    names = ["reason_code", "reason_family", "customer_contacts_90d", "customer_contacts_7d"]
    drivers = pd.DataFrame({"feature": names, "controllable": False})
    spec = {"features": [{"name": f, "family": "reason" if "reason" in f else "customer"} for f in names]}
    return drivers, spec, table, shap


def test_one_driver_for_the_reason_and_no_window_longer_than_the_data():
    from report.words import drivers_in_words

    words = drivers_in_words(*_driver_frames(days=28.0), top=8, significance=0.05)
    assert words["driver"].tolist()[0] == "reason for the contact"
    assert "kind of issue" not in words["driver"].tolist()  # the same split of the contacts, said once
    assert not any("90 days" in d for d in words["driver"])  # 90-day counts on 28 days of data
    assert any("7 days" in d for d in words["driver"])
    assert words["sentence"].iloc[0].startswith("Reason for the contact: \u201c")
    longer = drivers_in_words(*_driver_frames(days=120.0), top=8, significance=0.05)
    assert any("90 days" in d for d in longer["driver"])  # the check can fail: enough data, it is kept


def test_bar_labels_and_axes_have_thousands_separators_not_scientific_notation():
    import matplotlib

    matplotlib.use("Agg")
    from report.charts import Bars, draw

    fig = draw(Bars("Repeats by reason", ["a", "b"], [15734.0, 820.0], "repeat contacts", percent=False))
    fig.canvas.draw()
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_xticklabels()]
    texts.append(ax.xaxis.get_offset_text().get_text())
    assert " 15,734" in texts and " 820" in texts
    assert not [t for t in texts if "e+" in t or "e-" in t or "1e" in t], texts
    assert any("," in t for t in ax.get_xticklabels() for t in [t.get_text()])
