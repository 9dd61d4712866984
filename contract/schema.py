"""The data contract: which columns a contact log has, how raw values are parsed, which rows are valid.

In: a raw export (any column names, strings or typed columns) and a `SourceSpec` saying how it maps
onto the contract. Out: `IngestResult` with the contacts in contract form (UTC timestamps, normalised
codes), the quarantined rows with the reason each was rejected, and the counts, which add up:
rows read = rows kept + rows quarantined.

Parsing (timestamps with mixed UTC offsets, numbers, yes/no answers) is done here by hand because it
is domain-specific; the value rules are a pandera schema so that every failing check is reported
with its column and rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pdr
import pyarrow as pa

from contract.vocabulary import CHANNELS
from contract.ordering import as_microseconds, customer_time_order

REQUIRED = ("contact_id", "customer_id", "started_at", "channel", "reason_code", "agent_id")
OPTIONAL = ("ended_at", "team", "wait_s", "handle_s", "transfers", "disposition", "survey_resolved")
CONTRACT = REQUIRED + OPTIONAL
NUMERIC = ("wait_s", "handle_s", "transfers")
# Channels that never have a human agent on the contact, and dispositions without one.
NO_AGENT_CHANNELS = ("self_service",)
NO_AGENT_DISPOSITIONS = ("abandoned",)
_OFFSET = r"(?:[zZ]|[+-]\d{2}:?\d{2})$"
_TRUE = {"true", "1", "yes", "y", "t", "resolved"}
_FALSE = {"false", "0", "no", "n", "f", "not resolved", "unresolved"}


class ContractError(ValueError):
    """The export cannot be mapped onto the contract (e.g. a mapped column does not exist)."""


@dataclass(frozen=True)
class SourceSpec:
    """How one export maps onto the contract (from params.yaml: ingest.files)."""

    column_map: dict[str, str | None] = field(default_factory=lambda: {c: c for c in CONTRACT})
    timestamp_format: str | None = None
    timezone: str = "UTC"
    channel_map: dict[str, str] = field(default_factory=dict)
    reason_families: dict[str, str] = field(default_factory=dict)
    anonymous_customer_ids: tuple[str, ...] = ("", "0", "anonymous")
    name: str = "contacts"


@dataclass(frozen=True)
class IngestResult:
    contacts: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict


def map_columns(raw: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """Rename the export's columns to the contract's; a required or mapped column that is missing
    raises ContractError naming it and listing the columns the export does have."""
    cmap = {k: v for k, v in spec.column_map.items() if v}
    unknown = sorted(set(cmap) - set(CONTRACT))
    if unknown:
        raise ContractError(f"column_map names {unknown}, which are not contract columns; "
                            f"contract columns are {list(CONTRACT)}.")
    missing_req = [c for c in REQUIRED if c not in cmap]
    # An optional column mapped to its own name is taken when the file has it; one renamed must exist.
    cmap = {c: s for c, s in cmap.items() if c in REQUIRED or s != c or s in raw.columns}
    absent = [(c, cmap[c]) for c in CONTRACT if c in cmap and cmap[c] not in raw.columns]
    if missing_req or absent:
        msgs = [f"required column '{c}' has no entry in the column map" for c in missing_req]
        msgs += [f"column '{c}' is mapped to '{src}', which is not in the {spec.name} file" for c, src in absent]
        raise ContractError("; ".join(msgs) + f". The file has columns {list(raw.columns)}. "
                            "Fix ingest.files.column_map in params.yaml.")
    out = pd.DataFrame({c: raw[cmap[c]] if c in cmap else pd.Series(pd.NA, index=raw.index, dtype="object")
                        for c in CONTRACT})
    return out


def parse_timestamps(values: pd.Series, fmt: str | None, tz: str) -> pd.Series:
    """Parse to UTC. Values carrying an offset keep it; values without one are local time in `tz`.
    Unparseable values become NaT (the caller quarantines them)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return _localize(values, tz)
    text = values.astype("str").where(values.notna())
    has_offset = text.str.contains(_OFFSET, regex=True, na=False)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    if has_offset.any():
        out[has_offset] = pd.to_datetime(text[has_offset], utc=True, format=fmt or "ISO8601", errors="coerce")
    naive = ~has_offset & text.notna()
    if naive.any():
        parsed = pd.to_datetime(text[naive], format=fmt or "ISO8601", errors="coerce")
        out[naive] = _localize(parsed, tz)
    return out


