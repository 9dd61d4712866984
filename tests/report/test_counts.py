"""The report measures counts of the contacts (report/counts.py), not the contacts: every figure from the counts
equals the figure from the contacts themselves (each a count of one), in any time zone (days cut in the
report's zone keep months and weeks whole, DST and half-hour zones included), and the counts of customer
partitions combined equal the counts of the whole table, however the customers are split (hypothesis).
On the exports of tests/report/exports.py and every real-export fixture under tests/, through ingest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelling.measure import WEIGHT, fcr_by_count, fcr_table, weekly_fcr
from report import measures as ms
from report.counts import VIEWS, ContactCounts, combine, contact_counts
from report.inputs import PRESENT
from tests.contract.test_shapes import SHAPES
from tests.engine.test_label import ingested
from tests.real_exports import EXPORTS
from tests.report.exports import busy_centre, export, labelled_contacts, scenarios

ZONES = ["UTC", "Pacific/Auckland", "America/New_York", "Asia/Kolkata"]
SEGMENTS = ["channel", "team"]  # (reason family and reason code: from the reason view)


def figures(c: pd.DataFrame | ContactCounts, tz: str) -> dict:
    """Every figure report/build.py `measure` takes from the contacts (or from their counts' views)."""
    view = (lambda name: c.views[name]) if isinstance(c, ContactCounts) else (lambda name: c)
    base = view("channel_team")
    segs = [s for s in SEGMENTS if s in base.columns and base[s].notna().any()]
    segs += [s for s in ("reason_family", "reason_code") if view("reason")[s].notna().any()]
    by_seg = {s: view("reason" if s.startswith("reason") else "channel_team") for s in segs}
    cal = ms.Calendar.of(base, tz, 7.0, None, 20)
    out = {
        "months": ms.month_counts(base, cal),
        "periods": ms.periods(base, cal),
        "comparison": ms.period_comparison(base, 0.7, 0.05, cal),
        "movers": ms.movers(by_seg, 5, 0.05, 10, cal),
        "reasons": ms.monthly_reasons(view("reason"), {}, 10, cal),
        "team_weeks": ms.team_weeks(base, {}, 0.7, 12, 5, 0.05, tz),
        "signal": ms.signal_agreement(view("signal"), "channel" if "channel" in segs else None, 0.05),
        "weekly": weekly_fcr(base, tz=tz),
        "overall": fcr_table(base),
        **{f"by_{s}": fcr_table(frame, s) for s, frame in by_seg.items()},
    }
    if "transfers" in view("transfers") and view("transfers")["transfers"].notna().any():
        out["transfers"] = fcr_by_count(view("transfers"), "transfers")
    return out


def assert_same(got: object, want: object, where: str = "") -> None:
    if isinstance(want, pd.DataFrame):
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), obj=where)
    elif isinstance(want, pd.Series):
        pd.testing.assert_series_equal(got, want, check_names=False, obj=where)
    elif isinstance(want, dict):
        assert got.keys() == want.keys(), where
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, tuple):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    else:
        assert got == want, where


def by_customers(labelled: pd.DataFrame, groups: np.ndarray, tz: str) -> list[ContactCounts]:
    """The counts of each customer partition (`groups`: a partition per customer, in order of first appearance)."""
    customer = pd.factorize(labelled["customer_id"])[0]
    part = np.where(customer >= 0, groups[np.maximum(customer, 0) % len(groups)], 0)
    return [contact_counts(labelled[part == k], tz, PRESENT) for k in np.unique(part)]


