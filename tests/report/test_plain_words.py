"""Issue 25, the presentation half: scorecards on the headline's definition, agents the adjustment cannot
tell apart are not ranked, placeholder agent ids are not scored; words, numbers and charts a manager can use."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.diagnostics.scorecards import scored_rows
from report.scorecards import card_table, fair_scorecard


def test_scored_rows_are_labelled_contacts_of_real_agents():
    rows = pd.DataFrame(
        {
            "agent_id": ["A1", "none", " SYSTEM ", "0", "", None, "A2", "A3"],
            "status": ["labelled"] * 7 + ["censored"],
            "is_first_contact": [True] * 6 + [False, True],
            "channel": ["phone"] * 8,
        }
    )
    mask = scored_rows(rows, ["", "NONE", "SYSTEM", "0"])
    assert mask.tolist() == [True, False, False, False, False, False, True, False]  # follow-ups count too
    assert scored_rows(rows, []).tolist() == [True, True, True, True, True, False, True, False]


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

    assert condition_words(("gt", 39.5), "contacts") == "40 contacts or more"
    assert condition_words(("gt", 0.0), "contacts") == "1 contact or more"
    assert condition_words(("le", 0.0), "transfers") == "no transfers"
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


# --- the report on hand-written exports in the shapes of issue 25 ------------------------------------------

import re  # noqa: E402

import pytest  # noqa: E402

from report.config import ReportConfig  # noqa: E402
from report.build import build_report  # noqa: E402
from report.categories import top_and_others  # noqa: E402
from report.counts import contact_counts  # noqa: E402
from report.inputs import PRESENT  # noqa: E402
from tests.report.exports import busy_centre, export, labelled_contacts, report_inputs  # noqa: E402
from tests.report.test_build import JARGON, body_text, text_of  # noqa: E402

CFG = ReportConfig.default(min_segment_contacts=20, scorecard_min_contacts=10, top_categories=12)
SURVEY_WORDS = re.compile(r"what customers|said resolved|said were|how the contact felt|customers? (?:said|told)", re.I)
CONFIG_KEY = re.compile(
    r"\b(?:label|report|ingest|train|explain|featurize|files)\.[a-z_]+\b|champion '|params\.yaml", re.I
)
SCIENTIFIC = re.compile(r"\d(?:\.\d+)?e[+-]?\d+\b", re.I)
ERRORS = re.compile(r"Traceback|\w+Error\b|Exception", re.I)


def _rows(many_reasons: bool = False, placeholder: bool = False) -> list[tuple]:
    rows = busy_centre(seed=5, customers=500)
    out = []
    for i, (cust, day, ch, reason, agent, team, x, survey) in enumerate(rows):
        if many_reasons:
            reason = f"{(i * 7) % 60 + 200}"  # 60 numeric codes, no families
        if placeholder and i % 5 == 0:
            agent = "NONE"
        out.append((cust, day, ch, reason, agent, team, x, survey))
    return out


def shape(name: str):
    """(report inputs, words the page must hold) for one shape of issue 25."""
    if name == "no_agents":
        return report_inputs(export(_rows(), drop=("agent_id",))), ["no agent column"]
    if name == "no_reason_families":
        df = export(_rows(many_reasons=True))
        df["reason_family"] = df["reason_code"]
        return report_inputs(df), ['alt="FCR by reason"']
    if name == "placeholder_agent":
        return report_inputs(export(_rows(placeholder=True))), ["resolution rate"]
    inp = report_inputs(export(_rows(), drop=("survey_resolved",)))
    labelled = labelled_contacts(export(_rows(), drop=("survey_resolved",)))
    rng = np.random.default_rng(2)
    flip = rng.uniform(size=len(labelled)) < 0.2
    resolved = ~labelled["tracking_repeated"].fillna(False).to_numpy(dtype=bool) ^ flip
    inp.counts = contact_counts(labelled.assign(resolution_signal=pd.array(resolved, dtype="boolean")), "UTC", PRESENT)
    if name == "reopen_count":
        inp.signal = {"column": "resolution_signal", "source_column": "ReopenCount", "kind": "count",
                      "resolved_when": "zero"}
        return inp, ["\u201cReopenCount\u201d at 0", "\u201cReopenCount\u201d above 0", "the count"]
    inp.signal = {"column": "resolution_signal", "source_column": "Escalated", "kind": "flag", "resolved_when": False}
    return inp, ["\u201cEscalated\u201d not set", "\u201cEscalated\u201d set", "the flag"]


SHAPES = ["no_agents", "no_reason_families", "reopen_count", "escalation_flag", "placeholder_agent"]


def check_page(html: str, must: list[str]) -> str:
    """What a manager must never see, and the words the shape must bring; returns the body text."""
    body = body_text(html)
    assert "&lt;" not in re.sub(r"<td>[^<]*</td>", "", html) and not re.search(r"<\s*/?\s*h\d", text_of(html))
    outside = text_of(re.sub(r'<section id="analysts".*?</section>', " ", html, flags=re.S))  # <code> too
    assert not CONFIG_KEY.search(outside), CONFIG_KEY.search(outside)
    assert not JARGON.findall(body), JARGON.findall(body)[:5]
    assert not SCIENTIFIC.search(text_of(html)), SCIENTIFIC.search(text_of(html))
    assert not ERRORS.search(text_of(html)), ERRORS.search(text_of(html))
    for words in must:
        assert words in (html if words.startswith("alt=") else body), (words, body[:3000])
    return body


@pytest.mark.parametrize("name", SHAPES)
def test_report_on_each_shape_speaks_plainly(name):
    inp, must = shape(name)
    r = build_report(inp, CFG)
    body = check_page(r.html, must)
    if name in ("reopen_count", "escalation_flag"):
        assert not SURVEY_WORDS.search(body), SURVEY_WORDS.search(body)
        assert "What customers say" not in body
    if name == "no_reason_families":
        fam = r.tables["fcr_by_reason_family"]
        assert len(fam) == 60  # the CSV keeps every reason; the chart pools all but the largest 12
        shown = top_and_others(fam.assign(note=""), CFG.top_categories, CFG.significance, 20)
        assert len(shown) == 13 and shown["segment"].iloc[-1] == "all others (48 more)"
        assert shown["first_contacts"].sum() == fam["first_contacts"].sum()
        assert shown["resolved"].sum() == fam["resolved"].sum()
        assert not any(w.startswith("kind of issue") for w in r.tables["drivers_in_words"]["driver"])
    if name == "placeholder_agent":
        agents = set(r.tables["scorecard_agents"]["group"])
        assert agents and "NONE" not in agents
        counted = inp.table[scored_rows(inp.table, CFG.placeholder_agents)]
        assert (counted["status"] == "labelled").all() and (counted["agent_id"] != "NONE").all()


def test_the_page_check_can_fail():
    with pytest.raises(AssertionError):
        check_page("<p>label.match: champion 'reason_family'</p>", [])
    with pytest.raises(AssertionError):
        check_page("<p>1.57e+04 repeats</p>", [])
    with pytest.raises(AssertionError):
        check_page("<p>&lt;h3&gt;FCR by number of transfers&lt;/h3&gt;</p>", [])
    with pytest.raises(AssertionError):
        check_page("<p>KeyError: 'x'</p>", [])


@pytest.mark.slow
@pytest.mark.parametrize("name", SHAPES)
def test_each_shape_in_a_real_browser(tmp_path, name):
    from tests.report.browser import BROWSERS, WIDTHS, dump_dom, find_browser

    if find_browser() is None:
        pytest.skip(f"no headless browser: none of {BROWSERS} on PATH and FCR_BROWSER unset")
    inp, must = shape(name)
    page = tmp_path / f"{name}.html"
    page.write_text(build_report(inp, CFG).html)
    dom, attrs, console = dump_dom(page, WIDTHS["desktop"], tmp_path / "profile")
    assert not console and attrs["errors"] == "0" and attrs["charts"] == attrs["charts-rendered"], (console, attrs)
    check_page(dom, must)
