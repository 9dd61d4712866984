"""Label contacts as resolved or repeated, with episodes and censoring.

In: contacts in contract form (see contract/schema.py) and a `LabelConfig`. Out: one row per input
contact, in input order, with
- `status`: `labelled`, `censored` (window still open at the end of the data)
  or `excluded` (with `excluded_reason`: anonymous_customer, merged, abandoned);
- `repeated`: the customer came back about the same issue within the window (nullable; set for
  labelled rows only), `repeat_source` (`tracking` or `survey`), `tracking_repeated` (what repeat
  tracking alone says, before any survey override);
- `episode_id`, `contact_seq`, `is_first_contact`, `merged_into`, `next_contact_delay_s` (time to
  the next same-issue contact, even past the window: it shows whether the window is right).
  A label matures at started_at + window_days (not stored: derivable, and cheaper not to write).

The rules, precisely (the brute-force reference in tests/reference_labeller.py spells them out too):
1. Contacts are ordered by (started_at, contact_id) within each customer. Anonymous customers
   are never linked.
2. Merge: only pieces of one contact are joined. A contact joins the group of the same customer's
   previous contact when both start at most `merge_gap_s` apart (a transfer, a duplicate); else it
   joins the group of the customer's contact that ended last (ended_at, else started_at; the latest
   such row on a tie) when every earlier contact of the customer has ended by its start and it starts
   at most `merge_gap_s` after that end (a dropped call and the call back). A contact opened while an
   earlier one is still open, later than `merge_gap_s` after the previous start (a second ticket while
   the first is open), is never merged: it is a contact of its own and a repeat candidate. The group
   is one contact: it keeps its first row's id, time, channel and reason; it is abandoned only if all
   its rows are; its survey answer is the last one given.
3. Candidates for a repeat are the handled contacts, plus the abandoned ones when
   `abandoned_counts_as_repeat`. Handled contact i is repeated when the next candidate of the same
   customer and the same issue key (reason code, reason family or any) starts within
   `window_days` of it (edge included; a tie in time counts when it is later in the order).
4. A handled contact whose window ends after the end of the data (`as_of`, default the latest
   started_at) is censored, even if a repeat was already seen (that would bias rates upward).
5. A survey answer "not resolved" makes a labelled contact repeated (source `survey`).
   With `label.source: column` the export's outcome signal (`resolution_signal`, the group's last
   known value) labels each handled contact instead (source `column`): nothing is censored, and a
   handled contact without a signal is excluded (`no_resolution_signal`); rule 5 still applies.
6. Episodes: within a customer and issue key, a handled contact more than a window after the
   previous handled one starts an episode; every candidate joins the episode of the latest handled
   contact within the window before it, or, abandoned with none, starts its own.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from labelling.config import LabelConfig
from contract.ordering import as_microseconds, customer_time_order
from features.history import group_codes

STATUSES = ("labelled", "censored", "excluded")
REPEAT_SOURCES = ("", "tracking", "survey", "column")
LABEL_COLUMNS = ["status", "repeated", "tracking_repeated", "repeat_source", "excluded_reason", "merged_into",
                 "episode_id", "contact_seq", "is_first_contact", "next_contact_delay_s"]
EXCLUDED_REASONS = ("", "anonymous_customer", "merged", "abandoned", "no_resolution_signal")
US = 1_000_000  # microseconds per second


def _as_of_us(text: str) -> int:
    ts = pd.Timestamp(text)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1000)


def _as_str(values: pd.Series) -> pd.Series:
    return values if values.dtype == "str" else values.astype("str")


def _chunks(values: pd.Series) -> pa.ChunkedArray:
    """A text column as the Arrow chunks it holds (not combined: that would copy every string)."""
    arr = pa.array(_as_str(values))
    return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])


def _is_abandoned(disposition: pd.Series) -> np.ndarray:
    if isinstance(disposition.dtype, pd.CategoricalDtype):
        cats = np.asarray(disposition.cat.categories.astype("str").str.lower() == "abandoned")
        codes = disposition.cat.codes.to_numpy()
        return (codes >= 0) & cats[np.maximum(codes, 0)] if len(cats) else np.zeros(len(codes), bool)
    return (disposition.astype("str").str.lower() == "abandoned").to_numpy(dtype=bool, na_value=False)


def label_contacts(contacts: pd.DataFrame, cfg: LabelConfig, workers: int | None = None,
                   min_block_rows: int = 250_000) -> pd.DataFrame:
    """Apply the labelling rules of the module docstring; returns one row per input row.

    Customers are independent, so the rows (sorted by customer) are cut at customer boundaries into
    blocks labelled in parallel threads (NumPy releases the GIL); `workers` defaults to the cores."""
    r = _label(contacts, cfg, workers, min_block_rows)
    n, ids, out, unsort, row = r.n, r.ids, r.out, r.unsort, r.row
    labelled = r.status_code == 0
    handled_in = unsort(r.handled)
    repeated_in = unsort(r.repeated)
    merged_into = pa.array(unsort(row[out.rep]), mask=~unsort(out.merged))  # null where not merged
    return pd.DataFrame({
        "contact_id": pd.array(ids, dtype="str"),
        "status": pd.Categorical.from_codes(r.status_code, categories=list(STATUSES)),
        "repeated": pd.arrays.BooleanArray(repeated_in & labelled, ~labelled),
        "tracking_repeated": pd.arrays.BooleanArray(unsort(out.tracking) & handled_in, ~handled_in),
        "repeat_source": pd.Categorical.from_codes(np.where(labelled & repeated_in, unsort(r.source), 0),
                                                   categories=list(REPEAT_SOURCES)),
        "excluded_reason": pd.Categorical.from_codes(unsort(r.excluded), categories=list(EXCLUDED_REASONS)),
        "merged_into": pd.array(ids.take(merged_into), dtype="str"),
        "episode_id": pd.array(ids.take(pa.array(unsort(row[out.episode_row]))), dtype="str"),
        "contact_seq": unsort(out.seq).astype(np.int32),
        "is_first_contact": unsort(r.handled & (out.seq == 1)),
        "next_contact_delay_s": unsort(out.delay).astype(np.float32),
    })


@dataclass
class _Labelled:
    """The rules' results: per-row arrays in (customer, time) order, `unsort` back to input order."""

    n: int
    ids: pa.Array
    out: "_Out"
    unsort: object
    row: np.ndarray
    status_code: np.ndarray  # input order: index into STATUSES
    handled: np.ndarray
    repeated: np.ndarray
    source: np.ndarray
    excluded: np.ndarray


