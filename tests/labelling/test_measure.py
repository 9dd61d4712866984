"""FCR figures: Wilson intervals, segment tables, survey agreement; label agreement with the truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthetic.reasons import REASON_FAMILY
from labelling.config import LabelConfig
from synthetic.config import Messiness, SyntheticConfig
from labelling.measure import fcr_table, repeat_delay_histogram, survey_agreement, wilson_interval
from contract.schema import SourceSpec, normalise_contacts
from synthetic.centre import generate
from synthetic.truth import label_truth_agreement
from labelling.labeller import label_table
from labelling.measure import label_metrics, segment_tables
from hypothesis import HealthCheck, given, settings, strategies as st
import tests.labelling.reference_measure as reference
from labelling.measure import combine, data_end, label_figures, summarize
from tests.centre import centre


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(np.array([81, 0, 10]), np.array([263, 10, 10]))
    assert lo[0] == pytest.approx(0.2553, abs=1e-4) and hi[0] == pytest.approx(0.3662, abs=1e-4)
    assert lo[1] == 0 and hi[1] == pytest.approx(0.2775, abs=1e-4)   # zero successes: no negative bound
    assert hi[2] == pytest.approx(1.0) and lo[2] == pytest.approx(0.7225, abs=1e-4)


def _labelled(rows):
    df = pd.DataFrame(rows, columns=["status", "is_first_contact", "repeated", "channel"])
    df["repeated"] = df["repeated"].astype("boolean")
    return df


def test_fcr_counts_only_labelled_first_contacts():
    df = _labelled([("labelled", True, False, "phone"), ("labelled", True, True, "phone"),
                    ("labelled", True, False, "chat"), ("labelled", False, True, "chat"),
                    ("censored", True, None, "chat"), ("excluded", False, None, "chat")])
    overall = fcr_table(df).iloc[0]
    assert (overall.first_contacts, overall.resolved) == (3, 2)
    by = fcr_table(df, "channel").set_index("segment")
    assert by.loc["phone", "fcr"] == 0.5 and by.loc["chat", "fcr"] == 1.0
    assert (by["ci_low"] <= by["fcr"]).all() and (by["fcr"] <= by["ci_high"]).all()


def test_repeat_delay_histogram_and_survey_agreement():
    df = pd.DataFrame({"next_contact_delay_s": [3600.0, 86_400 * 2.1, np.nan, 86_400 * 40],
                       "status": ["labelled"] * 4, "survey_resolved": pd.array([True, False, None, False]),
                       "tracking_repeated": pd.array([False, True, False, False])})
    h = repeat_delay_histogram(df, max_days=30, bin_hours=24)
    assert h["contacts"].sum() == 2 and h.loc[h["delay_days"] == 2, "contacts"].item() == 1
    s = survey_agreement(df)
    assert s["contacts_with_survey"] == 3 and s["agreement"] == pytest.approx(2 / 3)
    assert s["survey_not_resolved_but_no_repeat"] == 1


@pytest.fixture(scope="module")
def clean_synthetic():
    m = Messiness.default(anonymous=0, abandonment=True, duplicates=0.01, out_of_order=True, mixed_timezones=0.3,
                  dropped_calls=0.02, bad_rows=0)
    data = generate(SyntheticConfig.default(n_contacts=30_000, n_customers=6_000, n_agents=80, n_teams=8, messiness=m))
    contacts = normalise_contacts(data.contacts, SourceSpec(reason_families=REASON_FAMILY)).contacts
    return data, contacts


def test_labels_agree_with_generator_truth_exactly_where_rules_match(clean_synthetic):
    data, contacts = clean_synthetic
    # The generator's rules: same issue = same reason family, abandoned retries are attempts, no survey.
    cfg = LabelConfig.default(window_days=7, match="reason_family", survey_override=False)
    labelled = label_table(contacts, cfg)
    agreement = label_truth_agreement(labelled, data.truth, cfg.window_days)
    print({k: v for k, v in agreement.items() if not k.startswith("_")})
    assert agreement["contacts_unconfounded"] > 0.95 * agreement["contacts_compared"]
    assert agreement["agreement_unconfounded"] == 1.0, agreement["_disagreeing_ids"]
    assert agreement["agreement"] > 0.97
    # a rule that differs from the generator's (same code only) misses the recoded repeats
    strict = label_truth_agreement(label_table(contacts, cfg.model_copy(update={"match": "same_reason"})),
                                   data.truth, 7)
    assert strict["agreement_unconfounded"] < 0.99


def test_stage_metrics_account_for_every_row(clean_synthetic):
    _, contacts = clean_synthetic
    labelled = label_table(contacts, LabelConfig.default())
    m = label_metrics(labelled, LabelConfig.default().model_dump(), segment_tables(labelled))
    c = m["counts"]
    assert c["labelled"] + c["censored"] + c["excluded"] == c["rows_in"] == len(contacts)
    assert 0.6 < m["fcr"]["fcr"] < 0.9
    assert set(m["fcr_by_channel"]) == {"phone", "chat", "email", "social", "self_service"}
    assert sum(v["first_contacts"] for v in m["fcr_by_channel"].values()) == m["fcr"]["first_contacts"]
    assert 0.6 < m["survey_vs_tracking"]["agreement"] < 0.95  # noisy survey: two imperfect measurements


def test_signal_agreement_only_where_the_tracking_window_is_over():
    from labelling.measure import signal_agreement

    t0 = pd.Timestamp("2025-03-03", tz="UTC")
    df = pd.DataFrame({
        "started_at": [t0, t0 + pd.Timedelta(days=1), t0 + pd.Timedelta(days=2), t0 + pd.Timedelta(days=20)],
        "tracking_repeated": pd.array([False, True, False, False]),
        "resolution_signal": pd.array([True, True, False, True], dtype="boolean")})
    s = signal_agreement(df, window_days=7, as_of=None)
    # the last contact's window ends after the data: left out; of the others, one of three disagree each way
    assert s["contacts_with_signal"] == 3 and s["agreement"] == pytest.approx(1 / 3)
    assert s["signal_resolved_but_repeated"] == 1 and s["signal_not_resolved_but_no_repeat"] == 1
    assert s["crosstab"] == {"signal=False": {"tracking=False": 0, "tracking=True": 1},
                             "signal=True": {"tracking=False": 1, "tracking=True": 1}}
    assert signal_agreement(df.drop(columns="resolution_signal"), 7, None)["contacts_with_signal"] == 0


def test_sanity_warnings_name_what_looks_wrong():
    from labelling.measure import sanity_warnings

    t0 = pd.Timestamp("2025-03-03", tz="UTC")
    n = 10
    df = pd.DataFrame({
        "started_at": [t0 + pd.Timedelta(hours=i) for i in range(n)],
        "customer_id": [f"u{i}" for i in range(n - 4)] + [None] * 4,
        "status": ["censored"] * 6 + ["excluded"] * 4,
        "excluded_reason": [""] * 6 + ["anonymous_customer"] * 4,
        "tracking_repeated": pd.array([False] * 6 + [None] * 4, dtype="boolean")})
    figures, warnings = sanity_warnings(df, window_days=7, max_merged_share=0.2)
    assert figures["anonymous_share"] == 0.4 and figures["returning_customer_share"] == 0.0
    assert figures["merged_share"] == 0.0
    text = " | ".join(warnings)
    for part in ("40% of contacts are anonymous", "100% of handled contacts are censored",
                 "only 0.0% of customers have more than one contact", "the data spans 0.4 days",
                 "repeat tracking finds 0.0%", "check label.match"):
        assert part in text
    assert "merged" not in text


def test_merged_share_warns_above_the_threshold_with_the_likely_cause():
    from labelling.measure import sanity_warnings

    t0 = pd.Timestamp("2025-03-03", tz="UTC")
    df = pd.DataFrame({
        "started_at": [t0 + pd.Timedelta(days=i) for i in range(40)],
        "customer_id": [f"u{i % 4}" for i in range(40)],
        "status": ["labelled"] * 10 + ["excluded"] * 30,
        "excluded_reason": [""] * 10 + ["merged"] * 30,
        "tracking_repeated": pd.array([False] * 10 + [None] * 30, dtype="boolean")})
    figures, warnings = sanity_warnings(df, window_days=1, max_merged_share=0.2)
    assert figures["merged_share"] == 0.75
    text = " | ".join(warnings)
    assert "75.0% of contacts were merged" in text and "ended_at is mapped to a ticket's close" in text
    # the implausible repeat rate now blames the merges, not the reason codes
    assert "merges above most likely swallowed the repeats" in text and "check label.match" not in text
    assert not [w for w in sanity_warnings(df, 1, max_merged_share=0.8)[1] if "merged" in w]


def test_cohen_kappa_is_scikit_learns_to_the_bit():
    from sklearn.metrics import cohen_kappa_score
    from scipy.stats import norm

    from labelling.measure import cohen_kappa

    rng = np.random.default_rng(0)
    for n, p, q in [(10, 0.5, 0.5), (1000, 0.8, 0.3), (100_000, 0.9, 0.95), (7, 0.3, 0.6)]:
        a = rng.random(n) < p
        b = np.where(rng.random(n) < 0.7, a, rng.random(n) < q)
        if len(set(a)) > 1 and len(set(b)) > 1:
            assert cohen_kappa(a, b) == float(cohen_kappa_score(a, b))
    # and the interval's normal quantile is scipy.stats.norm's
    for level in (0.8, 0.9, 0.95, 0.99):
        lo, hi = wilson_interval(np.array([3.0]), np.array([10.0]), level)
        z = norm.ppf(0.5 + level / 2)
        p, n = 0.3, 10.0
        centre, half = (p + z**2 / (2 * n)) / (1 + z**2 / n), z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
        assert (lo[0], hi[0]) == (centre - half, centre + half)


def test_count_equal_counts_categories_as_text():
    from labelling.measure import count_equal

    values = pd.Series(["merged", "", None, "merged", "abandoned"], dtype="str")
    for column in (values, values.astype("category"), pd.Series(pd.Categorical(values, categories=["merged", "x"]))):
        assert count_equal(column, "merged") == int((column.astype("str") == "merged").sum()) == 2
        assert count_equal(column, "nan") == int((column.astype("str") == "nan").sum())
    assert count_equal(pd.Series([True, False, True]).astype("category"), "True") == 2


def test_returning_share_from_runs_is_value_counts():
    from labelling.measure import returning_share

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 300, 2000).astype(str).tolist()
    for values in (sorted(ids) + [None] * 7, ids + [None], ["x"], [None], []):
        column = pd.Series(values, dtype="str")
        counts = column.dropna().value_counts()
        assert returning_share(column) == (float((counts > 1).mean()) if len(counts) else None)


# the figures from summaries (issue 28): the same as on the whole table, and additive over customers


@pytest.fixture(scope="module")
def labelled_frames() -> dict[str, pd.DataFrame]:
    """The default centre's shape (anonymous contacts included) labelled, with an outcome signal added (NA on a
    fifth), its segments as text and as the stage reads them (categoricals)."""
    contacts = centre(SyntheticConfig.default(n_contacts=12_000, n_customers=2_500, n_agents=40, n_teams=5,
                                              days=120))[1]
    rng = np.random.default_rng(1)
    signal = pd.array(rng.random(len(contacts)) < 0.7, dtype="boolean")
    signal[rng.random(len(contacts)) < 0.2] = pd.NA
    labelled = label_table(contacts.assign(resolution_signal=signal), LabelConfig.default())
    categorical = ["channel", "reason_family", "team", "disposition"]
    return {"text": labelled, "categorical": labelled.astype({c: "category" for c in categorical})}


def _customer_pieces(labelled: pd.DataFrame, pieces: int, seed: int) -> list[pd.DataFrame]:
    """`labelled` split by customer into `pieces` frames (anonymous contacts anywhere), each in stored order."""
    rng = np.random.default_rng(seed)
    codes, uniques = pd.factorize(labelled["customer_id"])
    of_customer = rng.integers(0, pieces, len(uniques) + 1)
    piece = np.where(codes >= 0, of_customer[codes], rng.integers(0, pieces, len(labelled)))
    return [labelled[piece == i] for i in range(pieces)]


def _same_figures(got: tuple, want: tuple) -> None:
    """label_figures' outputs equal: the metrics to the bit and in key order, the tables with their dtypes."""
    assert json.dumps(got[0], default=str) == json.dumps(want[0], default=str)
    assert got[1].keys() == want[1].keys()
    for name in want[1]:
        pd.testing.assert_frame_equal(got[1][name], want[1][name], check_exact=True)
    pd.testing.assert_frame_equal(got[2], want[2], check_exact=True)


