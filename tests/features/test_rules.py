"""The rules' parts (features/rules.py) on subsets of the rows: each is exact on rows that hold whole groups
(what the Dask engine hands it), `matured_at` is `matured_sums` at any query times (brute force), and
`derived` is their composition."""

from __future__ import annotations

import numpy as np
import pytest

from features import rules
from features.history import GroupIndex, matured_at
from features.rules import DAY, MISSING_TIME, Inputs

WINDOW = 7 * DAY


def random_inputs(seed: int, n: int = 3000) -> Inputs:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 120 * DAY, n)
    t[: n - 1 : 9] = t[1::9]  # ties in time
    labelled = rng.random(n) < 0.7
    agent = rng.integers(-1, 25, n)
    return Inputs(t=t, customer=rng.integers(-1, 400, n), channel=rng.integers(0, 3, n), family=rng.integers(0, 4, n),
                  reason=rng.integers(-1, 12, n), agent=agent, team=np.where(agent >= 0, agent % 4, -1),
                  signup=np.full(n, MISSING_TIME), hired=rng.integers(-400 * DAY, 0, n), labelled=labelled,
                  repeated=(rng.random(n) < 0.3) & labelled)


def test_matured_at_is_matured_sums_at_any_query_time():
    rng = np.random.default_rng(1)
    times = rng.integers(0, 40 * DAY, 500)
    w = rng.integers(0, 4, 500)  # counts per entry (per-second totals), not only 0/1
    t = np.r_[rng.integers(0, 50 * DAY, 300), times[:50] + WINDOW, times[50:60] + WINDOW + 1]  # boundaries
    (got,) = matured_at(times, [w], t, WINDOW)
    want = np.array([w[times < q - WINDOW].sum() for q in t])
    assert (got == want).all() and want.max() > 0 and (want == 0).any()


def test_overall_counts_from_per_second_totals_equal_the_one_group_counts():
    x = random_inputs(2)
    whole = rules.group_counts(np.zeros(len(x.t), dtype=np.int64), x.t, x.labelled, x.repeated, WINDOW)
    seconds, inverse = np.unique(x.t[x.labelled], return_inverse=True)
    repeats = np.bincount(inverse, weights=x.repeated[x.labelled]).astype(np.int64)
    labelled = np.bincount(inverse).astype(np.int64)
    got = rules.overall_counts(x.t, seconds, repeats, labelled, WINDOW)
    assert (got[0] == whole[0]).all() and (got[1] == whole[1]).all() and whole[1].max() > 1000


@pytest.mark.parametrize("seed", [3, 4])
def test_group_parts_are_exact_on_rows_holding_whole_groups(seed):
    """Counts, agent contacts today and customer history of a subset of whole groups are the whole table's."""
    x = random_inputs(seed)
    for group in (x.reason, x.team, x.agent, rules.pair_codes(x.agent, x.family)):
        whole = rules.group_counts(group, x.t, x.labelled, x.repeated, WINDOW)
        rows = np.flatnonzero(np.isin(group, [0, 2, 3, -1]))
        part = rules.group_counts(group[rows], x.t[rows], x.labelled[rows], x.repeated[rows], WINDOW)
        assert (part[0] == whole[0][rows]).all() and (part[1] == whole[1][rows]).all()
    today = rules.agent_contacts_today(x.agent, x.t)
    rows = np.flatnonzero(x.agent % 3 == 1)
    np.testing.assert_array_equal(rules.agent_contacts_today(x.agent[rows], x.t[rows]), today[rows])
    assert np.nanmax(today) >= 1
    features, (events, trials) = rules.customer_history(x, 7.0)
    rows = np.flatnonzero(x.customer % 5 == 2)
    sub = Inputs(**{k: v[rows] for k, v in vars(x).items() if v is not None})
    part_features, (part_events, part_trials) = rules.customer_history(sub, 7.0)
    for name, values in features.items():
        np.testing.assert_array_equal(part_features[name], values[rows], err_msg=name)
    assert (part_events == events[rows]).all() and (part_trials == trials[rows]).all() and trials.max() > 3


def test_derived_is_the_composition_of_the_parts():
    x = random_inputs(5)
    window = rules.window_seconds(7.0)
    f = rules.row_features(x)
    history, customer = rules.customer_history(x, 7.0)
    f.update(history)
    groups = {"global": np.zeros(len(x.t), dtype=np.int64), "reason_family": x.family, "reason_code": x.reason,
              "team": x.team, "agent": x.agent, "agent_family": rules.pair_codes(x.agent, x.family)}
    counts = {g: rules.group_counts(v, x.t, x.labelled, x.repeated, window) for g, v in groups.items()}
    counts["customer"] = customer
    asked = []
    f.update(rules.rates(lambda g: asked.append(g) or counts[g], x, 20.0))
    f["agent_contacts_today"] = rules.agent_contacts_today(x.agent, x.t)
    want = rules.derived(x, 7.0, 20.0)
    assert sorted(asked) == sorted(counts) and set(f) == set(want)
    for name, values in want.items():
        np.testing.assert_array_equal(f[name], values, err_msg=name)
    # the index margin a caller builds with does not change the counts
    wide = GroupIndex.build(x.agent, x.t, margin=90 * DAY)
    np.testing.assert_array_equal(rules.group_counts(x.agent, x.t, x.labelled, x.repeated, window, index=wide)[1],
                                  counts["agent"][1])