def _label(contacts: pd.DataFrame, cfg: LabelConfig, workers: int | None, min_block_rows: int) -> _Labelled:
    n = len(contacts)
    # Work in (customer, started_at, contact_id) order on plain arrays; ids stay Arrow strings.
    ids = _chunks(contacts["contact_id"])
    customers = _chunks(contacts["customer_id"])
    t_in = as_microseconds(contacts["started_at"])
    order = customer_time_order(customers, t_in, ids)
    sort = (lambda a: a) if order is None else (lambda a: a[order])  # ingest writes them sorted
    t = sort(t_in)
    # A missing end is NaT, the smallest int64: the maximum with the start fills it.
    end = np.maximum(sort(as_microseconds(contacts["ended_at"])), t) if "ended_at" in contacts else t
    # Known customers come first (anonymous last), each customer's rows contiguous and in time order.
    cs = customers if order is None else customers.take(pa.array(order))
    k = n - cs.null_count
    same_prev = np.zeros(k, bool)  # row i has the same customer as row i - 1
    if k > 1:
        same_prev[1:] = pc.equal(cs.slice(1, k - 1), cs.slice(0, k - 1)).to_numpy(zero_copy_only=False)
    rows = _Rows(
        t=t, end=end, same_prev=same_prev,
        key=(np.zeros(n, dtype=np.int64) if cfg.match == "any" else
             sort(group_codes(contacts["reason_code" if cfg.match == "same_reason" else "reason_family"]))),
        abandoned=sort(_is_abandoned(contacts["disposition"])) if "disposition" in contacts else np.zeros(n, bool),
        survey_known=np.zeros(n, bool), survey_val=np.zeros(n, bool),
        signal_known=np.zeros(n, bool), signal_val=np.zeros(n, bool),
        window=int(round(cfg.window_days * 86_400 * US)),
        as_of=_as_of_us(cfg.as_of) if cfg.as_of else (int(t.max()) if n else 0),
    )
    if "survey_resolved" in contacts:
        survey = contacts["survey_resolved"].astype("boolean")
        rows.survey_known = sort(survey.notna().to_numpy())
        rows.survey_val = sort(survey.fillna(True).to_numpy(dtype=bool))
    if cfg.source == "column":
        if "resolution_signal" not in contacts:
            raise ValueError("label.source is 'column' but the contacts have no resolution_signal: set "
                             "ingest.files.outcome_signal in params.yaml, or label.source: repeats.")
        signal = contacts["resolution_signal"].astype("boolean")
        rows.signal_known = sort(signal.notna().to_numpy())
        rows.signal_val = sort(signal.fillna(True).to_numpy(dtype=bool))

    out, handled, censored, repeated, source, excluded = _rules(rows, n, k, cfg, workers, min_block_rows)

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
    return _Labelled(n=n, ids=ids, out=out, unsort=unsort, row=row, status_code=status_code, handled=handled,
                     repeated=repeated, source=source, excluded=excluded)