RULES = st.sampled_from([{}, {"window_days": 3}, {"as_of": "2025-03-01T00:00:00+00:00"},
                         {"window_days": 14, "max_merged_share": 0.001}])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["text", "categorical"]), share=st.floats(0.002, 1.0), seed=st.integers(0, 10**6),
       update=RULES)
def test_figures_from_the_summary_are_the_old_whole_table_figures(labelled_frames, kind, share, seed, update):
    """On any set of customers: metrics/label.json's figures, the FCR tables and the delay histogram from
    `summarize` + `label_figures` are those the label stage computed on the whole table before (kept in
    tests/labelling/reference_measure.py), float for float."""
    labelled = labelled_frames[kind]
    customers = labelled["customer_id"].dropna().unique()
    keep = np.random.default_rng(seed).random(len(customers)) < share
    frame = labelled[labelled["customer_id"].isin(customers[keep]).to_numpy()]
    rules = LabelConfig.default(**update).model_dump()
    tables = reference.segment_tables(frame)
    want = reference.label_metrics(frame, rules, tables), tables, reference.repeat_delay_histogram(frame)
    summary = summarize(frame, rules["window_days"], data_end(frame["started_at"], rules["as_of"]))
    _same_figures(label_figures(summary, rules), want)
    assert label_metrics(frame, rules, segment_tables(frame)) == want[0]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["text", "categorical"]), pieces=st.integers(1, 7), seed=st.integers(0, 10**6),
       update=RULES)
