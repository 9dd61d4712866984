"""The data contract: which columns a contact log has, how raw values are parsed, which rows are valid.

In: a raw export (any column names, strings or typed columns) and a `SourceSpec` saying how it maps
onto the contract (contract/mapping.py: columns, constants, composed columns, value maps, filters).
Out: `IngestResult` with the contacts in contract form (UTC timestamps, normalised codes, extra
columns, the outcome signal), the quarantined rows with the reason each was rejected, and counts
that add up: rows read = rows kept + rows filtered (by a named rule) + rows quarantined.

Parsing (timestamps with mixed UTC offsets and DST rules, numbers, yes/no answers) is done here by
hand because it is domain-specific; event logs are collapsed (contract/events.py) before the value
rules report every failing check with its column and rows. The value rules are declared once
(NOT_NULL, ALLOWED, NON_NEGATIVE, ROW_RULES): checked vectorised on the ingest path, and built into
a pandera schema (`contact_schema`) that the tests hold the fast checks to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contract.events import collapse_events
from contract.isotime import iso_with_offset
from contract.mapping import (ContractError, Mapped, _text, any_byte_of, by_value, filled, map_by_value, map_export,
                              null_where, trim)
from contract.ordering import as_microseconds, coded_order, digit_keys, digit_sort, order_codes, rank_codes, take_rows
from contract.vocabulary import CHANNELS, CONTRACT, NUMERIC, OPTIONAL, REQUIRED

__all__ = ["CONTRACT", "OPTIONAL", "REQUIRED", "ContractError", "SourceSpec", "IngestResult", "normalise_contacts",
           "parse_timestamps", "map_columns", "contact_ids"]
INTEGER = ("transfers",)
# Channels that never have a human agent on the contact, and dispositions without one.
NO_AGENT_CHANNELS = ("self_service",)
NO_AGENT_DISPOSITIONS = ("abandoned",)
# An offset at the end: Z, +05, +0530, +05:30.
_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
_TRUE = {"true", "1", "yes", "y", "t", "resolved"}
_FALSE = {"false", "0", "no", "n", "f", "not resolved", "unresolved"}
EVENTS_MERGED = "events: merged into its contact's row"


@dataclass(frozen=True)
class SourceSpec:
    """How one export maps onto the contract (from params.yaml: ingest.files, see `contract.ingest.source_spec`).

    The bare `SourceSpec()` reads a file already in contract form (`fcr label FILE` without an
    ingest.files block): its fields' values mean "absent", and DST problems are quarantined."""

    column_map: dict[str, object] = field(default_factory=lambda: {c: c for c in CONTRACT})
    timestamp_format: str | tuple[str, ...] | None = None
    timezone: str = "UTC"
    channel_map: dict[str, str] = field(default_factory=dict)
    reason_families: dict[str, str] = field(default_factory=dict)
    anonymous_customer_ids: tuple[str, ...] = ("", "0", "anonymous")
    name: str = "contacts"
    missing_values: tuple[str, ...] = ("",)
    value_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    filters: tuple = ()
    events: object | None = None           # EventsConfig
    extra_columns: dict = field(default_factory=dict)  # name -> ExtraColumn
    outcome_signal: object | None = None   # OutcomeSignal
    dst_ambiguous: str = "quarantine"
    dst_nonexistent: str = "quarantine"
    decimal: str = "."
    future_tolerance_hours: float = 0.0
    now: pd.Timestamp | None = None        # the clock for the future-rows rule (tests pin it)
    # Every unmapped value of a value map with its first row, not the most frequent ones: for an engine
    # that maps the export in parts and merges their reports (engine/ingest.py).
    every_unmapped: bool = False


