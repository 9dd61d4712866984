"""Mapping an export onto the contract's columns, before any value is parsed.

In: the raw export table (source column names; text or typed) and a `SourceSpec`. Out: `Mapped`,
a frame with every contract column (absent ones all missing), `extra_<name>` columns and the raw
outcome signal (`resolution_signal`), the rule that filtered each row ("" for kept rows), and a
report: absent and constant columns, each value map's coverage (with the unmapped values), notes.

Column sources: a source column name, `{constant: v}`, `{parts: [a, b], sep: " "}` or null
(absent). A name the header repeats is read as `NAME#1`, `NAME#2`, ... (contract/reading.py), and
only so: the bare `NAME` is ambiguous, an error that lists those spellings with their positions
(taking the first silently would read the wrong column of an export whose order changed). An unused
repeated name is a note. Missing-value tokens become missing in every mapped column.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contract.vocabulary import ABSENT_ALLOWED, CONTRACT, NUMERIC, REQUIRED
from base.errors import StageStop

THREADS = min(4, os.cpu_count() or 1)  # for per-column work
DROP = "drop"  # a value map target that filters the row
UNMAPPED_SHOWN = 20  # a value map's unmapped values reported (the most frequent)
FIRST_ROWS = "unmapped_first_rows"  # with SourceSpec.every_unmapped: each unmapped value's first row
# The reason family may come from a column too (e.g. a ticket's category above its subcategory).
MAPPABLE = (*CONTRACT, "reason_family")


class ContractError(StageStop, ValueError):
    """The export cannot be mapped onto the contract (e.g. a mapped column does not exist)."""


@dataclass
class Mapped:
    frame: pd.DataFrame
    filtered: pd.Series  # rule name per row; "" = not filtered
    absent: list[str]
    constants: dict[str, str]
    value_maps: dict[str, dict]
    notes: list[str] = field(default_factory=list)
    # Columns taken as they are from one source column: already stripped, blanks and tokens missing.
    clean: frozenset[str] = frozenset()


def source_of(entry: object) -> list[str]:
    """The source columns a column_map entry reads."""
    if entry is None:
        return []
    if isinstance(entry, str):
        return [entry]
    parts = getattr(entry, "parts", None) or (entry.get("parts") if isinstance(entry, dict) else None)
    return list(parts or [])


def _constant(entry: object) -> str | None:
    if isinstance(entry, dict):
        return entry.get("constant")
    return getattr(entry, "constant", None)


def _sep(entry: object) -> str:
    return entry["sep"] if isinstance(entry, dict) else entry.sep


def _text(values: pd.Series, missing: tuple[str, ...] | list[str] = ()) -> pd.Series:
    """Stripped text; blank and `missing` tokens become missing. Integral floats (ids read from a
    typed file with a gap) are written without '.0': a customer 17 must not become '17.0'."""
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.dropna()
        if len(finite) and np.isfinite(finite).all() and (finite == np.round(finite)).all():
            values = values.astype("Int64")
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("str").where(values.notna())
    if not pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return values  # timestamps etc.: parsed later as they are
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) == "boolean":
        values = _bools_as_text(values)  # (yes/no answers with gaps: Python objects, read by pandas as such)
    elif values.dtype != "str":
        values = values.astype("str")
    # In Arrow (trim, then null out blanks and tokens): pandas' chain costs twice as much.
    arr = trim(pa.array(values.array))
    blank = pc.is_in(arr, value_set=pa.array(["", *missing], type=arr.type))
    if pc.any(blank).as_py():
        arr = null_where(arr, blank)
    return pd.Series(pd.array(arr, dtype=values.dtype), index=values.index)


def _bools_as_text(values: pd.Series) -> pd.Series:
    """`values.astype("str")` of Python booleans and missing values ("True", "False", missing), by Arrow
    from the booleans: pandas' astype calls str() on every object."""
    flags = pa.array(values.to_numpy(), type=pa.bool_(), from_pandas=True)
    text = pc.if_else(flags, pa.scalar("True", pa.large_string()), pa.scalar("False", pa.large_string()))
    return pd.Series(pd.array(text, dtype="str"), index=values.index)


# The ASCII bytes Arrow's utf8_trim_whitespace strips, asked of Arrow itself (not assumed).
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[c for c in range(128)
              if pc.utf8_trim_whitespace(pa.array([f"{chr(c)}a{chr(c)}"])).to_pylist() == ["a"]]] = True