def label_sorted(t: np.ndarray, end: np.ndarray, same_prev: np.ndarray, key: np.ndarray, abandoned: np.ndarray,
                 survey: tuple[np.ndarray, np.ndarray], signal: tuple[np.ndarray, np.ndarray], cfg: LabelConfig,
                 as_of: int) -> tuple[np.ndarray, np.ndarray]:
    """The rules on plain arrays, for a few contacts of known customers already in (customer,
    started_at, contact_id) order: start and end (end >= start) in microseconds, whether each row has
    the previous row's customer, the issue key's codes (as `cfg.match` says), the abandoned flags, the
    survey and resolution signal as (known, value), the end of the data in microseconds. Returns
    (labelled, repeated) per row: what `label_contacts` says (status == labelled, repeated). The live
    service labels with it on its hot path (features/live_labels.py), where building a table per
    call would cost more than the rules."""
    n = len(t)
    rows = _Rows(t=t, end=end, same_prev=same_prev, key=key, abandoned=abandoned, survey_known=survey[0],
                 survey_val=survey[1], signal_known=signal[0], signal_val=signal[1],
                 window=int(round(cfg.window_days * 86_400 * US)), as_of=as_of)
    _, _, censored, repeated, _, excluded = _rules(rows, n, n, cfg, 1, max(n, 1))
    labelled = (excluded == 0) & ~censored
    return labelled, repeated & labelled