def _localize(values: pd.Series, tz: str) -> pd.Series:
    # Local times that occur twice at the end of summer time are read as standard time.
    local = values.dt.tz_localize(tz, ambiguous=np.zeros(len(values), dtype=bool), nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def _parse_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Nullable booleans from the many ways exports write yes/no; returns (parsed, bad mask)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), pd.Series(False, index=values.index)
    text = values.astype("str").str.strip().str.lower().where(values.notna())
    parsed = pd.Series(pd.NA, index=values.index, dtype="boolean")
    parsed[text.isin(_TRUE)] = True
    parsed[text.isin(_FALSE)] = False
    bad = text.notna() & (text != "") & ~text.isin(_TRUE | _FALSE)
    return parsed, bad


def _clean_str(values: pd.Series) -> pd.Series:
    text = values.astype("str").str.strip().where(values.notna())
    return text.where(text != "").astype("str")


def _blank(values: pd.Series, where: pd.Series) -> pd.Series:
    """True where a value is an empty string (checked only on the rows in `where`, for speed)."""
    out = pd.Series(False, index=values.index)
    if where.any():
        out[where] = values[where].astype("str").str.strip() == ""
    return out


def contact_schema() -> pdr.DataFrameSchema:
    """Value rules of a parsed contact row (parse failures are caught before, with their own reason)."""
    return pdr.DataFrameSchema(
        {
            "contact_id": pdr.Column(None, nullable=False),
            "started_at": pdr.Column(nullable=False),
            "channel": pdr.Column(None, pdr.Check.isin(CHANNELS), nullable=False),
            "reason_code": pdr.Column(None, nullable=False),
            "wait_s": pdr.Column(None, pdr.Check.ge(0), nullable=True),
            "handle_s": pdr.Column(None, pdr.Check.ge(0), nullable=True),
            "transfers": pdr.Column(None, pdr.Check.ge(0), nullable=True),
        },
        checks=[
            pdr.Check(lambda df: df["ended_at"].isna() | (df["ended_at"] >= df["started_at"]),
                     name="ended_at >= started_at", element_wise=False),
            pdr.Check(lambda df: df["agent_id"].notna() | df["channel"].isin(NO_AGENT_CHANNELS)
                     | df["disposition"].isin(NO_AGENT_DISPOSITIONS),
                     name="agent_id present unless abandoned or self-service", element_wise=False),
        ],
        coerce=False,
    )


_CHECK_REASON = {
    "not_nullable": "missing value",
    "isin": "unknown value",
    "greater_than_or_equal_to": "negative value",
    "ended_at >= started_at": "ended_at before started_at",
    "agent_id present unless abandoned or self-service": "missing agent_id on a handled contact",
}


_TABLE_CHECK_COLUMN = {"ended_at >= started_at": "ended_at",
                      "agent_id present unless abandoned or self-service": "agent_id"}


def _schema_failures(df: pd.DataFrame) -> pd.Series:
    """First failing rule of each row, as 'column: reason' (column rules before table rules);
    empty for valid rows."""
    reasons = pd.Series("", index=df.index, dtype="str")
    try:
        contact_schema().validate(df, lazy=True)
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


