"""Ingest: the export files named in params -> contract tables, quarantine and row accounting.

In: an `ingest.files` block (`FilesConfig`), or the synthetic centre's export folder, which is read
the same way. Out: `IngestOutput` with the contacts in contract form, the customers and agents side
tables, every rejected row with its reason, and counts that add up (read = kept + quarantined).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from contract.schema import CONTRACT, SourceSpec, normalise_contacts, reject_summary, validate_side_table
from pipeline.config import FilesConfig
from pipeline.io import read_table


class IngestRejected(RuntimeError):
    """Too many rows were rejected: the export or its column map is likely wrong."""


@dataclass(frozen=True)
class IngestOutput:
    contacts: pd.DataFrame
    customers: pd.DataFrame
    agents: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict


def synthetic_files(raw_dir: str | Path) -> FilesConfig:
    """The synthetic centre's export (stage generate) as an `ingest.files` block."""
    raw = Path(raw_dir)
    if not (raw / "contacts.parquet").exists():
        raise FileNotFoundError(f"{raw} holds no synthetic export: ingest.source is synthetic, so run "
                                "`dvc repro generate` first (or set ingest.source: files).")
    return FilesConfig(contacts=str(raw / "contacts.parquet"), customers=str(raw / "customers.parquet"),
                       agents=str(raw / "agents.parquet"), reason_family_file=str(raw / "reason_families.csv"))


def source_spec(files: FilesConfig) -> SourceSpec:
    families = dict(files.reason_families)
    if files.reason_family_file:
        table = read_table(files.reason_family_file)
        missing = [c for c in ("reason_code", "reason_family") if c not in table.columns]
        if missing:
            raise ValueError(f"ingest.files.reason_family_file {files.reason_family_file} lacks column(s) {missing}; "
                             f"it has {list(table.columns)}.")
        families = dict(zip(table["reason_code"], table["reason_family"])) | families
    return SourceSpec(column_map=files.column_map or {c: c for c in CONTRACT}, timestamp_format=files.timestamp_format, timezone=files.timezone,
                      channel_map=files.channel_map, reason_families=families,
                      anonymous_customer_ids=tuple(files.anonymous_customer_ids))


def ingest(files: FilesConfig, max_reject_share: float) -> IngestOutput:
    """Read, map, parse and validate the export; fail when more than `max_reject_share` is rejected."""
    spec = source_spec(files)
    raw = read_table(files.contacts)
    result = normalise_contacts(raw, spec)
    contacts, quarantines = result.contacts, [result.quarantine]
    counts: dict = {"contacts": result.counts}
    sides = {}
    for name, path, key in (("customers", files.customers, "customer_id"), ("agents", files.agents, "agent_id")):
        table = read_table(path) if path else pd.DataFrame({key: pd.Series(dtype="str")})
        side = validate_side_table(table, key, name)
        quarantines.append(side.quarantine)
        counts[name] = side.counts
        sides[name] = side.contacts
        if name == "agents" and "team" in side.contacts.columns:
            # The contact export may lack the team; the agents table knows it.
            teams = side.contacts.set_index(key)["team"]
            contacts["team"] = contacts["team"].fillna(contacts["agent_id"].map(teams)).astype("str")
        if len(side.contacts):
            known = contacts[key].isin(side.contacts[key]) | contacts[key].isna()
            counts["contacts"][f"unknown_{name}"] = int((~known).sum())
    c = counts["contacts"]
    if c["rows_read"] != c["rows_kept"] + c["rows_quarantined"]:
        raise AssertionError(f"ingest lost rows: {c}")
    counts["reject_share"] = c["rows_quarantined"] / max(c["rows_read"], 1)
    out = IngestOutput(contacts, sides["customers"], sides["agents"], pd.concat(quarantines, ignore_index=True), counts)
    if counts["reject_share"] > max_reject_share:
        raise IngestRejected(
            f"{counts['reject_share']:.1%} of contact rows were rejected, above "
            f"ingest.max_reject_share={max_reject_share:.1%}:\n" + reject_summary(result.quarantine, raw, spec.column_map)
            + "\nCheck ingest.files (column_map, timestamp_format, timezone, channel_map) in params.yaml.")
    return out