@dataclass(frozen=True)
class IngestResult:
    contacts: pd.DataFrame | None  # None when they went to a sink piece by piece
    quarantine: pd.DataFrame
    counts: dict
    absent: tuple[str, ...] = ()
    constants: dict = field(default_factory=dict)
    value_maps: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def map_columns(raw: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """The export's columns under the contract's names (absent ones all missing); a required or
    mapped column that is missing raises ContractError naming it and the file's columns."""
    return map_export(raw, spec).frame[list(CONTRACT)]


@dataclass
class TimeParse:
    values: pd.Series          # UTC; NaT where unparseable or quarantined
    unparseable: pd.Series     # bool
    ambiguous: pd.Series       # bool: a local time that occurs twice (autumn)
    nonexistent: pd.Series     # bool: a local time in the spring-forward gap


def parse_times(values: pd.Series, fmt: str | tuple[str, ...] | list[str] | None, tz: str,
                ambiguous: str = "quarantine", nonexistent: str = "quarantine") -> TimeParse:
    """Parse to UTC. Values carrying an offset keep it; values without one are local time in `tz`.
    DST-ambiguous local times are read as the earliest or latest instant, or left NaT (quarantine);
    nonexistent ones shifted forward or left NaT. Every such value is flagged, so it can be counted."""
    idx = values.index
    none = pd.Series(False, index=idx)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return TimeParse(values.dt.tz_convert("UTC"), none, none, none)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        out, amb, gap = _localize(values, tz, ambiguous, nonexistent)
        return TimeParse(out, none, amb, gap)
    arrow = trim(pa.array(values.astype("str").array))
    text = pd.Series(pd.array(arrow, dtype="str"), index=idx)
    if values.isna().any():  # (else a no-op that costs a pass over every value)
        text = text.where(values.notna())
        arrow = pa.array(text.array)
    amb, gap = none.copy(), none.copy()
    formats = [fmt] if isinstance(fmt, str) or fmt is None else list(fmt)
    # Values in the one common shape (2025-01-31T09:00:00+01:00, or Z) are read from their bytes
    # (contract/isotime.py) when ISO 8601 is the first format; pandas reads the others as before.
    us, read = (iso_with_offset(arrow, text.notna().to_numpy()) if formats[0] is None
                else (None, np.zeros(len(idx), dtype=bool)))
    has_offset = pd.Series(_with_offset(arrow, read), index=idx)
    if read.any():  # (the rows not read hold NaT)
        out = pd.Series(us.view("datetime64[us]"), index=idx, copy=False).dt.tz_localize("UTC")
    else:
        out = pd.Series(pd.NaT, index=idx, dtype="datetime64[us, UTC]")
    rest = has_offset & ~read
    if rest.any():
        sub = text[rest]
        for f in formats:
            todo = out[rest].isna()
            if not todo.any():
                break
            parsed = pd.to_datetime(sub[todo], utc=True, format=f or "ISO8601", errors="coerce")
            out[parsed.index] = parsed
    naive = ~has_offset & text.notna()
    if naive.any():
        local_text = text if naive.all() else text[naive]
        parsed = pd.Series(pd.NaT, index=local_text.index, dtype="datetime64[us]")
        for f in formats:
            todo = parsed.isna()
            if not todo.any():
                break
            if todo.all():  # the first format: every row, in order (no label alignment needed)
                parsed = _strptime(local_text, f)
            else:
                got = _strptime(local_text[todo], f)
                parsed[got.index] = got
        local, a, g = _localize(parsed, tz, ambiguous, nonexistent)
        if idx.is_unique:  # by position (their labels are the naive rows', in order): no alignment
            at = np.flatnonzero(naive.to_numpy())
            out.iloc[at] = local.array
            amb.iloc[at], gap.iloc[at] = a.to_numpy(), g.to_numpy()
        else:
            out[naive] = local
            amb[naive], gap[naive] = a, g
    unparseable = out.isna() & text.notna() & (text != "") & ~amb & ~gap
    return TimeParse(out, unparseable, amb, gap)


def _with_offset(arrow: pa.Array | pa.ChunkedArray, read: np.ndarray) -> np.ndarray:
    """True where a value ends in a UTC offset (`_OFFSET`): the rows `read` do (contract/isotime.py), the
    others are asked of RE2 (pandas' str.contains runs Python's re row by row). An offset needs one of
    the characters z Z + -: without any of them in the column, no value has one."""
    has = read.copy()
    if read.all():
        return has
    rest = np.flatnonzero(~read)
    sub = arrow if not read.any() else arrow.take(pa.array(rest))
    if any_byte_of(sub, b"zZ+-"):
        has[rest] = pc.fill_null(pc.match_substring_regex(sub, _OFFSET), False).to_numpy(zero_copy_only=False)
    return has


def _strptime(text: pd.Series, fmt: str | None) -> pd.Series:
    """Naive datetimes from text in one format (None: ISO 8601); NaT where it does not parse.
    Arrow's C++ strptime does the bulk (pandas' is a Python loop for non-ISO formats); what it
    rejects is retried by pandas, so the accepted inputs are pandas' own."""
    if fmt is None or "%f" in fmt or "%z" in fmt or "%Z" in fmt:
        return pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce").astype("datetime64[us]")
    parsed = pc.strptime(pa.array(text.array), format=fmt, unit="us", error_is_null=True)
    out = pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index).astype("datetime64[us]")
    retry = out.isna() & text.notna()
    # Arrow rolls an impossible day over into the next month (31/02 -> 3 March, 29/02/2025 -> 1 March):
    # a rolled-over date falls on day 1-3, so those are checked again by pandas, which refuses them.
    retry |= (out.dt.day <= 3).fillna(False).astype(bool)
    if retry.any():
        out[retry] = pd.to_datetime(text[retry], format=fmt, errors="coerce").astype("datetime64[us]")
    return out


def parse_timestamps(values: pd.Series, fmt: str | None, tz: str) -> pd.Series:
    """Parse to UTC (see `parse_times`); unparseable and DST-problem values become NaT."""
    return parse_times(values, fmt, tz).values