def _rules(rows: "_Rows", n: int, k: int, cfg: LabelConfig, workers: int | None, min_block_rows: int) -> tuple:
    """Rules 2 to 6 on rows in (customer, time) order, known customers in [0, k): (out, handled,
    censored, repeated, source, excluded), per row in that order."""
    same_prev, t = rows.same_prev, rows.t
    out = _Out.for_rows(n, k, rows.abandoned)
    workers = workers or os.cpu_count() or 1
    bounds = _block_bounds(same_prev, max(1, min(workers, k // max(min_block_rows, 1))))
    if len(bounds) == 1:  # no thread for one block: a thread start costs more than a few customers
        _label_block(bounds[0][0], bounds[0][1], rows, cfg, out)
    else:
        with ThreadPoolExecutor(max_workers=len(bounds)) as pool:
            list(pool.map(lambda b: _label_block(b[0], b[1], rows, cfg, out), bounds))

    anon = np.zeros(n, bool)
    anon[k:] = True
    handled = ~anon & ~out.merged & ~out.is_abandoned
    if cfg.source == "column":
        # The export's own verdict labels the contact: nothing is censored, a contact without one is
        # excluded; a survey "not resolved" still overrides a contact the column calls resolved.
        censored = np.zeros(n, bool)
        base = ~out.g_val
        no_signal = handled & ~out.g_known
        base_code = 3
    else:
        # Censored: the window is not over, whether or not a repeat was already seen (counting the
        # early repeats but not the early non-repeats would bias every rate near the end of the data).
        censored = handled & (t + rows.window > rows.as_of)
        base = out.tracking
        no_signal = np.zeros(n, bool)
        base_code = 1
    override = handled & ~censored & ~no_signal & cfg.survey_override & out.s_known & ~out.s_val & ~base
    repeated = base | override
    source = np.where(override, 2, np.where(base, base_code, 0))  # codes of REPEAT_SOURCES
    excluded = np.where(anon, 1, np.where(out.merged, 2, np.where(out.is_abandoned, 3,
                                                                  np.where(no_signal, 4, 0))))  # EXCLUDED_REASONS
    return out, handled, censored, repeated, source, excluded


@dataclass
class _Rows:
    """Inputs in (customer, time) order; known customers in rows [0, len(same_prev))."""

    t: np.ndarray
    end: np.ndarray
    same_prev: np.ndarray
    key: np.ndarray
    abandoned: np.ndarray
    survey_known: np.ndarray
    survey_val: np.ndarray
    signal_known: np.ndarray
    signal_val: np.ndarray
    window: int
    as_of: int


@dataclass
class _Out:
    """Per-row results in (customer, time) order; blocks write disjoint slices."""

    merged: np.ndarray
    rep: np.ndarray
    is_abandoned: np.ndarray
    s_known: np.ndarray
    s_val: np.ndarray
    g_known: np.ndarray
    g_val: np.ndarray
    tracking: np.ndarray
    delay: np.ndarray
    episode_row: np.ndarray
    seq: np.ndarray

    @classmethod
    def for_rows(cls, n: int, k: int, abandoned: np.ndarray) -> "_Out":
        """Uninitialised for the known-customer rows [0, k), which the blocks fill; anonymous rows
        [k, n) are excluded, never merged or linked, each its own episode."""
        out = cls(merged=np.empty(n, bool), rep=np.empty(n, np.int64), is_abandoned=np.empty(n, bool),
                  s_known=np.empty(n, bool), s_val=np.empty(n, bool), g_known=np.empty(n, bool),
                  g_val=np.empty(n, bool), tracking=np.empty(n, bool),
                  delay=np.empty(n), episode_row=np.empty(n, np.int64), seq=np.empty(n, np.int64))
        for a in (out.merged, out.s_known, out.s_val, out.g_known, out.g_val, out.tracking):
            a[k:] = False
        out.rep[k:] = out.episode_row[k:] = np.arange(k, n)
        out.is_abandoned[k:] = abandoned[k:]
        out.delay[k:] = np.nan
        out.seq[k:] = 1
        return out


def _block_bounds(same_prev: np.ndarray, blocks: int) -> list[tuple[int, int]]:
    """Cut rows [0, k) into about `blocks` ranges that start at a customer's first row."""
    k = len(same_prev)
    cuts = [0]
    for b in range(1, blocks):
        target = max(k * b // blocks, cuts[-1] + 1)
        starts = np.flatnonzero(~same_prev[target:])
        if not len(starts):
            break
        cuts.append(target + int(starts[0]))
    cuts.append(k)
    return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo] or [(0, 0)]


def _last_known(known: np.ndarray, val: np.ndarray, rep: np.ndarray,
                first_of_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A merge group's answer (survey, outcome signal) is the last one given in it (by row order), held by
    its representative row (`rep`: each row's representative)."""
    answered = np.flatnonzero(known)
    last_ans = np.full(len(known), -1)
    np.maximum.at(last_ans, rep[answered], answered)
    has = last_ans[first_of_group] >= 0
    k, v = known.copy(), val.copy()
    k[first_of_group] = has
    v[first_of_group[has]] = val[last_ans[first_of_group[has]]]
    return k, v


def _label_block(lo: int, hi: int, r: _Rows, cfg: LabelConfig, out: _Out) -> None:
    """Rules 2, 3 and 6 for the customers in rows [lo, hi); writes out[lo:hi]."""
    m = hi - lo
    if m == 0:
        return
    t, end, key = r.t[lo:hi], r.end[lo:hi], r.key[lo:hi]
    same_prev = r.same_prev[lo:hi].copy()
    same_prev[0] = False
    cust = np.cumsum(~same_prev) - 1  # local customer numbers
    abandoned_row, survey_known, survey_val = r.abandoned[lo:hi], r.survey_known[lo:hi], r.survey_val[lo:hi]

    merged, rep = _merge_groups(t, end, same_prev, cust, int(round(cfg.merge_gap_s * US)))
    first_of_group = np.flatnonzero(~merged)
    # Group attributes: abandoned only if all rows are; the last survey answer.
    handled_rows = np.bincount(rep, weights=~abandoned_row, minlength=m)
    is_abandoned = abandoned_row.copy()
    is_abandoned[first_of_group] = handled_rows[first_of_group] == 0
    s_known, s_val = _last_known(survey_known, survey_val, rep, first_of_group)
    g_known, g_val = _last_known(r.signal_known[lo:hi], r.signal_val[lo:hi], rep, first_of_group)

    handled = ~merged & ~is_abandoned
    cand = np.flatnonzero(handled | (~merged & is_abandoned & cfg.abandoned_counts_as_repeat))
    cand, pkey, tracking, delay = _candidates(cand, cust, key, t, r.window)
    episode_row, seq = _episodes(cand, pkey, handled, t, r.window)
    episode_row[merged] = episode_row[rep[merged]]
    seq[merged] = seq[rep[merged]]

    out.merged[lo:hi] = merged
    np.add(rep, lo, out=out.rep[lo:hi])
    out.is_abandoned[lo:hi] = is_abandoned
    out.s_known[lo:hi] = s_known
    out.s_val[lo:hi] = s_val
    out.g_known[lo:hi] = g_known
    out.g_val[lo:hi] = g_val
    out.tracking[lo:hi] = tracking
    out.delay[lo:hi] = delay
    np.add(episode_row, lo, out=out.episode_row[lo:hi])
    out.seq[lo:hi] = seq


def _merge_groups(t: np.ndarray, end: np.ndarray, same_prev: np.ndarray, cust: np.ndarray,
                  gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge groups (rule 2): each row links to the previous row (both start within the gap) or to
    the row that ended last (all earlier contacts ended, within the gap after that end); rows link to
    earlier rows only, so following the links to their root gives each row's group representative.
    Returns (merged into an earlier row, the group representative) per row."""
    m = len(t)
    pos = np.arange(m)
    latest_end = _group_cummax(end, cust)  # including the row itself
    new_max = np.ones(m, bool)
    new_max[1:] = ~same_prev[1:] | (end[1:] >= latest_end[:-1])
    latest_row = np.maximum.accumulate(np.where(new_max, pos, -1))  # first rows of customers reset it
    link = pos.copy()
    if m > 1:
        close_start = same_prev[1:] & (t[1:] - t[:-1] <= gap)
        after_end = t[1:] - latest_end[:-1]
        after_all = same_prev[1:] & ~close_start & (after_end >= 0) & (after_end <= gap)
        link[1:][close_start] = pos[:-1][close_start]
        link[1:][after_all] = latest_row[:-1][after_all]
    merged = link != pos
    rep = link
    while True:
        nxt = rep[rep]
        if np.array_equal(nxt, rep):
            break
        rep = nxt
    return merged, rep


def _group_cummax(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running maximum of integer `values` within each group, the groups numbered 0, 1, ... in row order
    (each group's rows contiguous): one `np.maximum.accumulate` over the values lifted so that every
    group's lie above all earlier groups' (group * span), as many groups at a time as fit in 62 bits.
    Exact, and a tenth of a groupby's time."""
    if not len(values):
        return values.copy()
    lo = int(values.min())
    span = int(values.max()) - lo + 1
    if span >= 1 << 62:  # (not times: no room to lift the groups apart)
        return pd.Series(values).groupby(group).cummax().to_numpy()
    per_pass = (1 << 62) // span  # groups whose lifted values fit in an int64
    bounds = [*np.searchsorted(group, np.arange(0, int(group[-1]) + 1, per_pass)), len(values)]
    out = np.empty_like(values)
    for a, b in zip(bounds[:-1], bounds[1:]):
        lift = (group[a:b] - group[a]) * np.int64(span)
        out[a:b] = np.maximum.accumulate((values[a:b] - np.int64(lo)) + lift) - lift + np.int64(lo)
    return out


def _candidates(cand: np.ndarray, cust: np.ndarray, key: np.ndarray, t: np.ndarray,
                window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidates (rule 3), partitioned by customer and issue key, in time order: returns them with
    their partition keys, and per row whether the next candidate of its partition came within the
    window (tracking) and after how many days (delay)."""
    # In customer order the partition keys are nearly sorted already, so the stable sort runs fast.
    m = len(t)
    pkey = cust[cand] * (int(key.max(initial=0)) + 1) + key[cand]
    srt = np.argsort(pkey, kind="stable")
    cand, pkey = cand[srt], pkey[srt]
    tc = t[cand]
    nc = len(cand)
    same_next = np.zeros(nc, bool)
    same_next[:-1] = pkey[1:] == pkey[:-1]
    gap_next = np.full(nc, -1, dtype=np.int64)
    gap_next[:-1] = tc[1:] - tc[:-1]
    tracking = np.zeros(m, bool)
    tracking[cand] = same_next & (gap_next <= window)
    delay = np.full(m, np.nan)
    delay[cand[same_next]] = gap_next[same_next] / US
    return cand, pkey, tracking, delay


def _episodes(cand: np.ndarray, pkey: np.ndarray, handled: np.ndarray, t: np.ndarray,
              window: int) -> tuple[np.ndarray, np.ndarray]:
    """Episodes (rule 6): a candidate joins the episode of the latest handled candidate of its partition
    within the window before it; otherwise it starts one. Returns each row's episode row and its place
    in the episode (merged rows: still to be given their representative's)."""
    m = len(t)
    tc = t[cand]
    nc = len(cand)
    positions = np.arange(nc)
    # latest handled candidate strictly before each position, if it is in the same partition
    last_h = np.maximum.accumulate(np.where(handled[cand], positions, -1)) if nc else positions
    prev_h = np.full(nc, -1, dtype=np.int64)
    prev_h[1:] = last_h[:-1]
    safe = np.maximum(prev_h, 0)
    starts = ~((prev_h >= 0) & (pkey[safe] == pkey) & (tc - tc[safe] <= window))
    ep_no = np.cumsum(starts) - 1
    episode_row = np.arange(m)
    episode_row[cand] = cand[starts][ep_no]
    seq = np.ones(m, dtype=np.int64)
    seq[cand] = positions - np.flatnonzero(starts)[ep_no] + 1
    return episode_row, seq


def label_table(contacts: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """Contacts joined with their labels (one row per contact, same order)."""
    labels = label_contacts(contacts, cfg)
    return pd.concat([contacts.reset_index(drop=True), labels[LABEL_COLUMNS]], axis=1)
