"""Label contacts as resolved or repeated, with episodes and censoring.

In: contacts in contract form (see features/schema.py) and a `LabelConfig`. Out: one row per input
contact, in input order, with
- `status`: `labelled`, `censored` (window still open at the end of the data)
  or `excluded` (with `excluded_reason`: anonymous_customer, merged, abandoned);
- `repeated`: the customer came back about the same issue within the window (nullable; set for
  labelled rows only), `repeat_source` (`tracking` or `survey`), `tracking_repeated` (what repeat
  tracking alone says, before any survey override);
- `episode_id`, `contact_seq`, `is_first_contact`, `merged_into`, `next_contact_delay_s` (time to
  the next same-issue contact, even past the window: it shows whether the window is right),
  `window_end` (when the label matured).

The rules, precisely (the brute-force reference in tests/reference_labeller.py spells them out too):
1. Contacts are ordered by (started_at, contact_id) within each customer. Anonymous customers
   are never linked.
2. Merge: a contact that starts at most `merge_gap_s` after the end (ended_at, else started_at) of
   the same customer's previous contact is merged into that contact's group. The group is one
   contact: it keeps its first row's id, time, channel and reason; it is abandoned only if all its
   rows are; its survey answer is the last one given.
3. Candidates for a repeat are the handled contacts, plus the abandoned ones when
   `abandoned_counts_as_repeat`. Handled contact i is repeated when the next candidate of the same
   customer and the same issue key (reason code, reason family or any) starts within
   `window_days` of it (edge included; a tie in time counts when it is later in the order).
4. A handled contact whose window ends after the end of the data (`as_of`, default the latest
   started_at) is censored, even if a repeat was already seen (that would bias rates upward).
5. A survey answer "not resolved" makes a labelled contact repeated (source `survey`).
6. Episodes: within a customer and issue key, a handled contact more than a window after the
   previous handled one starts an episode; every candidate joins the episode of the latest handled
   contact within the window before it, or, abandoned with none, starts its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.config import LabelConfig

STATUSES = ("labelled", "censored", "excluded")
REPEAT_SOURCES = ("", "tracking", "survey")
LABEL_COLUMNS = ["status", "repeated", "tracking_repeated", "repeat_source", "excluded_reason", "merged_into",
                 "episode_id", "contact_seq", "is_first_contact", "next_contact_delay_s", "window_end"]
EXCLUDED_REASONS = ("", "anonymous_customer", "merged", "abandoned")
US = 1_000_000  # microseconds per second


def as_microseconds(s: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(s).as_unit("us").asi8


def _as_of_us(text: str) -> int:
    ts = pd.Timestamp(text)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1000)


def customer_time_order(cust: pa.Array, t: np.ndarray, ids: pa.Array) -> np.ndarray | None:
    """Permutation to (customer_id, missing last; started_at; contact_id) order, or None when the
    rows already are in it (ingest writes them so: every customer's history is contiguous)."""
    n = len(t)
    if n < 2:
        return None
    null = cust.is_null().to_numpy(zero_copy_only=False)
    if (np.diff(null.astype(np.int8)) >= 0).all():
        a, b = cust.slice(0, n - 1), cust.slice(1)
        lt = pc.fill_null(pc.less(a, b), False).to_numpy(zero_copy_only=False)
        eq = pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
        later = t[1:] > t[:-1]
        tie = eq & (t[1:] == t[:-1])
        ok = lt | (eq & later) | null[1:]
        idx = np.flatnonzero(tie)
        if len(idx):
            ok[idx] = pc.less(ids.take(pa.array(idx)), ids.take(pa.array(idx + 1))).to_numpy(zero_copy_only=False)
        if ok.all():
            return None
    table = pa.table({"c": cust, "t": t, "id": ids})
    return pc.sort_indices(table, sort_keys=[("c", "ascending", "at_end"), ("t", "ascending", "at_end"),
                                             ("id", "ascending", "at_end")]).to_numpy()


def _arrow(values: pd.Series) -> pa.Array:
    arr = pa.array(values)  # an Arrow-backed column converts without copying
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _codes(values: pd.Series) -> np.ndarray:
    """Integer codes of a column's values (-1 for missing), without Python objects."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64)
    return pc.dictionary_encode(_arrow(values)).indices.fill_null(-1).to_numpy().astype(np.int64)


def _is_abandoned(disposition: pd.Series) -> np.ndarray:
    if isinstance(disposition.dtype, pd.CategoricalDtype):
        cats = np.asarray(disposition.cat.categories.astype("str").str.lower() == "abandoned")
        codes = disposition.cat.codes.to_numpy()
        return (codes >= 0) & cats[np.maximum(codes, 0)] if len(cats) else np.zeros(len(codes), bool)
    return (disposition.astype("str").str.lower() == "abandoned").to_numpy(dtype=bool, na_value=False)


def label_contacts(contacts: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """Apply the labelling rules of the module docstring; returns one row per input row."""
    n = len(contacts)
    # Work in (customer, started_at, contact_id) order on plain arrays; ids stay Arrow strings.
    ids = _arrow(contacts["contact_id"].astype("str"))
    customers = _arrow(contacts["customer_id"].astype("str"))
    t_in = as_microseconds(contacts["started_at"])
    order = customer_time_order(customers, t_in, ids)
    sort = (lambda a: a) if order is None else (lambda a: a[order])  # ingest writes them sorted
    t = sort(t_in)
    if "ended_at" in contacts:
        end = np.maximum(sort(as_microseconds(contacts["ended_at"].fillna(contacts["started_at"]))), t)
    else:
        end = t.copy()
    # Known customers come first (anonymous last), each customer's rows contiguous and in time order.
    cs = customers if order is None else customers.take(pa.array(order))
    k = n - cs.null_count
    anon = np.zeros(n, bool)
    anon[k:] = True
    # same_prev[i]: row i has the same customer as row i - 1
    same_prev = np.zeros(k, bool)
    if k > 1:
        same_prev[1:] = pc.equal(cs.slice(1, k - 1), cs.slice(0, k - 1)).to_numpy(zero_copy_only=False)
    cust = np.full(n, -1, dtype=np.int64)
    cust[:k] = np.cumsum(~same_prev) - 1
    abandoned_row = sort(_is_abandoned(contacts["disposition"])) if "disposition" in contacts else np.zeros(n, bool)
    if "survey_resolved" in contacts:
        survey = contacts["survey_resolved"].astype("boolean")
        survey_known = sort(survey.notna().to_numpy())
        survey_val = sort(survey.fillna(True).to_numpy(dtype=bool))
    else:
        survey_known = survey_val = np.zeros(n, bool)
    window = int(round(cfg.window_days * 86_400 * US))
    as_of = _as_of_us(cfg.as_of) if cfg.as_of else (int(t.max()) if n else 0)

    # 2. Merge groups: start within merge_gap of the end of the customer's previous contact.
    gap_us = int(round(cfg.merge_gap_s * US))
    join = same_prev.copy()
    join[1:] &= t[1:k] - end[: k - 1] <= gap_us
    merged = np.zeros(n, bool)
    merged[:k] = join
    group_no = np.cumsum(~join) - 1
    first_of_group = np.flatnonzero(~join)
    rep = np.arange(n)  # representative row of each row (itself when not merged)
    rep[:k] = first_of_group[group_no]
    # Group attributes: abandoned only if all rows are; last survey answer.
    n_groups = len(first_of_group)
    all_abandoned = np.bincount(group_no, weights=~abandoned_row[:k], minlength=n_groups) == 0
    answered = np.flatnonzero(survey_known[:k])  # group numbers are non-decreasing along the rows
    g_ans = group_no[answered]
    last_of_group = np.r_[g_ans[1:] != g_ans[:-1], True] if len(answered) else np.zeros(0, bool)
    last_ans = np.full(n_groups, -1)
    last_ans[g_ans[last_of_group]] = answered[last_of_group]
    has = last_ans >= 0
    is_abandoned = abandoned_row.copy()
    is_abandoned[first_of_group] = all_abandoned
    s_known = survey_known.copy()
    s_val = survey_val.copy()
    s_known[first_of_group] = has
    s_val[first_of_group[has]] = survey_val[last_ans[has]]

    # 3. Candidates, partitioned by customer and issue key, in time order.
    if cfg.match == "any":
        key = np.zeros(n, dtype=np.int64)
    else:
        key = sort(_codes(contacts["reason_code" if cfg.match == "same_reason" else "reason_family"]))
    handled = ~anon & ~merged & ~is_abandoned
    cand_mask = handled | (~anon & ~merged & is_abandoned & cfg.abandoned_counts_as_repeat)
    # In customer order the partition keys are nearly sorted already: the stable sort runs fast.
    cand = np.flatnonzero(cand_mask)
    pkey = cust[cand] * (int(key.max(initial=0)) + 1) + key[cand]
    srt = np.argsort(pkey, kind="stable")
    cand, pkey = cand[srt], pkey[srt]
    tc = t[cand]
    same_next = np.r_[pkey[1:] == pkey[:-1], False]
    next_delay = np.where(same_next, np.r_[tc[1:], 0] - tc, -1)
    repeated_c = same_next & (next_delay <= window)
    tracking = np.zeros(n, bool)
    tracking[cand] = repeated_c
    delay = np.full(n, np.nan)
    delay[cand] = np.where(same_next, next_delay / US, np.nan)

    # 6. Episodes over candidates: handled rows start an episode after a window without handled.
    hc = handled[cand]
    same_prev_c = np.r_[False, pkey[1:] == pkey[:-1]]
    # time of the latest handled candidate at or before each position, within the partition
    idx_h = np.where(hc, np.arange(len(cand)), -1)
    last_h = np.maximum.accumulate(idx_h) if len(cand) else idx_h
    part_start = np.maximum.accumulate(np.where(~same_prev_c, np.arange(len(cand)), 0)) if len(cand) else idx_h
    prev_h = np.r_[-1, last_h[:-1]]
    prev_h = np.where(prev_h >= part_start, prev_h, -1)
    has_prev = prev_h >= 0
    within = has_prev & (tc - tc[np.maximum(prev_h, 0)] <= window)
    starts = ~within
    ep_no = np.cumsum(starts) - 1
    ep_first = cand[starts]
    episode_row = np.arange(n)
    episode_row[cand] = ep_first[ep_no]
    seq = np.ones(n, dtype=np.int64)
    pos = np.arange(len(cand))
    seq[cand] = pos - np.flatnonzero(starts)[ep_no] + 1
    episode_row[merged] = episode_row[rep[merged]]
    seq[merged] = seq[rep[merged]]

    # 4./5. Status, censoring, survey override.
    repeated = tracking.copy()
    # Censored: the window is not over, whether or not a repeat was already seen (counting the
    # early repeats but not the early non-repeats would bias every rate near the end of the data).
    censored = handled & (t + window > as_of)
    override = handled & ~censored & cfg.survey_override & s_known & ~s_val & ~tracking
    repeated |= override
    source = np.where(override, 2, np.where(tracking, 1, 0))  # codes of REPEAT_SOURCES
    excluded = np.where(anon, 1, np.where(merged, 2, np.where(is_abandoned, 3, 0)))  # EXCLUDED_REASONS

    # Back to input order.
    if order is None:
        unsort = sort
        row = np.arange(n)
    else:
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = np.arange(n)
        unsort = lambda a: a[inverse]  # noqa: E731
        row = order
    status_code = unsort(np.where(excluded > 0, 2, np.where(censored, 1, 0)))
    labelled = status_code == 0
    handled_in = unsort(handled)
    repeated_in = unsort(repeated)
    window_end = (t_in + window).astype("datetime64[us]")
    out = pd.DataFrame({
        "contact_id": pd.array(ids, dtype="str"),
        "status": pd.Categorical.from_codes(status_code, categories=list(STATUSES)),
        "repeated": pd.arrays.BooleanArray(repeated_in & labelled, ~labelled),
        "tracking_repeated": pd.arrays.BooleanArray(unsort(tracking) & handled_in, ~handled_in),
        "repeat_source": pd.Categorical.from_codes(np.where(labelled & repeated_in, unsort(source), 0),
                                                   categories=list(REPEAT_SOURCES)),
        "excluded_reason": pd.Categorical.from_codes(unsort(excluded), categories=list(EXCLUDED_REASONS)),
        "merged_into": pd.array(pc.if_else(pa.array(unsort(merged)), ids.take(pa.array(unsort(row[rep]))),
                                           pa.nulls(n, pa.string())), dtype="str"),
        "episode_id": pd.array(ids.take(pa.array(unsort(row[episode_row]))), dtype="str"),
        "contact_seq": unsort(seq),
        "is_first_contact": unsort(handled & (seq == 1)),
        "next_contact_delay_s": unsort(delay),
        "window_end": pd.DatetimeIndex(window_end).tz_localize("UTC"),
    })
    return out