def trim(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`pc.utf8_trim_whitespace(arr)`, or `arr` itself when no value starts or ends with whitespace
    (the usual case: the check reads two bytes a value and copies no strings)."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    if any(_may_need_trim(c) for c in chunks):
        return pc.utf8_trim_whitespace(arr)
    return arr


def _may_need_trim(chunk: pa.Array) -> bool:
    """False only when every value of a string array is ASCII and neither starts nor ends with
    whitespace. Reads the Arrow buffers: each value's first and last byte."""
    if pa.types.is_large_string(chunk.type):
        width = np.int64
    elif pa.types.is_string(chunk.type):
        width = np.int32
    else:
        return True
    if len(chunk) == 0:
        return False
    _, offsets_buf, data_buf = chunk.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=width)[chunk.offset: chunk.offset + len(chunk) + 1]
    if data_buf is None or offsets[-1] == offsets[0]:
        return False  # every value empty
    data = np.frombuffer(data_buf, dtype=np.uint8)
    if data[offsets[0]: offsets[-1]].max() >= 128:
        return True  # non-ASCII: Unicode spaces are Arrow's to find
    # Each value's first and last byte (an empty value reads a neighbour's, or is clipped to the
    # buffer: at worst a needless trim). ASCII whitespace is <= 32: compare first, look up rarely.
    ends = offsets[1:] - 1
    for edge in (data.take(offsets[:-1], mode="clip"), data.take(ends, mode="clip")):
        low = edge <= 32
        if low.any() and _ASCII_SPACE[edge[low]].any():
            return True
    return False


def any_byte_of(arr: pa.Array | pa.ChunkedArray, chars: bytes) -> bool:
    """True when a string array's data holds any of the ASCII `chars` (False is exact: a UTF-8
    multi-byte character never contains an ASCII byte). A byte scan, no strings copied."""
    for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return True
        if len(chunk) == 0 or chunk.buffers()[2] is None:
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset: chunk.offset + len(chunk) + 1]
        data = chunk.buffers()[2][int(offsets[0]): int(offsets[-1])].to_pybytes()
        if any(data.find(bytes([c])) >= 0 for c in chars):
            return True
    return False


