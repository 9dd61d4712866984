"""Property: every chart and table built on a Wilson interval holds for any counts (n from 0 to 10^7,
successes 0..n), including the float edges that once gave negative error bars (bounds of 0.9999999 or
5.55e-17 around a point of 1 or 0)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from report import measures as ms
from report.build import PCT, _segment_bars, _with_interval
from report.charts import Bars, Lines, draw
from report.html import table

COUNTS = st.integers(0, 10**7).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))
EDGES = st.sampled_from([(0, 0), (1, 0), (1, 1), (10**7, 0), (10**7, 10**7), (10**7, 10**7 - 1), (3, 3)])


def segment_table(counts: list[tuple[int, int]]) -> pd.DataFrame:
    n = np.array([c[0] for c in counts], dtype=np.int64)
    r = np.array([c[1] for c in counts], dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fcr = np.where(n > 0, r / np.maximum(n, 1), np.nan)
    return pd.DataFrame({"segment": [f"s{i}" for i in range(len(n))], "first_contacts": n, "resolved": r, "fcr": fcr})


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(COUNTS, EDGES), min_size=0, max_size=6), st.floats(0.001, 0.2))
def test_intervals_charts_and_tables_hold_for_any_counts(counts, significance):
    t = _with_interval(segment_table(counts), significance, 100)
    low, high = t["ci_low"].to_numpy(), t["ci_high"].to_numpy()
    has = t["first_contacts"].to_numpy() > 0
    assert ((low[has] >= 0) & (high[has] <= 1) & (low[has] <= high[has])).all()
    assert (low[has] <= t["fcr"].to_numpy()[has] + 1e-12).all() and (
        t["fcr"].to_numpy()[has] <= high[has] + 1e-12
    ).all()
    assert (t["note"] == np.where(t["first_contacts"] < 100, "too few contacts", "")).all()
    html = str(table(t, PCT))
    assert "nan" not in html.lower() and "inf" not in html.lower()
    seen = t[has]
    for spec in (
        Bars(
            "any",
            seen["segment"],
            seen["fcr"],
            "FCR",
            low=seen["ci_low"],
            high=seen["ci_high"],
            target=0.8,
            muted=(seen["note"] != "").to_numpy(),
        ),
        Lines("any", list(range(len(seen))), {"FCR": seen["fcr"]}, "FCR", band=(seen["ci_low"], seen["ci_high"])),
    ):
        fig = draw(spec)
        assert fig.axes
        import matplotlib.pyplot as plt

        plt.close(fig)
    assert _segment_bars(t[has], "team", 0.8).startswith('<img class="chart"')


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(COUNTS, EDGES), min_size=2, max_size=2))
def test_period_comparison_and_its_test_hold_for_any_counts(counts):
    (n1, r1), (n2, r2) = counts
    p = ms.two_proportion_p(r1, n1, r2, n2)
    assert (p is None) == (n1 == 0 or n2 == 0)
    assert p is None or 0 <= p <= 1


def test_error_bars_never_negative_at_float_edges():
    """The crash of issue 14: a bound a hair on the wrong side of the point."""
    fig = draw(Bars("edges", ["a", "b"], [1.0, 0.0], "FCR", low=[0.9999999, 5.55e-17], high=[1.0, 0.0]))
    assert fig.axes
