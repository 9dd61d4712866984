"""Compare labels with the synthetic generator's ground truth.

In: the labelled contact table, the generator's truth table and the label window. Out: agreement
figures between repeat tracking and the truth "the customer came back about this same issue
within the window". The two can only differ where the customer also contacted about another issue
of the same family within the window (the labeller cannot tell two issues of one family apart),
where the labeller merges contacts seconds apart that the generator made separately, or where the
repeat is invisible to it (made anonymously, or quarantined at ingest); so
agreement is reported overall and on the contacts without such a confounding contact, where
it must be exact when the label rules match the generator's (match=reason_family).

Computed on arrays (contact ids matched by Arrow hash lookups, the customer and family partitions as
integer codes), never on joined copies of the frames: at 10M contacts the check costs less than the
labelling. tests/synthetic/reference_truth.py spells the same rules out on pandas frames. Every rule looks
within one customer's contacts, so the figures are also made from counts (`truth_counts`) of pieces of the
labelled table holding whole customers, each with the truth rows of its contacts (`truth_of`), added up
(`combine_truth_counts`, `agreement_figures`): how the label stage checks on a Dask cluster (engine/label.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from contract.ordering import as_microseconds, customer_time_order
from synthetic.ids import CONTACT_DIGITS, CONTACT_PREFIX
from synthetic.parts import part_files

TRUTH_COLUMNS = ["contact_id", "issue_id", "next_issue_contact_id", "next_issue_contact_at"]


def _arrow(values: pd.Series | pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """A text column as Arrow large_string chunks, without copying Arrow-backed columns."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(
        values if values.dtype == "str" else values.astype("str"))
    arr = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
    return arr if pa.types.is_large_string(arr.type) else arr.cast(pa.large_string())