def null_where(arr: pa.Array | pa.ChunkedArray, mask: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`arr` with nulls where `mask` is true (a null mask value leaves the value as it is).

    Only the validity bitmap is new: `pc.if_else` with a null scalar would copy every string."""
    mask = pc.fill_null(mask, False)
    if isinstance(arr, pa.ChunkedArray):
        # Element-wise kernels keep their input's chunking, so the mask's chunks usually line up.
        masks = mask.chunks if isinstance(mask, pa.ChunkedArray) else [mask]
        if [len(m) for m in masks] == [len(c) for c in arr.chunks]:
            return pa.chunked_array([null_where(c, m) for c, m in zip(arr.chunks, masks)], type=arr.type)
    elif (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) and not arr.offset \
            and isinstance(mask, pa.Array):
        valid = pc.and_not(pc.is_valid(arr), mask)
        if not valid.offset:
            return pa.Array.from_buffers(arr.type, len(arr), [valid.buffers()[1], *arr.buffers()[1:]])
    return pc.if_else(mask, pa.scalar(None, arr.type), arr)


def check_sources(cmap: dict, spec, columns: list[str], duplicated: dict[str, list[int]], where: str) -> list[str]:
    """Every source column the spec reads must exist once; returns notes on unused duplicates."""
    used: dict[str, str] = {}
    for col, entry in cmap.items():
        for src in source_of(entry):
            used.setdefault(src, f"column_map.{col}")
    for name, extra in spec.extra_columns.items():
        used.setdefault(extra.column, f"extra_columns.{name}")
    if spec.outcome_signal is not None:
        used.setdefault(spec.outcome_signal.column, "outcome_signal")
    for rule in spec.filters:
        used.setdefault(rule.column, f"filters.{rule.name}")
    errors = []
    for src, key in used.items():
        if src in duplicated:
            errors.append(f"{key} names '{src}', {ambiguous(src, duplicated[src])}")
        elif src not in columns:
            what = (f"column '{key.removeprefix('column_map.')}' is mapped to '{src}'" if key.startswith("column_map.")
                    else f"{key} names '{src}'")
            errors.append(f"{what}, which is not in {where}")
    if errors:
        raise ContractError("; ".join(errors) + f". The file has columns {columns}. "
                            "Fix ingest.files in params.yaml.")
    notes = []
    for name, pos in duplicated.items():
        unused = [p for i, p in enumerate(pos, 1) if f"{name}#{i}" not in used]
        if unused:
            notes.append(f"column '{name}' occurs at positions {pos} of the header; "
                         + ("unused, so ignored" if len(unused) == len(pos) else f"positions {unused} unused, so ignored"))
    return notes


def ambiguous(name: str, positions: list[int]) -> str:
    """Why a repeated header name cannot be read bare, with exactly the spellings that can."""
    return (f"which occurs {len(positions)} times in the header (positions {', '.join(map(str, positions))}); "
            "name one of them: " + " or ".join(f"'{name}#{i}' (position {p})" for i, p in enumerate(positions, 1)))


def map_export(raw: pd.DataFrame, spec, duplicated: dict[str, list[int]] | None = None) -> Mapped:
    """See the module docstring. The steps: the column map checked and completed, the source columns
    checked and cleaned, the contract columns built, then the value maps and the filters applied."""
    cmap = _column_map(raw, spec, duplicated)
    notes = check_sources(cmap, spec, list(raw.columns), duplicated or {}, f"the {spec.name} file")
    as_is = _numbers_as_they_are(raw, cmap, spec)
    src = _cleaned_sources(raw, cmap, spec, as_is)
    frame, absent, constants = _contract_frame(raw, cmap, spec, src, as_is)
    rules = _RowFilters(len(raw))
    cleaned = {c for c in CONTRACT if isinstance(cmap.get(c), str) and frame[c].dtype == "str"}
    report: dict[str, dict] = {}
    maps = dict(spec.value_maps)
    if spec.channel_map:
        maps["channel"] = {**spec.channel_map, **maps.get("channel", {})}
    for key, mapping in maps.items():
        report[key] = _apply_value_map(frame, spec, key, mapping, rules, cleaned)
    for rule in spec.filters:
        values = src(rule.column).astype("str").str.lower()
        listed = {v.strip().lower() for v in (rule.drop_values or rule.keep_values or [])}
        hit = values.isin(listed).fillna(False).astype(bool)
        drop = hit if rule.drop_values is not None else ~hit
        rules.filter(drop.to_numpy(dtype=bool), f"filters.{rule.name}")
    return Mapped(frame, rules.by_row(raw.index), absent, constants, report, notes, frozenset(cleaned))


def _column_map(raw: pd.DataFrame, spec, duplicated: dict[str, list[int]] | None) -> dict:
    """The column map checked (contract columns only, every required one named) and completed: an
    optional column mapped to its own name that the file lacks is absent."""
    unknown = sorted(set(spec.column_map) - set(MAPPABLE))
    if unknown:
        raise ContractError(f"column_map names {unknown}, which are not contract columns; "
                            f"contract columns are {list(MAPPABLE)}.")
    cmap = dict(spec.column_map)
    # An optional column mapped to its own name is taken when the file has it (the shipped map
    # names them all); one renamed must exist.
    for c in CONTRACT:
        # (A repeated name is not absent: `check_sources` asks which occurrence.)
        if c not in REQUIRED and isinstance(cmap.get(c), str) and cmap[c] == c and c not in raw.columns \
                and c not in (duplicated or {}):
            cmap[c] = None
    # A required column must be named; agent_id may be named null on purpose (no agents named).
    missing_req = [c for c in REQUIRED if c not in cmap or (cmap[c] is None and c not in ABSENT_ALLOWED)]
    if missing_req:
        raise ContractError(
            "; ".join(f"required column '{c}' has no entry in the column map"
                      + (" (write agent_id: null if your export names no agents)" if c in ABSENT_ALLOWED else "")
                      for c in missing_req)
            + f". The file has columns {list(raw.columns)}. Fix ingest.files.column_map in params.yaml "
            "(a column name, or e.g. channel: {constant: phone}).")
    return cmap


def _numbers_as_they_are(raw: pd.DataFrame, cmap: dict, spec) -> set[str]:
    """The source columns that only number columns of the contract (wait_s, handle_s, transfers) read,
    as their own names, without a value map, and that the file already types as float64 or integers:
    those are taken as they are. As text (`_text`) they would be written out and read back as the same
    float64 (Python writes a float64 so that it reads back exactly; integers are exact), for nothing."""
    readers: dict[str, set[str]] = {}
    for col, entry in cmap.items():
        for name in source_of(entry):
            readers.setdefault(name, set()).add(col if isinstance(entry, str) else f"{col} (parts)")
    others = {e.column for e in spec.extra_columns.values()} | {r.column for r in spec.filters}
    others |= {spec.outcome_signal.column} if spec.outcome_signal else set()
    numbers_only = set(NUMERIC) - set(spec.value_maps)
    return {name for name, cols in readers.items()
            if cols <= numbers_only and name not in others and name in raw.columns
            and isinstance(raw[name].dtype, np.dtype)
            and (raw[name].dtype == np.float64 or raw[name].dtype.kind in "iu")}


def _typed_number(values: pd.Series) -> pd.Series:
    """A typed number column as its text would read (`_numbers_as_they_are`): a float column whose
    values are all whole is written as integers (`_text`), so its -0.0 reads as 0.0."""
    if values.dtype == np.float64:
        finite = values.dropna()
        if len(finite) and np.isfinite(finite).all() and (finite == np.round(finite)).all():
            return values + 0.0  # (-0.0 + 0.0 is 0.0; every other value is itself)
    return values


def _cleaned_sources(raw: pd.DataFrame, cmap: dict, spec, as_is: set[str] = frozenset()) -> Callable[[str], pd.Series]:
    """A source column by name, stripped with blanks and missing-value tokens missing (`_text`). Each
    source column read is cleaned once, the columns in parallel threads (Arrow releases the GIL); those
    `as_is` only when asked for."""
    tokens = [t.strip() for t in spec.missing_values]
    wanted = {c for e in cmap.values() for c in source_of(e)} | {e.column for e in spec.extra_columns.values()}
    wanted |= {r.column for r in spec.filters} | ({spec.outcome_signal.column} if spec.outcome_signal else set())
    wanted -= as_is
    columns = {c: raw[c] for c in sorted(wanted)}
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        cache: dict[str, pd.Series] = dict(zip(columns, pool.map(lambda v: _text(v, tokens), columns.values())))

    def src(name: str) -> pd.Series:
        if name not in cache:
            cache[name] = _text(raw[name], tokens)
        return cache[name]

    return src


def _contract_frame(raw: pd.DataFrame, cmap: dict, spec, src: Callable[[str], pd.Series],
                    as_is: set[str] = frozenset()) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Every contract column (absent ones all missing, constants repeated, parts joined, the numbers
    `as_is` as the file types them), the reason family, `extra_<name>` columns and the raw outcome
    signal; with the absent and constant columns."""
    cols: dict[str, pd.Series] = {}
    absent, constants = [], {}
    for c in CONTRACT:
        entry = cmap.get(c)
        if entry is None:
            absent.append(c)
            cols[c] = pd.Series(pd.NA, index=raw.index, dtype="object")
        elif (const := _constant(entry)) is not None:
            constants[c] = const
            cols[c] = filled(const, raw.index)
        elif isinstance(entry, str):
            cols[c] = _typed_number(raw[entry]) if entry in as_is else src(entry)
        else:  # joined in Arrow; missing when any part is
            parts = [pa.array(src(p).astype("str").array) for p in source_of(entry)]
            joined = pc.binary_join_element_wise(*parts, pa.scalar(_sep(entry), parts[0].type),
                                                 null_handling="emit_null")
            cols[c] = pd.Series(pd.array(joined, dtype="str"), index=raw.index)
    family = cmap.get("reason_family")
    if family is not None:
        cols["reason_family"] = src(family) if isinstance(family, str) else pd.Series(
            _constant(family), index=raw.index, dtype="str")
    for name, extra in spec.extra_columns.items():
        cols[f"extra_{name}"] = src(extra.column)
    if spec.outcome_signal is not None:
        cols["resolution_signal"] = src(spec.outcome_signal.column)
    return pd.DataFrame(cols, index=raw.index), absent, constants


class _RowFilters:
    """The rule that filtered each row, as codes into `rules` (0: none), turned into names once at the end."""

    def __init__(self, n: int) -> None:
        self.rule_code = np.zeros(n, dtype=np.int32)
        self.rules = [""]

    def filter(self, mask: np.ndarray, rule: str) -> None:
        """The rows of `mask` not filtered yet are filtered by `rule`."""
        self.rules.append(rule)
        self.rule_code[np.asarray(mask, dtype=bool) & (self.rule_code == 0)] = len(self.rules) - 1

    def by_row(self, index: pd.Index) -> pd.Series:
        """The rule name of each row ("" = not filtered)."""
        if not self.rule_code.any():
            return filled("", index)
        return pd.Series(pd.array(pc.take(pa.array(self.rules, type=pa.large_string()), pa.array(self.rule_code)),
                                  dtype="str"), index=index)


def _apply_value_map(frame: pd.DataFrame, spec, key: str, mapping: dict, rules: _RowFilters,
                     cleaned: set[str]) -> dict:
    """One value map applied to its column in `frame` (rows whose value maps to `drop` filtered); returns
    its coverage: rows mapped and dropped, the unmapped values (the 20 most frequent) and their rows."""
    col = {"outcome_signal": "resolution_signal"}.get(key, key if key in frame else f"extra_{key}")
    if col not in frame:
        raise ContractError(f"ingest.files.value_maps names '{key}', which is neither a contract column nor an "
                            f"extra column nor outcome_signal; allowed: {list(CONTRACT)} + "
                            f"{list(spec.extra_columns)} + ['outcome_signal'].")
    lower = {str(k).strip().lower(): str(v) for k, v in mapping.items()}
    values = frame[col].astype("str")
    cleaned.discard(col)
    # In Arrow, once per distinct value (a column holds few): look the lower-cased value up
    # among the map's keys, take its target; then spread the results to the rows by their codes.
    arr = pa.array(values.array)
    enc = pc.dictionary_encode(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
    distinct, codes = enc.dictionary, enc.indices
    idx = pc.index_in(pc.utf8_lower(distinct), value_set=pa.array(list(lower), type=arr.type))
    target = pc.take(pa.array(list(lower.values()), type=arr.type), idx)
    hit_d = pc.is_valid(idx)
    drop_d = pc.fill_null(pc.equal(target, DROP), False)
    mapped_d = pc.if_else(hit_d, pc.if_else(drop_d, pa.scalar(None, arr.type), target), distinct)
    row_code = pc.fill_null(codes, 0).to_numpy()
    present_np = codes.is_valid().to_numpy(zero_copy_only=False)
    hit_np = np.zeros(len(arr), dtype=bool)
    drop_np = np.zeros(len(arr), dtype=bool)
    if len(distinct):  # (a missing value is never mapped: it keeps its place, still missing)
        hit_np = hit_d.to_numpy(zero_copy_only=False)[row_code] & present_np
        drop_np = drop_d.to_numpy(zero_copy_only=False)[row_code] & present_np
    drop = pd.Series(drop_np, index=frame.index)
    rules.filter(drop_np, f"value_maps.{key}: {DROP}")
    frame[col] = pd.Series(pd.array(pc.take(mapped_d, codes), dtype="str"), index=frame.index)
    hit = pd.Series(hit_np, index=frame.index)
    present = values.notna()
    unmapped = values[present & ~hit].value_counts()
    every = getattr(spec, "every_unmapped", False)
    report = {"mapped": int((hit & ~drop).sum()), "dropped": int(drop.sum()),
              "unmapped": {str(k): int(v) for k, v in (unmapped if every else unmapped.head(UNMAPPED_SHOWN)).items()},
              "unmapped_rows": int(unmapped.sum())}
    if every:  # each unmapped value's first row: where value_counts puts it among values as frequent
        firsts = values[present & ~hit].drop_duplicates(keep="first")
        report[FIRST_ROWS] = {str(v): int(row) for row, v in firsts.items()}
    return report


def filled(value: str, index: pd.Index) -> pd.Series:
    """`pd.Series(value, index=index, dtype="str")`, repeated by Arrow (pandas takes the scalar n times)."""
    return pd.Series(pd.array(pa.repeat(pa.scalar(value, pa.large_string()), len(index)), dtype="str"), index=index)


def map_by_value(values: pd.Series, mapper: object) -> pd.Series:
    """`values.map(mapper)`, done once per distinct value (`by_value`): pandas' map looks every row up
    (millions of reason codes or agent ids, a few hundred distinct: 10x the time)."""
    return by_value(values, lambda distinct: distinct.map(mapper))


def by_value(values: pd.Series, apply: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`apply(values)` for an element-wise `apply`, computed on the distinct values (and a missing one,
    when a row is missing) and spread to the rows by Arrow's dictionary codes. pandas itself applies it,
    to those values, so each row gets what pandas gives it, in the dtype pandas gives."""
    if not isinstance(values.array, pd.arrays.ArrowStringArray) or not len(values):
        return apply(values)
    arr = pa.chunked_array(pa.array(values.array))
    enc = pc.dictionary_encode(arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0))
    distinct, codes = enc.dictionary, enc.indices
    if codes.null_count:
        codes = pc.fill_null(codes, len(distinct))
        distinct = pa.concat_arrays([distinct, pa.nulls(1, distinct.type)])
    small = apply(pd.Series(pd.array(distinct, dtype=values.dtype), name=values.name))
    return pd.Series(small.array.take(codes.to_numpy()), index=values.index, name=small.name)