def _localize(values: pd.Series, tz: str, ambiguous: str, nonexistent: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Local wall times -> UTC, with the DST-ambiguous and nonexistent ones flagged."""
    strict = values.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    problem = strict.isna() & values.notna()
    amb = pd.Series(False, index=values.index)
    gap = pd.Series(False, index=values.index)
    if problem.any():
        sub = values[problem]
        # A time that localises once DST is assumed is ambiguous; one that never does is in the gap.
        as_dst = sub.dt.tz_localize(tz, ambiguous=np.ones(len(sub), dtype=bool), nonexistent="NaT")
        amb[problem] = as_dst.notna().to_numpy()
        gap[problem] = as_dst.isna().to_numpy()
        fixed = strict.copy()
        a_idx, g_idx = amb[amb].index, gap[gap].index
        if len(a_idx) and ambiguous != "quarantine":
            # earliest: the first occurrence, still in summer time (DST flag True)
            flag = np.full(len(a_idx), ambiguous == "earliest")
            fixed[a_idx] = values[a_idx].dt.tz_localize(tz, ambiguous=flag, nonexistent="NaT")
        if len(g_idx) and nonexistent == "shift_forward":
            fixed[g_idx] = values[g_idx].dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        strict = fixed
    return strict.dt.tz_convert("UTC"), amb, gap


def _parse_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Nullable booleans from the many ways exports write yes/no; returns (parsed, bad mask)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), pd.Series(False, index=values.index)
    # Each distinct text read once (a yes/no column holds a handful), then spread to the rows.
    answer = by_value(values.astype("str"), _yes_no).to_numpy(copy=True)
    answer[values.isna().to_numpy()] = _BLANK  # (a missing value is no answer, and not a bad one)
    parsed = pd.Series(pd.NA, index=values.index, dtype="boolean")
    parsed[answer == _YES] = True
    parsed[answer == _NO] = False
    return parsed, pd.Series(answer == _BAD, index=values.index)


_NO, _YES, _BAD, _BLANK = range(4)


def _yes_no(text: pd.Series) -> pd.Series:
    """What each yes/no answer says: _YES, _NO, _BAD (not one) or _BLANK (missing or blank)."""
    text = text.str.strip().str.lower()
    said = np.select([text.isin(_TRUE), text.isin(_FALSE), text.notna() & (text != "")], [_YES, _NO, _BAD], _BLANK)
    return pd.Series(said.astype(np.int8), index=text.index)


def _clean_str(values: pd.Series) -> pd.Series:
    return _text(values).astype("str")


def _blank(values: pd.Series, where: pd.Series) -> pd.Series:
    """True where a value is an empty string (checked only on the rows in `where`, for speed)."""
    out = pd.Series(False, index=values.index)
    if where.any():
        out[where] = values[where].astype("str").str.strip() == ""
    return out


def _ended_after_start(df: pd.DataFrame, agents: bool) -> pd.Series:
    return df["ended_at"].isna() | (df["ended_at"] >= df["started_at"])


def _agent_present(df: pd.DataFrame, agents: bool) -> pd.Series:
    return (df["agent_id"].notna() | df["channel"].isin(NO_AGENT_CHANNELS)
            | df["disposition"].isin(NO_AGENT_DISPOSITIONS) | (not agents))


# The value rules of a parsed contact row (parse failures are caught before, with their own
# reason), declared once. `rule_failures` applies them vectorised on the ingest path; `contact_schema`
# builds the same rules as a pandera schema, the reference the tests hold the fast checks to.
# A row is reported under its first failing rule: column rules in contract column order, then the
# row rules in the order below.
NOT_NULL: tuple[str, ...] = ("contact_id", "started_at", "channel", "reason_code")
ALLOWED: dict[str, tuple[str, ...]] = {"channel": CHANNELS}    # missing values are the not-null rule's
NON_NEGATIVE: tuple[str, ...] = ("wait_s", "handle_s", "transfers")  # missing allowed
ROW_RULES = (  # (name, column reported, reason, test -> True where the row passes)
    ("ended_at >= started_at", "ended_at", "ended_at before started_at", _ended_after_start),
    ("agent_id present unless abandoned or self-service", "agent_id", "missing agent_id on a handled contact",
     _agent_present),
)
_CHECK_REASON = {"not_nullable": "missing value", "isin": "unknown value",
                 "greater_than_or_equal_to": "negative value"} | {name: why for name, _, why, _ in ROW_RULES}
_TABLE_CHECK_COLUMN = {name: col for name, col, _, _ in ROW_RULES}


def rule_failures(df: pd.DataFrame, agents: bool = True) -> list[tuple[np.ndarray, str]]:
    """(rows failing, 'column: reason') for each rule in the order a row's first failure is taken."""
    out = []
    for col in (c for c in CONTRACT if c in NOT_NULL or c in ALLOWED or c in NON_NEGATIVE):
        values = df[col]
        missing = values.isna().to_numpy()
        if col in NOT_NULL:
            out.append((missing, f"{col}: {_CHECK_REASON['not_nullable']}"))
        if col in ALLOWED:
            out.append((~missing & ~values.isin(ALLOWED[col]).to_numpy(), f"{col}: {_CHECK_REASON['isin']}"))
        if col in NON_NEGATIVE:
            out.append((~missing & (values.to_numpy(dtype="float64", na_value=np.nan) < 0),
                        f"{col}: {_CHECK_REASON['greater_than_or_equal_to']}"))
    for name, col, why, test in ROW_RULES:
        out.append((~test(df, agents).to_numpy(dtype=bool), f"{col}: {why}"))
    return out


def contact_schema(agents: bool = True):
    """The rules above as a pandera `DataFrameSchema` (pandera is imported here only: its backends
    load hypothesis, which costs start-up time the ingest does not need)."""
    import pandera.pandas as pdr

    columns = {c: pdr.Column(None, [pdr.Check.isin(ALLOWED[c])] if c in ALLOWED else
                             [pdr.Check.ge(0)] if c in NON_NEGATIVE else [], nullable=c not in NOT_NULL)
               for c in CONTRACT if c in NOT_NULL or c in ALLOWED or c in NON_NEGATIVE}
    checks = [pdr.Check(lambda df, test=test: test(df, agents), name=name, element_wise=False)
              for name, _, _, test in ROW_RULES]
    return pdr.DataFrameSchema(columns, checks=checks, coerce=False)


def schema_failures(df: pd.DataFrame, agents: bool = True) -> pd.Series:
    """First failing rule of each row by pandera, as 'column: reason' (column rules before table
    rules); empty for valid rows. The reference for `rule_failures` (tests)."""
    import pandera.pandas as pdr

    reasons = pd.Series("", index=df.index, dtype="str")
    try:
        contact_schema(agents).validate(df, lazy=True)
    except pdr.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        whole = fc[fc["index"].isna()]
        if len(whole):  # a failure about the table, not rows: a bug in parsing, never silently skipped
            raise ContractError(f"contact table fails checks {whole[['column', 'check']].to_dict('records')}")
        found: dict[int, tuple[int, str]] = {}  # row -> (rank of the rule, reason)
        for row in fc.itertuples(index=False):
            check = str(row.check).split("(")[0]
            if check in _TABLE_CHECK_COLUMN:
                col, rank = _TABLE_CHECK_COLUMN[check], 100
            else:
                col, rank = str(row.column), CONTRACT.index(row.column) if row.column in CONTRACT else 50
            text = f"{col}: {_CHECK_REASON.get(check, check)}"
            if row.index not in found or rank < found[row.index][0]:
                found[int(row.index)] = (rank, text)
        if found:
            reasons.loc[list(found)] = [text for _, text in found.values()]
    return reasons


def _numbers(values: pd.Series, decimal: str) -> pd.Series:
    """Floats from numbers or text (NaN where missing or not a number)."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")
    # In Arrow (what pandas' str.strip and str.replace call, without the pandas round trips).
    arr = trim(pa.array(values.astype("str").array))
    if decimal != ".":
        arr = pc.replace_substring(arr, decimal, ".")
    try:  # Arrow's cast: one C++ pass when every value is a number (the usual case)
        return pd.Series(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), index=values.index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(pd.Series(pd.array(arr, dtype="str"), index=values.index),
                             errors="coerce").astype("float64")


def _id_sorts(ids: pa.Array, customers: pa.Array) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The contact ids sorted (`sorted_values`: duplicates, the id order) and the customers' order codes
    (the stored order): one worker's job, started as soon as both are clean."""
    return sorted_values(ids), order_codes(customers)


SORTED_CHUNK = 1 << 20  # sorted neighbours compared this many at a time


def sorted_values(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(the positions in ascending value order, missing last; per sorted position, a number that
    equal values share, all missing values one). By sorting: for millions of distinct ids, Arrow's
    sort is several times faster than hashing them (dictionary_encode)."""
    n = len(values)
    packed = digit_keys(values) if n >= 2 else None
    if packed is not None:  # ids of one size, a shared prefix and digits: sorted as integers (10x faster)
        order, ranked = digit_sort(*packed)
        same = np.ones(n - 1, dtype=bool)  # (missing values: one group, after the others)
        same[:len(ranked) - 1] = ranked[1:] == ranked[:-1]
        if len(ranked) < n:
            same[len(ranked) - 1] = False
        return order, np.concatenate([[0], np.cumsum(~same)])
    order = pc.array_sort_indices(values, null_placement="at_end").to_numpy()
    if n < 2:
        return order, np.zeros(n, dtype=np.int64)
    same = np.empty(n - 1, dtype=bool)
    for lo in range(0, n - 1, SORTED_CHUNK):  # (a sorted copy of a chunk of the values at a time, not of all)
        ranked = values.take(order[lo:min(lo + SORTED_CHUNK, n - 1) + 1])
        part = pc.fill_null(pc.equal(ranked.slice(0, len(ranked) - 1), ranked.slice(1)), False)
        nulls = pc.is_null(ranked).to_numpy(zero_copy_only=False)
        same[lo:lo + len(ranked) - 1] = part.to_numpy(zero_copy_only=False) | (nulls[:-1] & nulls[1:])
    return order, np.concatenate([[0], np.cumsum(~same)])


def repeated(by_value: tuple[np.ndarray, np.ndarray], among: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of the rows where `among` is true, in row order: (True where the value occurs more than once
    among them, each one's position in ascending value order among them). `by_value` is
    `sorted_values` of all the rows: the rows in play are only known later, the sort starts early."""
    order, group = by_value
    pick = among[order]
    order, group = order[pick], group[pick]
    m = len(order)
    same = group[1:] == group[:-1]
    dup = np.zeros(m, dtype=bool)
    dup[:-1] |= same
    dup[1:] |= same
    slot = np.cumsum(among, dtype=np.int32 if len(among) < 2**31 else np.int64) - 1  # row -> its place in play
    out, ranks = np.empty(m, dtype=bool), np.empty(m, dtype=np.int64)
    out[slot[order]] = dup
    ranks[slot[order]] = np.arange(m)
    return out, ranks


def contact_ids(raw: pd.DataFrame, spec: SourceSpec, duplicated: dict[str, list[int]] | None = None) -> pd.Series:
    """The contact ids of a raw export as `normalise_contacts` reads them (mapped, cleaned), before any row is
    judged: what an engine that normalises the export in parts partitions it by, so that the rows sharing an id
    (duplicates, a ticket's events) meet in one part."""
    mapped = map_export(raw.reset_index(drop=True), spec, duplicated)
    ids = mapped.frame["contact_id"]
    return ids if "contact_id" in mapped.clean else _clean_str(ids)


def normalise_contacts(raw: pd.DataFrame, spec: SourceSpec, duplicated: dict[str, list[int]] | None = None,
                       agent_teams: pd.Series | None = None,
                       sink: Callable[[pd.DataFrame], None] | None = None) -> IngestResult:
    """Map, parse and validate a raw contact export; see the module docstring. `agent_teams` (team by
    agent id, from the agents table) fills a missing team; `sink` receives the kept contacts in their
    stored order, piece by piece, as they are taken (contract/ordering.py `take_rows`), and the
    result's `contacts` is then None: the caller keeps what it needs of each piece.

    The steps, in order (a row keeps the first reason it is given): map the columns, clean the text
    and parse the times and numbers, then timestamps, future rows, numbers, yes/no answers, extra
    columns and the outcome signal are checked; codes are normalised, events collapsed, the value rules
    applied, duplicates found; the last columns are filled and the kept rows taken in their stored order."""
    raw = raw.reset_index(drop=True)
    mapped = map_export(raw, spec, duplicated)
    df = mapped.frame
    rows = _Verdicts(mapped.filtered)
    absent = set(mapped.absent)
    times, numbers, sorts = _clean_and_parse(df, mapped, spec, absent)
    dst = _check_times(df, times, absent, spec, rows)
    now = spec.now if spec.now is not None else pd.Timestamp.now(tz="UTC")
    limit = now + pd.Timedelta(hours=spec.future_tolerance_hours)
    rows.flag(df["started_at"] > limit, f"started_at: in the future (after {limit:%Y-%m-%d %H:%M} UTC)")
    _check_numbers(df, numbers, absent, rows)
    _check_survey(df, absent, rows)
    _check_extras(df, spec, rows)
    _check_signal(df, spec, rows)
    _normalise_codes(df)
    if spec.events is not None:
        merged = collapse_events(df, pd.Series(rows.open, index=df.index), spec.events, spec.extra_columns)
        merged = merged.to_numpy(dtype=bool) & rows.open
        rows.filtered[merged] = EVENTS_MERGED
        rows.open[merged] = False
    _resolve_signal(df, spec.outcome_signal)
    for mask, text in rule_failures(df, agents="agent_id" not in mapped.absent):
        rows.flag(mask, text)
    ranks, customer_codes = _check_duplicates(df, spec, sorts, rows)

    keep = pd.Series(rows.open, index=df.index)
    bad = pd.Series(rows.code != 0, index=df.index)
    # The stored order is sorted in a thread (numpy sorts without the GIL) while the last columns are
    # filled and the quarantine's rows written as JSON (Python, with it).
    with ThreadPoolExecutor(max_workers=1) as pool:
        ordering = pool.submit(_stored_order, as_microseconds(df["started_at"]), rows.open, customer_codes, ranks)
        unmapped = _last_columns(df, spec, keep, rows.open, agent_teams)
        # The rejected rows' raw values are kept now and the raw frame let go before the take (the stage's
        # peak): a caller that handed it over (`RawExport.hand_over`) frees the export's columns the
        # contacts do not share (1M rows: peak RSS -8%, half the kernel time of first-touch page faults).
        quarantine = quarantine_rows(raw, bad, rows.reason, spec.name)
        kept_rows, order = ordering.result()
    rows_read = len(raw)
    del raw, times, numbers, sorts, ranks, customer_codes  # (and what the take, the peak, does not need)
    n_anonymous = int(df["customer_id"].isna().to_numpy()[kept_rows].sum())
    taken = kept_rows if order is None else kept_rows[order]
    del kept_rows, order, ordering
    contacts = take_rows(df, taken, sink=sink)
    if contacts is not None:
        contacts = contacts.reset_index(drop=True)
    counts = _counts(rows_read, keep, rows.filtered, bad, quarantine, n_anonymous, unmapped, dst, mapped)
    return IngestResult(contacts, quarantine, counts, tuple(mapped.absent), mapped.constants, mapped.value_maps,
                        tuple(mapped.notes))


class _Verdicts:
    """Each row's fate so far: the rule that filtered it (`filtered`, "" for none), the reason it is
    quarantined (`reason`, "" for none), and the rows still in play (`open`: neither filtered nor given
    a reason), kept as numpy so that each rule costs one mask operation, not string comparisons over
    every row."""

    def __init__(self, filtered: pd.Series) -> None:
        self.filtered = filtered
        self.texts = [""]  # the reasons given, by code (0: none)
        self.code = np.zeros(len(filtered), dtype=np.int16)
        self.open = (filtered == "").to_numpy(dtype=bool, copy=True)

    def flag(self, mask: pd.Series | np.ndarray, text: str) -> None:
        """Give the rows of `mask` still in play the reason `text` (a row keeps its first reason)."""
        hit = np.asarray(mask, dtype=bool) & self.open
        if hit.any():
            if text not in self.texts:
                self.texts.append(text)
            self.code[hit] = self.texts.index(text)
            self.open[hit] = False

    @property
    def reason(self) -> pd.Series:
        """Each row's reason as text ("" for none), built from the codes once asked for: a text column
        of every row changed rule by rule would be copied whole at each rule."""
        texts = pa.array(self.texts, type=pa.large_string())
        return pd.Series(pd.array(pc.take(texts, pa.array(self.code)), dtype="str"), index=self.filtered.index)


def _clean_and_parse(df: pd.DataFrame, mapped: Mapped, spec: SourceSpec, absent: set[str]) -> tuple[dict, dict, Future]:
    """Cleans the text columns in place (anonymous customer ids made missing) and returns the parsed
    timestamps and numbers by column, and the id sorts' job (`_id_sorts`).

    Work that need not wait runs in more threads (Arrow releases the GIL): the timestamps parse, and
    once the ids are clean, the sorts of the contact and customer ids (for duplicates and the stored
    order), while the text and number columns are cleaned here. The reasons are still given in the
    order of `normalise_contacts`."""
    with ThreadPoolExecutor(max_workers=3) as pool:  # (the two timestamps and the sorts, all at once)
        times = {col: pool.submit(parse_times, df[col], spec.timestamp_format, spec.timezone, spec.dst_ambiguous,
                                  spec.dst_nonexistent) for col in ("started_at", "ended_at") if col not in absent}
        for col in ("contact_id", "customer_id", "channel", "reason_code", "agent_id", "team", "disposition"):
            if col in absent:
                df[col] = pd.Series(pd.NA, index=df.index, dtype="str")
            elif col not in mapped.clean:
                df[col] = _clean_str(df[col])
        # Anonymous ids made missing in Arrow (a new validity bitmap; pandas' where copies every id).
        ids = pa.array(df["customer_id"].array)
        anonymous = pc.is_in(ids, value_set=pa.array(list(spec.anonymous_customer_ids), type=ids.type))
        df["customer_id"] = pd.Series(pd.array(null_where(ids, anonymous), dtype="str"), index=df.index)
        sorts = pool.submit(_id_sorts, pa.array(df["contact_id"].array), pa.array(df["customer_id"].array))
        numbers = {col: _numbers(df[col], spec.decimal) for col in NUMERIC if col not in absent}
        times = {col: job.result() for col, job in times.items()}
    return times, numbers, sorts


def _check_times(df: pd.DataFrame, times: dict[str, TimeParse], absent: set[str], spec: SourceSpec,
                 rows: _Verdicts) -> dict[str, dict]:
    """The parsed timestamps into `df`; unparseable and DST-problem times quarantined. Returns the DST
    counts by column (for the counts)."""
    dst: dict[str, dict] = {}
    for col in ("started_at", "ended_at"):
        if col in absent:
            df[col] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[us, UTC]")
            continue
        tp = times[col]
        rows.flag(tp.unparseable, f"{col}: unparseable timestamp")
        rows.flag(tp.ambiguous & tp.values.isna(),
                  f"{col}: ambiguous local time (DST); set ingest.files.dst_ambiguous")
        rows.flag(tp.nonexistent & tp.values.isna(),
                  f"{col}: nonexistent local time (DST gap); set ingest.files.dst_nonexistent")
        if tp.ambiguous.any() or tp.nonexistent.any():
            dst[col] = {"ambiguous": int(tp.ambiguous.sum()), "ambiguous_rule": spec.dst_ambiguous,
                        "nonexistent": int(tp.nonexistent.sum()), "nonexistent_rule": spec.dst_nonexistent}
        df[col] = tp.values
    return dst


def _check_numbers(df: pd.DataFrame, numbers: dict[str, pd.Series], absent: set[str], rows: _Verdicts) -> None:
    """The parsed numbers into `df`; values that are not (finite, whole where required) numbers quarantined."""
    for col in NUMERIC:
        if col in absent:
            df[col] = np.full(len(df), np.nan)
            continue
        num = numbers[col]
        failed = num.isna() & df[col].notna()
        rows.flag(failed & ~_blank(df[col], failed), f"{col}: not a number")
        rows.flag(np.isinf(num), f"{col}: not a finite number")
        if col in INTEGER:
            rows.flag(num.notna() & np.isfinite(num) & (num != np.round(num)), f"{col}: not a whole number")
        df[col] = num


def _check_survey(df: pd.DataFrame, absent: set[str], rows: _Verdicts) -> None:
    if "survey_resolved" in absent:
        df["survey_resolved"] = pd.Series(pd.NA, index=df.index, dtype="boolean")
    else:
        df["survey_resolved"], bad_bool = _parse_bool(df["survey_resolved"])
        rows.flag(bad_bool, "survey_resolved: not a yes/no value")


def _check_extras(df: pd.DataFrame, spec: SourceSpec, rows: _Verdicts) -> None:
    """The extra columns read by their kind: numbers, yes/no flags, or text."""
    for name, extra in spec.extra_columns.items():
        col = f"extra_{name}"
        if extra.kind == "number":
            num = _numbers(df[col], spec.decimal)
            failed = num.isna() & df[col].notna()
            rows.flag(failed & ~_blank(df[col], failed), f"{col}: not a number")
            rows.flag(np.isinf(num), f"{col}: not a finite number")
            df[col] = num
        elif extra.kind == "flag":
            df[col], bad = _parse_bool(df[col])
            rows.flag(bad, f"{col}: not a yes/no value")
        else:
            df[col] = _clean_str(df[col])


def _check_signal(df: pd.DataFrame, spec: SourceSpec, rows: _Verdicts) -> None:
    """The outcome signal read as a yes/no flag or a count (`_resolve_signal` turns it into resolved)."""
    signal = spec.outcome_signal
    if signal is None:
        return
    if signal.kind == "flag":
        df["resolution_signal"], bad = _parse_bool(df["resolution_signal"])
        rows.flag(bad, "resolution_signal: not a yes/no value")
    else:
        num = _numbers(df["resolution_signal"], spec.decimal)
        bad = (num.isna() & df["resolution_signal"].notna()) | np.isinf(num) | (num < 0) | (num != np.round(num))
        rows.flag(bad & num.notna() | (num.isna() & df["resolution_signal"].notna()),
                  "resolution_signal: not a count (a whole number >= 0)")
        df["resolution_signal"] = num


def _normalise_codes(df: pd.DataFrame) -> None:
    """Channels and dispositions in lower case; a missing disposition is "handled"."""
    channel = df["channel"].str.lower()
    df["channel"] = channel.astype("str")
    # (pandas' fillna on Arrow strings replaces by mask, several times slower than Arrow's fill_null)
    df["disposition"] = pd.Series(pd.array(pc.fill_null(pc.utf8_lower(pa.array(df["disposition"].array)), "handled"),
                                           dtype="str"), index=df.index)


def _resolve_signal(df: pd.DataFrame, signal: object | None) -> None:
    """The outcome signal as resolved (True) or not, by its polarity."""
    if signal is None:
        return
    v = df["resolution_signal"]
    if signal.kind == "flag":
        res = v if signal.resolved_when else ~v
    else:
        res = (v == 0) if signal.resolved_when == "zero" else (v > 0)
    df["resolution_signal"] = res.astype("boolean")


def _check_duplicates(df: pd.DataFrame, spec: SourceSpec, sorts: Future,
                      rows: _Verdicts) -> tuple[np.ndarray, np.ndarray]:
    """Duplicates: the same row exported twice, or a contact id reused with other content (among the
    rows still in play: a filtered event or a dropped row is no original to copy). Returns each row's
    rank in contact id order (kept rows) and the customers' rank codes."""
    # An exact copy shares its contact id, so whole rows are compared only where ids repeat.
    open_ = rows.open
    in_play = np.flatnonzero(open_)
    by_id, customer_codes = sorts.result()
    if spec.events is not None and "customer_id" in spec.events.aggregate:  # the collapse rewrote them
        customer_codes = rank_codes(pa.array(df["customer_id"].array))
    again, id_rank = repeated(by_id, open_)
    shared = in_play[again]
    exact = np.zeros(len(df), dtype=bool)
    exact[shared[df.loc[shared].duplicated(keep="first").to_numpy()]] = True
    rows.flag(exact, "contact_id: duplicate row")
    # Of the rest, a second row with an id already seen reuses it with other content.
    sub = shared[open_[shared]]
    reused = np.zeros(len(df), dtype=bool)
    reused[sub[df.loc[sub, "contact_id"].duplicated(keep="first").to_numpy()]] = True
    rows.flag(reused, "contact_id: duplicate id with different content")
    ranks = np.zeros(len(df), dtype=np.int64)
    ranks[in_play] = id_rank  # kept ids are distinct now: their ranks order them as the ids do
    return ranks, customer_codes


def _last_columns(df: pd.DataFrame, spec: SourceSpec, keep: pd.Series, open_: np.ndarray,
                  agent_teams: pd.Series | None) -> int | None:
    """The last columns, row by row on the whole frame (so that nothing changes after the take): the
    reason family, whole transfers, the source row, the team from the agents table. Returns the number
    of kept rows whose reason code has no family (None without a family mapping or column)."""
    # A code without a family is its own family (never lumped with other unmapped codes).
    family = map_by_value(df["reason_code"], spec.reason_families) if spec.reason_families else None
    if "reason_family" in df:  # from a column of the export; the mapping fills its gaps
        family = _clean_str(df["reason_family"]).fillna(family if family is not None else pd.NA)
    unmapped = int((family.isna() & keep).sum()) if family is not None else None
    df["reason_family"] = (family.fillna(df["reason_code"]) if family is not None else df["reason_code"]).astype("str")
    # Whole numbers on the kept rows (a rejected row may hold 1.5 or inf), built directly: pandas'
    # astype("Int64") checks every value again.
    transfers = df["transfers"].to_numpy(dtype=np.float64, na_value=np.nan)
    unknown = ~open_ | np.isnan(transfers)
    whole = np.where(unknown, 0, transfers)
    df["transfers"] = (pd.arrays.IntegerArray(whole.astype(np.int64), unknown) if np.abs(whole).max(initial=0) < 2**62
                       else df["transfers"].where(keep).astype("Int64"))  # (beyond int64: pandas' error)
    df["source_row"] = df.index.astype("int64")
    if agent_teams is not None and len(agent_teams):  # the export may lack the team; the agents table knows it
        df["team"] = df["team"].fillna(map_by_value(df["agent_id"], agent_teams)).astype("str")
    return unmapped


def _stored_order(started: np.ndarray, keep: np.ndarray, customer_codes: np.ndarray,
                  ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The kept rows and their (customer, time, id) order: each customer's history contiguous and in time
    order (anonymous last), the order the labeller and the feature builder work in, so they need not
    sort 10 million rows again (None: in order already). `started`: the start times in microseconds."""
    kept_rows = np.flatnonzero(keep)
    order = coded_order(customer_codes[kept_rows], started[kept_rows], ranks[kept_rows])
    return kept_rows, order


def _counts(rows_read: int, keep: pd.Series, filtered: pd.Series, bad: pd.Series, quarantine: pd.DataFrame,
            n_anonymous: int, unmapped: int | None, dst: dict, mapped: Mapped) -> dict:
    """The row accounting (read = kept + filtered + quarantined, checked) and what the mapping found."""
    by_reason = quarantine["reason"].value_counts().sort_index()
    by_rule = filtered[filtered != ""].value_counts().sort_index()
    counts = {
        "rows_read": int(rows_read),
        "rows_kept": int(keep.sum()),
        "rows_filtered": int((filtered != "").sum()),
        "rows_quarantined": int(bad.sum()),
        "filtered_by_rule": {k: int(v) for k, v in by_rule.items()},
        "quarantined_by_reason": {k: int(v) for k, v in by_reason.items()},
        "anonymous_contacts": n_anonymous,
        "unmapped_reason_codes": unmapped,
        "absent_columns": list(mapped.absent),
        "dst": dst,
        "value_maps": mapped.value_maps,
        "notes": list(mapped.notes),
    }
    if counts["rows_read"] != counts["rows_kept"] + counts["rows_filtered"] + counts["rows_quarantined"]:
        raise AssertionError(f"ingest lost rows: {counts}")
    return counts


def quarantine_rows(raw: pd.DataFrame, mask: pd.Series, reason: pd.Series, source: str) -> pd.DataFrame:
    """Rejected rows with their reason and the raw values as JSON, so nothing is lost."""
    rows = raw.loc[mask.to_numpy()] if mask.any() else raw.iloc[:0]  # (the empty case: no take at all)
    return pd.DataFrame({
        "source": pd.Series(source, index=rows.index, dtype="str"),
        "source_row": rows.index.astype("int64"),
        "reason": reason[mask].astype("str"),
        "row": [json.dumps(r, default=str) for r in rows.to_dict(orient="records")],
    }).reset_index(drop=True)


def reject_summary(quarantine: pd.DataFrame, column_map: dict[str, str | None], max_examples: int = 5,
                   extra_columns: dict | None = None, outcome_column: str | None = None) -> str:
    """Human-readable lines: each reason with its count, first rows and offending values (read from
    the raw rows the quarantine keeps), named by the export's column; for values that are not yes/no,
    the value_maps entry that teaches ingest the export's own words."""
    sources = {**{f"extra_{n}": (e.column, n) for n, e in (extra_columns or {}).items()},
               **({"resolution_signal": (outcome_column, "outcome_signal")} if outcome_column else {})}
    lines = []
    for text, grp in quarantine.groupby("reason", sort=False):
        col = text.split(":")[0]
        entry = column_map.get(col)
        src, key = sources.get(col, (entry if isinstance(entry, str) else col, col))
        rows = grp["source_row"].head(max_examples).tolist()
        raw_rows = [json.loads(r) for r in grp["row"].head(max_examples)]
        vals = [r[src] for r in raw_rows if src in r]
        lines.append(f"  {text}: {len(grp)} rows (column '{src}'); first rows {rows}, values {vals}")
        if text.endswith("not a yes/no value"):
            words = ", ".join(f"{v}: yes|no" for v in dict.fromkeys(map(str, vals)))
            lines.append(f"    if these are your system's yes/no words, write in params.yaml: ingest.files.value_maps: "
                         f"{{{key}: {{{words}}}}}")
    return "\n".join(lines)


def validate_side_table(raw: pd.DataFrame, key: str, name: str) -> IngestResult:
    """Customers/agents: the key must be present and unique; other rows are quarantined."""
    if key not in raw.columns:
        raise ContractError(f"the {name} table has no '{key}' column; it has {list(raw.columns)}.")
    raw = raw.reset_index(drop=True)
    df = raw.copy()
    df[key] = _clean_str(df[key])
    reason = pd.Series("", index=df.index, dtype="str")
    reason[df[key].isna()] = f"{key}: missing value"
    reason[(reason == "") & df[key].duplicated(keep="first")] = f"{key}: duplicate id"
    keep = reason == ""
    q = quarantine_rows(raw, ~keep, reason, name)
    counts = {"rows_read": int(len(raw)), "rows_kept": int(keep.sum()), "rows_quarantined": int((~keep).sum()),
              "quarantined_by_reason": {k: int(v) for k, v in q["reason"].value_counts().items()}}
    return IngestResult(df.loc[keep].reset_index(drop=True), q, counts)