def normalise_contacts(raw: pd.DataFrame, spec: SourceSpec) -> IngestResult:
    """Map, parse and validate a raw contact export; see the module docstring."""
    raw = raw.reset_index(drop=True)
    df = map_columns(raw, spec)
    reason = pd.Series("", index=df.index, dtype="str")

    def flag(mask: pd.Series, text: str) -> None:
        reason[mask & (reason == "")] = text

    for col in ("contact_id", "customer_id", "channel", "reason_code", "agent_id", "team", "disposition"):
        df[col] = _clean_str(df[col])
    for col in ("started_at", "ended_at"):
        parsed = parse_timestamps(df[col], spec.timestamp_format, spec.timezone)
        failed = parsed.isna() & df[col].notna()
        flag(failed & ~_blank(df[col], failed), f"{col}: unparseable timestamp")
        df[col] = parsed
    for col in NUMERIC:
        num = pd.to_numeric(df[col], errors="coerce").astype("float64")
        failed = num.isna() & df[col].notna()
        flag(failed & ~_blank(df[col], failed), f"{col}: not a number")
        df[col] = num
    df["survey_resolved"], bad_bool = _parse_bool(df["survey_resolved"])
    flag(bad_bool, "survey_resolved: not a yes/no value")

    channel = df["channel"].str.lower()
    df["channel"] = channel.map(lambda v: spec.channel_map.get(v, v)) if spec.channel_map else channel
    df["channel"] = df["channel"].astype("str")
    df["disposition"] = df["disposition"].str.lower().fillna("handled").astype("str")
    anonymous = df["customer_id"].isna() | df["customer_id"].isin(list(spec.anonymous_customer_ids))
    df["customer_id"] = df["customer_id"].where(~anonymous)

    failures = _schema_failures(df.loc[reason == ""])
    reason.loc[failures.index] = failures
    # Duplicates: the same row exported twice, or a contact id reused with other content.
    exact = df.duplicated(keep="first") & (reason == "")
    flag(exact, "contact_id: duplicate row")
    reused = df["contact_id"].notna() & df.duplicated(subset=["contact_id"], keep="first") & (reason == "")
    flag(reused, "contact_id: duplicate id with different content")

    keep = reason == ""
    contacts = df.loc[keep].copy()
    # A code without a family is its own family (never lumped with other unmapped codes).
    family = contacts["reason_code"].map(spec.reason_families) if spec.reason_families else None
    unmapped = family.isna() if family is not None else pd.Series(False, index=contacts.index)
    contacts["reason_family"] = (family.fillna(contacts["reason_code"]) if family is not None
                                 else contacts["reason_code"]).astype("str")
    contacts["transfers"] = contacts["transfers"].astype("Int64")
    contacts["source_row"] = contacts.index.astype("int64")
    # Each customer's history contiguous and in time order (anonymous last): the order the labeller
    # and the feature builder work in, so they need not sort 10 million rows again.
    ids = pa.array(contacts["contact_id"].array)
    order = customer_time_order(pa.array(contacts["customer_id"].array), as_microseconds(contacts["started_at"]), ids)
    if order is not None:
        contacts = contacts.take(order)
    contacts = contacts.reset_index(drop=True)

    quarantine = quarantine_rows(raw, ~keep, reason, spec.name)
    by_reason = quarantine["reason"].value_counts().sort_index()
    counts = {
        "rows_read": int(len(raw)),
        "rows_kept": int(keep.sum()),
        "rows_quarantined": int((~keep).sum()),
        "quarantined_by_reason": {k: int(v) for k, v in by_reason.items()},
        "anonymous_contacts": int(contacts["customer_id"].isna().sum()),
        "unmapped_reason_codes": int(unmapped.sum()) if spec.reason_families else None,
    }
    return IngestResult(contacts, quarantine, counts)


def quarantine_rows(raw: pd.DataFrame, mask: pd.Series, reason: pd.Series, source: str) -> pd.DataFrame:
    """Rejected rows with their reason and the raw values as JSON, so nothing is lost."""
    rows = raw.loc[mask.to_numpy()]
    return pd.DataFrame({
        "source": pd.Series(source, index=rows.index, dtype="str"),
        "source_row": rows.index.astype("int64"),
        "reason": reason[mask].astype("str"),
        "row": [json.dumps(r, default=str) for r in rows.to_dict(orient="records")],
    }).reset_index(drop=True)


def reject_summary(quarantine: pd.DataFrame, raw: pd.DataFrame, column_map: dict[str, str | None],
                   max_examples: int = 5) -> str:
    """Human-readable lines: each reason with its count, first rows and offending values."""
    lines = []
    for text, grp in quarantine.groupby("reason", sort=False):
        col = text.split(":")[0]
        src = column_map.get(col) or col
        rows = grp["source_row"].head(max_examples).tolist()
        vals = raw.loc[rows, src].tolist() if src in raw.columns else []
        lines.append(f"  {text}: {len(grp)} rows (column '{src}'); first rows {rows}, values {vals}")
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