def _contact_numbers(ids: pa.ChunkedArray) -> np.ndarray | None:
    """The number in each contact id written as the generator writes them (prefix and zero-padded
    digits), -1 where missing; None when any id is written otherwise. Read off the Arrow buffers: every
    id has the same width, so the characters form a table of bytes."""
    width, prefix = len(CONTACT_PREFIX) + CONTACT_DIGITS, np.frombuffer(CONTACT_PREFIX.encode(), np.uint8)
    out = []
    for chunk in ids.chunks:
        n = len(chunk)
        _, offsets, data = chunk.buffers()
        offsets = np.frombuffer(offsets, np.int64, n + 1, chunk.offset * 8)
        valid = chunk.is_valid().to_numpy(zero_copy_only=False)
        if not np.array_equal(np.diff(offsets), np.where(valid, width, 0)):
            return None  # another width, or a missing id holding characters
        chars = np.frombuffer(data, np.uint8, offsets[-1] - offsets[0], offsets[0]) if data is not None and n else \
            np.zeros(0, np.uint8)
        chars = chars.reshape(-1, width)
        if not all((chars[:, k] == prefix[k]).all() for k in range(len(prefix))):
            return None
        number = np.zeros(len(chars), np.int64)
        for k in range(len(prefix), width):  # (column by column: 10x a matrix product of int64)
            digit = chars[:, k] - np.uint8(48)  # (a byte below "0" wraps above 9)
            if digit.max(initial=0) > 9:
                return None
            number *= 10
            number += digit
        numbers = np.full(n, -1, dtype=np.int64)
        numbers[valid] = number
        out.append(numbers)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _codes_across(*columns: pa.ChunkedArray) -> list[np.ndarray]:
    """One integer per distinct id across the columns (-1 for a missing one), from one hash pass over
    them all: the keys when ids are not all the generator's."""
    codes = _codes(pa.chunked_array([c for col in columns for c in col.chunks], pa.large_string())) - 1
    bounds = np.cumsum([0, *(len(c) for c in columns)])
    return [codes[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def _lookup(keys: np.ndarray, size: int) -> np.ndarray:
    """Row of each key (keys distinct, -1 = none) as an array indexed by key; -1 where no row has it."""
    rows = np.full(size, -1, dtype=np.int64)
    valid = keys >= 0
    rows[keys[valid]] = np.flatnonzero(valid)
    return rows


@dataclass
class Truth:
    """The generator's truth as the agreement reads it (`prepare_truth`, `read_truth`): its contact ids,
    each contact's next of the issue and its start, and the issue; the ids' contact numbers parsed once
    (None where they are not the generator's), so that only the labelled side is left to read."""

    ids: pa.ChunkedArray
    next_ids: pa.ChunkedArray
    numbers: np.ndarray | None
    next_numbers: np.ndarray | None
    issue: np.ndarray    # int64
    next_at: np.ndarray  # microseconds; missing: NaT, the smallest int64


def prepare_truth(truth: pd.DataFrame | pa.Table) -> Truth:
    ids, next_ids = _arrow(truth["contact_id"]), _arrow(truth["next_issue_contact_id"])
    at = truth["next_issue_contact_at"]
    at = (pa.array(at) if isinstance(at, pd.Series) else at).cast(pa.timestamp("us", "UTC"))
    return Truth(ids=ids, next_ids=next_ids, numbers=_contact_numbers(ids), next_numbers=_contact_numbers(next_ids),
                 issue=np.asarray(truth["issue_id"]).astype(np.int64, copy=False),
                 next_at=at.to_numpy(zero_copy_only=False).view(np.int64))


def truth_files(truth_dir: str | Path) -> list[Path]:
    """The truth's files: truth.parquet, or those of its parts (truth-00000.parquet, ...) in part order; []
    off the synthetic centre (ingest.source files)."""
    return part_files(truth_dir, "truth")


def read_truth_table(truth_dir: str | Path, columns: list[str] | None = None) -> pa.Table | None:
    """The truth's columns (all: None) over its parts, or None off the synthetic centre."""
    files = truth_files(truth_dir)
    if not files:
        return None
    tables = [pq.read_table(f, columns=columns) for f in files]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def read_truth(truth_dir: str | Path) -> Truth | None:
    """The synthetic centre's truth (only the columns the agreement compares), or None off the synthetic
    centre (ingest.source files: no truth)."""
    table = read_truth_table(truth_dir, TRUTH_COLUMNS)
    return None if table is None else prepare_truth(table)


def truth_of(files: list[Path], contact_ids: pd.Series) -> Truth:
    """The truth rows of the given contacts only, read from `truth_files` (filtered while scanning: the
    whole truth is never in memory), for the agreement on a piece of the labelled table."""
    dataset = ds.dataset([str(f) for f in files], format="parquet")
    wanted = _arrow(contact_ids).combine_chunks().cast(dataset.schema.field("contact_id").type)
    return prepare_truth(dataset.to_table(columns=TRUTH_COLUMNS, filter=ds.field("contact_id").isin(wanted)))


@dataclass
class _Joined:
    """The truth of each labelled row (a left join on contact_id, as arrays)."""

    ids: pa.Array          # the labelled contact ids
    keys: np.ndarray       # their keys (contact numbers, or `_codes_across`)
    row_of: np.ndarray     # labelled row of each id key
    t: np.ndarray          # started_at, microseconds
    in_truth: np.ndarray   # the row is a contact the generator made (not a call-back leg)
    issue: np.ndarray      # its issue (meaningful where in_truth)
    next_key: np.ndarray   # key of the next contact of its issue (-1: none, or not in the truth)
    next_at: np.ndarray    # its start, microseconds (meaningful where has_next)
    has_next: np.ndarray


def _join(labelled: pd.DataFrame, truth: Truth) -> tuple[_Joined, np.ndarray]:
    """The truth's columns for each labelled row, and the key of each row's merged_into (-1: none)."""
    ids, into = _arrow(labelled["contact_id"]), _arrow(labelled["merged_into"])
    keys, into_keys = _contact_numbers(ids), _contact_numbers(into)
    truth_keys, next_keys = truth.numbers, truth.next_numbers
    if any(k is None for k in (keys, into_keys, truth_keys, next_keys)):
        keys, truth_keys, next_keys, into_keys = _codes_across(ids, truth.ids, truth.next_ids, into)
    size = int(max(k.max(initial=0) for k in (keys, truth_keys, next_keys, into_keys))) + 1
    if size > 4 * (len(keys) + len(truth_keys)) + 1024:  # a piece of the contacts: arrays by key would span them all
        keys, truth_keys, next_keys, into_keys = _codes_across(ids, truth.ids, truth.next_ids, into)
        size = int(max(k.max(initial=0) for k in (keys, truth_keys, next_keys, into_keys))) + 1
    n_truth = len(truth_keys)
    if np.array_equal(truth_keys, np.arange(1, n_truth + 1)):  # the generator's: row i holds contact i + 1
        tpos = np.where((keys >= 1) & (keys <= n_truth), keys - 1, -1)
    else:
        tpos = _lookup(truth_keys, size)[np.maximum(keys, 0)]
        tpos[keys < 0] = -1
    in_truth = tpos >= 0
    safe = np.maximum(tpos, 0)
    at = truth.next_at[safe]
    return _Joined(ids=ids, keys=keys, row_of=_lookup(keys, size), t=as_microseconds(labelled["started_at"]),
                   in_truth=in_truth, issue=truth.issue[safe] if len(tpos) else np.zeros(0, np.int64),
                   next_key=np.where(in_truth, next_keys[safe] if len(tpos) else 0, -1),
                   next_at=at, has_next=(at != np.iinfo(np.int64).min) & in_truth), into_keys


def _merged_group_outcomes(labelled: pd.DataFrame, j: _Joined, into_keys: np.ndarray) -> None:
    """A merged group (e.g. abandoned in the queue, got through on the retry a minute later) is one
    contact to the labeller: its outcome is that of the group's last generated attempt (by start; the
    last one known), given to the row that represents the group. Few rows: on a small frame."""
    members = np.flatnonzero((into_keys >= 0) & j.in_truth)
    if not len(members):
        return
    at = pd.Series(pd.to_datetime(j.next_at[members], unit="us", utc=True)).where(j.has_next[members])
    frame = pd.DataFrame({"into": into_keys[members], "started_at": labelled["started_at"].iloc[members].array,
                          "next_issue_contact_at": at.array})
    last = frame.sort_values("started_at", kind="stable").groupby("into")["next_issue_contact_at"].last()
    reps = j.row_of[last.index.to_numpy()]
    found = reps >= 0
    values = last.to_numpy()[found]
    j.has_next[reps[found]] = pd.notna(values)
    j.next_at[reps[found]] = pd.DatetimeIndex(values).as_unit("us").asi8


def _codes(values: pd.Series | pa.Array) -> np.ndarray:
    """Integer codes of a column's values, one per distinct value, 0 for a missing one."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64) + 1
    encoded = pc.dictionary_encode(_arrow(values))  # (the chunks share one dictionary)
    if not encoded.num_chunks:
        return np.zeros(0, np.int64)
    indices = pa.chunked_array([c.indices for c in encoded.chunks])
    return pc.fill_null(indices, -1).to_numpy().astype(np.int64) + 1


def _confounded_by_another_issue(labelled: pd.DataFrame, j: _Joined, linkable: np.ndarray, window_ns: int
                                 ) -> np.ndarray:
    """Linkable rows whose customer came back within the window about another issue of the same reason
    family: in each (customer, family) partition in (started_at, contact_id) order, the next run of rows
    of another issue (a row outside the truth is a run of its own) starts within the window."""
    customers = _arrow(labelled["customer_id"])
    order = customer_time_order(customers, j.t, j.ids)  # (None: the rows are in it, as ingest writes them)
    rows = np.arange(len(j.t)) if order is None else order
    ordered = customers if order is None else customers.take(pa.array(order))
    customer = np.ones(len(rows), np.int64)  # the customers numbered in that order
    if len(rows) > 1:
        customer[1:] = pc.fill_null(pc.not_equal(ordered.slice(1), ordered.slice(0, len(rows) - 1)), True).to_numpy()
    customer = np.cumsum(customer)
    keep = linkable[rows]
    rows = rows[keep]  # linkable rows in (customer, started_at, contact_id) order
    family = _codes(labelled["reason_family"])[rows]
    # Grouped by family, each family's rows still in that order (a stable sort of small codes is one
    # radix pass): every (customer, family) partition is contiguous and in time order.
    by_family = np.argsort(family.astype(np.uint16) if family.max(initial=0) < 1 << 16 else family, kind="stable")
    rows, family, customer = rows[by_family], family[by_family], customer[keep][by_family]
    key = customer * (int(family.max(initial=0)) + 1) + family  # (equal keys: one partition)
    n = len(rows)
    t, issue, known = j.t[rows], j.issue[rows], j.in_truth[rows]
    run_start = np.ones(n, bool)
    run_start[1:] = (key[1:] != key[:-1]) | ~known[1:] | ~known[:-1] | (issue[1:] != issue[:-1])
    starts = np.flatnonzero(run_start)
    run = np.cumsum(run_start) - 1
    next_same = np.zeros(len(starts), bool)  # the next run is in the same partition
    next_same[:-1] = key[starts[1:]] == key[starts[:-1]]
    next_t = np.zeros(len(starts), np.int64)
    next_t[:-1] = t[starts[1:]]
    confounded = np.zeros(len(j.t), bool)
    confounded[rows] = next_same[run] & ((next_t[run] - t) * 1000 <= window_ns)
    return confounded


def _merges_across_issues(j: _Joined, into_keys: np.ndarray) -> np.ndarray:
    """Rows merged into a row of another issue (an unrelated contact within seconds of another), those
    rows, and the rows whose next contact of the issue is one of them."""
    rows = np.flatnonzero((into_keys >= 0) & j.in_truth)
    rep = j.row_of[into_keys[rows]]
    safe = np.maximum(rep, 0)
    cross = ~((rep >= 0) & j.in_truth[safe] & (j.issue[safe] == j.issue[rows]))
    touched = np.zeros(len(j.row_of), bool)  # by id key
    touched[j.keys[rows[cross]]] = True
    touched[into_keys[rows[cross]]] = True
    return (touched[np.maximum(j.keys, 0)] & (j.keys >= 0)) | (touched[np.maximum(j.next_key, 0)] & (j.next_key >= 0))


def _judged(labelled: pd.DataFrame, truth: pd.DataFrame | pa.Table | Truth, window_days: float) -> dict:
    """Per judged contact (labelled, the generator's, tracked): whether the labels agree with the truth,
    whether it is unconfounded, the truth's and the labels' repeat; and the judged rows' ids."""
    window_ns = pd.Timedelta(days=window_days).value
    j, into_keys = _join(labelled, truth if isinstance(truth, Truth) else prepare_truth(truth))
    _merged_group_outcomes(labelled, j, into_keys)
    # Contacts the labeller links: known customer, not merged away.
    linkable = (labelled["customer_id"].notna() & labelled["excluded_reason"].isin(["", "abandoned"])).to_numpy()
    confounded = _confounded_by_another_issue(labelled, j, linkable, window_ns)
    # A repeat the labeller cannot see (made anonymously, or quarantined at ingest) also confounds.
    seen = j.row_of[np.maximum(j.next_key, 0)] if len(j.row_of) else np.full(len(j.t), -1)
    confounded |= (j.next_key >= 0) & ~((seen >= 0) & linkable[np.maximum(seen, 0)])
    # Merges across issues (an unrelated contact within seconds of another) also confound.
    confounded |= _merges_across_issues(j, into_keys)

    tracking = labelled["tracking_repeated"]
    judged = np.flatnonzero((labelled["status"] == "labelled").to_numpy() & j.in_truth & tracking.notna().to_numpy())
    truth_followed = j.has_next[judged] & ((j.next_at[judged] - j.t[judged]) * 1000 <= window_ns)
    repeated = tracking.to_numpy(dtype=bool, na_value=False)[judged]
    return {"agree": repeated == truth_followed, "clean": ~confounded[judged], "truth_followed": truth_followed,
            "repeated": repeated, "ids": j.ids.take(pa.array(judged))}


def truth_counts(labelled: pd.DataFrame, truth: pd.DataFrame | pa.Table | Truth | None,
                 window_days: float) -> dict[str, int] | None:
    """The counts behind the agreement figures (None without a truth), additive over pieces of the labelled
    table that each hold whole customers with their contacts' truth rows: every rule of the module docstring
    looks within one customer's contacts (a merge, a confounding issue, a merged group's outcome); a repeat
    made anonymously is in no customer's piece, and confounds either way."""
    return None if truth is None else _counts_of(_judged(labelled, truth, window_days))


def _counts_of(judged: dict) -> dict[str, int]:
    agree, clean = judged["agree"], judged["clean"]
    return {"contacts_compared": len(agree), "agree": int(agree.sum()), "contacts_unconfounded": int(clean.sum()),
            "agree_unconfounded": int(agree[clean].sum()), "false_repeats_confounded": int((~agree & ~clean).sum()),
            "truth_repeats": int(judged["truth_followed"].sum()), "label_repeats": int(judged["repeated"].sum())}


def combine_truth_counts(counts: list[dict[str, int]]) -> dict[str, int]:
    """The `truth_counts` of pieces added up."""
    return {key: sum(c[key] for c in counts) for key in counts[0]}


def agreement_figures(c: dict[str, int]) -> dict:
    """The agreement figures of the module docstring from `truth_counts` (of the whole table, or combined)."""
    n, clean = c["contacts_compared"], c["contacts_unconfounded"]
    return {
        "contacts_compared": n,
        "agreement": c["agree"] / n if n else None,
        "contacts_unconfounded": clean,
        "agreement_unconfounded": c["agree_unconfounded"] / clean if clean else None,
        "disagreements_unconfounded": clean - c["agree_unconfounded"],
        "false_repeats_confounded": c["false_repeats_confounded"],
        "truth_repeat_rate": c["truth_repeats"] / n if n else None,
        "label_repeat_rate": c["label_repeats"] / n if n else None,
    }


def label_truth_agreement(labelled: pd.DataFrame, truth: pd.DataFrame | pa.Table | Truth, window_days: float) -> dict:
    """The agreement figures of the module docstring, and the first disagreeing contacts (`_disagreeing_ids`)."""
    judged = _judged(labelled, truth, window_days)
    disagreeing = np.flatnonzero(~judged["agree"] & judged["clean"])[:20]
    ids = judged["ids"].take(pa.array(disagreeing)).to_pylist()
    return {**agreement_figures(_counts_of(judged)), "_disagreeing_ids": ids}


def truth_agreement(labelled: pd.DataFrame, truth: Truth | None, window_days: float) -> dict | None:
    """The agreement figures for the stage's metrics (None without the synthetic centre's truth)."""
    return None if truth is None else agreement_figures(truth_counts(labelled, truth, window_days))


def truth_agreement_if_synthetic(labelled: pd.DataFrame, truth_dir: str | Path, window_days: float) -> dict | None:
    """The agreement above when the synthetic centre's truth is there (ingest.source synthetic), else None."""
    return truth_agreement(labelled, read_truth(truth_dir), window_days)


def true_probabilities_if_synthetic(truth_dir: str | Path, contact_id: pd.Series, window_days: float) -> pd.Series | None:
    """The generator's true repeat probability of each contact (aligned with `contact_id`, NaN where the
    contact is not the generator's), or None off the synthetic centre."""
    from synthetic.centre import true_repeat_probability

    files = truth_files(truth_dir)
    if not files:
        return None
    columns = ["contact_id", "p_unresolved", "p_return", "busy_s"]
    # The asked contacts only, part by part (hashing all 10M ids costs 10 s).
    pieces = [t[t["contact_id"].isin(contact_id)] for t in (pd.read_parquet(f, columns=columns) for f in files)]
    truth = pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)
    p = true_repeat_probability(truth, window_days)
    return pd.Series(p.to_numpy(), index=truth["contact_id"]).reindex(contact_id).set_axis(contact_id.index)