def test_summaries_of_any_split_by_customer_combine_to_the_whole(labelled_frames, kind, pieces, seed, update):
    labelled = labelled_frames[kind]
    rules = LabelConfig.default(**update).model_dump()
    end = data_end(labelled["started_at"], rules["as_of"])
    whole = label_figures(summarize(labelled, rules["window_days"], end), rules)
    split = _customer_pieces(labelled, pieces, seed)
    assert sum(len(p) for p in split) == len(labelled)
    combined = combine([summarize(p, rules["window_days"], end) for p in split])
    _same_figures(label_figures(combined, rules), whole)
    assert whole[0]["signal_vs_tracking"]["contacts_with_signal"] > 1000  # every figure has something to add up
    assert whole[0]["survey_vs_tracking"]["contacts_with_survey"] > 500 and whole[0]["sanity"]["merged_share"] > 0


def test_an_empty_piece_adds_nothing(labelled_frames):
    labelled = labelled_frames["categorical"]
    end = data_end(labelled["started_at"], None)
    rules = LabelConfig.default().model_dump()
    whole = label_figures(summarize(labelled, 7, end), rules)
    combined = combine([summarize(labelled.iloc[:0], 7, end), summarize(labelled, 7, end),
                        summarize(labelled.iloc[:0], 7, end)])
    _same_figures(label_figures(combined, rules), whole)