def test_counts_grow_with_days_and_values_not_with_contacts():
    """Twenty customers for each one, with the same contacts: twenty times the contacts, the same count rows."""
    labelled = _ordinary()
    many = pd.concat([labelled.assign(customer_id=labelled["customer_id"].astype(str) + f"-{i}",
                                      episode_id=labelled["episode_id"].astype(str) + f"-{i}") for i in range(20)],
                     ignore_index=True)
    one, twenty = contact_counts(labelled, "UTC", PRESENT), contact_counts(many, "UTC", PRESENT)
    assert one.views.keys() == twenty.views.keys() == set(VIEWS)
    for name, view in one.views.items():
        assert view[WEIGHT].sum() == len(labelled) and twenty.views[name][WEIGHT].sum() == len(many)
        pd.testing.assert_frame_equal(twenty.views[name].drop(columns=WEIGHT), view.drop(columns=WEIGHT))
        assert (twenty.views[name][WEIGHT] == 20 * view[WEIGHT]).all()
        assert view["started_at"].max() == labelled["started_at"].max()
    assert_same(twenty.switching, one.switching * 20)
    assert one.first_start == twenty.first_start == labelled["started_at"].min()


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("name", ["ordinary", "busy"])
def test_figures_from_counts_equal_figures_from_contacts(name, tz):
    contacts = export(busy_centre()) if name == "busy" else scenarios()[name]
    labelled = labelled_contacts(contacts)
    want = figures(labelled, tz)
    counts = contact_counts(labelled, tz, PRESENT)
    assert_same(figures(counts, tz), want, name)
    assert want["comparison"]["available"] and len(want["team_weeks"]) and want["signal"]["available"]
    assert_same(counts.switching, ms.channel_switching(labelled).astype(np.int64), "switching")
    split = combine(by_customers(labelled, np.arange(5), tz))
    assert_same(figures(split, tz), want, f"{name} in 5 customer partitions")
    assert_same(split.switching, counts.switching, "switching of partitions")


@pytest.mark.parametrize("name", [*SHAPES, *EXPORTS])
def test_real_export_fixtures_figures_from_counts_equal_figures_from_contacts(name, tmp_path):
    labelled = labelled_contacts(ingested(name, tmp_path))
    tz = "Pacific/Auckland" if name == "local_midnight" else "Europe/London"
    counts = combine(by_customers(labelled, np.arange(3), tz))
    assert_same(figures(counts, tz), figures(labelled, tz), name)
    assert counts.present == contact_counts(labelled, tz, PRESENT).present
    assert counts.has("agent_id") == bool("agent_id" in labelled and labelled["agent_id"].notna().any())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=st.lists(st.integers(0, 6), min_size=1, max_size=40), tz=st.sampled_from(ZONES))
def test_counts_of_any_customer_partitions_add_up_to_the_whole(groups, tz):
    labelled = _ordinary()
    whole = contact_counts(labelled, tz, PRESENT)
    parts = combine(by_customers(labelled, np.array(groups), tz))
    for name, view in whole.views.items():
        pd.testing.assert_frame_equal(_plain(parts.views[name][view.columns]), _plain(view), obj=name)
    assert parts.first_start == whole.first_start
    assert_same(parts.switching, whole.switching)
    assert parts.present == whole.present


def test_counts_in_another_zone_are_refused():
    from report.build import measure
    from report.config import ReportConfig
    from tests.report.exports import report_inputs

    inp = report_inputs(scenarios()["ordinary"], False, tz="UTC")
    with pytest.raises(ValueError, match="counted by day in UTC"):
        measure(inp, ReportConfig.default(timezone="Europe/Paris"))


_CACHE: dict[str, pd.DataFrame] = {}


def _ordinary() -> pd.DataFrame:
    if "ordinary" not in _CACHE:
        _CACHE["ordinary"] = labelled_contacts(scenarios()["ordinary"])
    return _CACHE["ordinary"]


def _plain(rows: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as their values (a partition's categories are its own values)."""
    return rows.astype({c: object for c in rows.columns if isinstance(rows[c].dtype, pd.CategoricalDtype)})


def test_naive_starts_are_utc_in_the_counts_as_in_the_rest_of_the_report():
    """A naive start is read as UTC everywhere: counted by day in New York, a Sunday-evening contact (UTC Monday
    01:00) and one of Sunday afternoon lie in one row, and the weekly figures are those of the same contacts
    given as UTC times (not cut at UTC midnight for some figures and at local midnight for others)."""
    labelled = _ordinary()
    naive = labelled.assign(started_at=labelled["started_at"].dt.tz_convert("UTC").dt.tz_localize(None))
    got = contact_counts(naive, "America/New_York", PRESENT)
    want = contact_counts(labelled, "America/New_York", PRESENT)
    assert_same(figures(got, "America/New_York"), figures(labelled, "America/New_York"))
    for name, view in want.views.items():
        pd.testing.assert_frame_equal(got.views[name], view, obj=name)
