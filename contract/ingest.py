"""Ingest: the export files named in params -> contract tables, quarantine and row accounting.

In: an `ingest.files` block (`FilesConfig`), or the synthetic centre's export folder, which is read
the same way. Out: `IngestOutput` with the contacts in contract form, the customers and agents side
tables, every rejected row with its reason, and counts that add up (read = kept + quarantined).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contract.lineage import source_identity
from contract.reading import read_export, read_side_table
from contract.schema import CONTRACT, IngestResult, SourceSpec, normalise_contacts, reject_summary, validate_side_table
from contract.config import FilesConfig
from base.errors import StageStop


class IngestRejected(StageStop, RuntimeError):
    """Too many rows were rejected: the export or its column map is likely wrong."""


@dataclass(frozen=True)
class IngestOutput:
    contacts: pd.DataFrame | None  # None when they went to the sink piece by piece
    customers: pd.DataFrame
    agents: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict
    contract: dict


def synthetic_files(raw_dir: str | Path) -> FilesConfig:
    """The synthetic centre's export (stage generate) as an `ingest.files` block: contacts.parquet and
    customers.parquet, or, for a centre generated in parts (synthetic.part_contacts), the globs of their
    parts (contacts-00000.parquet, ...: synthetic/parts.py)."""
    raw = Path(raw_dir)
    one = (raw / "contacts.parquet").exists()
    if not one and not any(raw.glob("contacts-*.parquet")):
        raise FileNotFoundError(f"{raw} holds no synthetic export: ingest.source is synthetic, so run "
                                "`dvc repro generate` first (or set ingest.source: files).")
    contacts, customers = ("contacts.parquet", "customers.parquet") if one else ("contacts-*.parquet",
                                                                                "customers-*.parquet")
    # Its timestamps carry their offsets and it has no DST problems; it is the contract's own shape.
    return FilesConfig(contacts=str(raw / contacts), customers=str(raw / customers),
                       agents=str(raw / "agents.parquet"), reason_family_file=str(raw / "reason_families.csv"),
                       timezone="UTC", dst_ambiguous="quarantine", dst_nonexistent="quarantine",
                       column_map={c: c for c in CONTRACT}, missing_values=[""],
                       anonymous_customer_ids=["", "0", "anonymous"], future_tolerance_hours=24 * 365 * 10)


def source_spec(files: FilesConfig, name: str = "contacts") -> SourceSpec:
    """The mapping of params.yaml's ingest.files block, with the reason family file read in."""
    families = dict(files.reason_families)
    if files.reason_family_file:
        # A table the user writes, not the contact system: read with the defaults (sniffed delimiter,
        # BOM or UTF-8), not the export's `read` options.
        table = read_side_table(files.reason_family_file, None, "ingest.files.reason_family_file")
        missing = [c for c in ("reason_code", "reason_family") if c not in table.columns]
        if missing:
            raise ValueError(f"ingest.files.reason_family_file {files.reason_family_file} lacks column(s) {missing}; "
                             f"it has {list(table.columns)}.")
        families = dict(zip(table["reason_code"], table["reason_family"])) | families
    fmt = files.timestamp_format
    return SourceSpec(
        column_map=dict(files.column_map), timestamp_format=tuple(fmt) if isinstance(fmt, list) else fmt,
        timezone=files.timezone, channel_map=dict(files.channel_map), reason_families=families,
        anonymous_customer_ids=tuple(files.anonymous_customer_ids), name=name,
        missing_values=tuple(files.missing_values), value_maps={k: dict(v) for k, v in files.value_maps.items()},
        filters=tuple(files.filters), events=files.events, extra_columns=dict(files.extra_columns),
        outcome_signal=files.outcome_signal, dst_ambiguous=files.dst_ambiguous,
        dst_nonexistent=files.dst_nonexistent, decimal=(files.read.decimal if files.read else None) or ".",
        future_tolerance_hours=files.future_tolerance_hours)


class UnknownIds:
    """Counts the present ids, over pieces, that a side table's ids (`known`) do not hold.

    Arrow's is_in hashes its value set anew on every call, and pandas' isin first turns every known id
    into a Python object: per piece of 250,000 rows, the 2 million customers of a 10M-row export cost
    more than the piece (the ingest grew as n^1.7). So the pieces' ids are gathered until they are as
    many as the known ids and then looked up at once: the known ids are hashed once per as many rows,
    time linear in the rows, and the ids held are at most as many as the side table's."""

    def __init__(self, known: pd.Series) -> None:
        self.index = pd.Index(known.dropna().unique())
        arrow = isinstance(self.index.array, pd.arrays.ArrowStringArray)
        self.values = pa.chunked_array(pa.array(self.index.array)).combine_chunks() if arrow else None
        self.pending: list[pa.ChunkedArray] = []
        self.pending_rows = 0
        self.unknown = 0

    def add(self, ids: pd.Series) -> None:
        """The ids of one piece (missing ones are not counted)."""
        if self.values is None or not isinstance(ids.array, pd.arrays.ArrowStringArray):
            self.unknown += int((ids.notna() & ~ids.isin(self.index)).sum())  # (what pandas' isin does)
            return
        self.pending.append(pa.chunked_array(pa.array(ids.array)))
        self.pending_rows += len(ids)
        if self.pending_rows >= len(self.index):
            self._look_up()

    def _look_up(self) -> None:
        chunks = [c for part in self.pending for c in part.chunks]
        self.pending, self.pending_rows = [], 0
        if not chunks:
            return
        typ = chunks[0].type
        ids = pa.chunked_array([c.cast(typ) for c in chunks], type=typ)
        present = len(ids) - ids.null_count
        known = pc.sum(pc.is_in(ids, value_set=self.values.cast(typ), skip_nulls=True)).as_py() or 0
        self.unknown += present - int(known)

    def count(self) -> int:
        """The ids not known among every id added so far."""
        self._look_up()
        return self.unknown


@dataclass(frozen=True)
class KeptFacts:
    """What `KeptSummary` gathered: rows, the contract columns present and those holding a value, the
    channels, the contacts with a known outcome signal, and per side-table key the unknown ids. Facts of
    disjoint sets of contacts add up (`merged`)."""

    rows: int
    columns: frozenset[str]
    with_values: frozenset[str]
    channels: frozenset[str]
    known_signal: int
    unknown: dict[str, int]

    @staticmethod
    def merged(parts: list["KeptFacts"]) -> "KeptFacts":
        return KeptFacts(sum(p.rows for p in parts), frozenset().union(*(p.columns for p in parts)),
                         frozenset().union(*(p.with_values for p in parts)),
                         frozenset().union(*(p.channels for p in parts)), sum(p.known_signal for p in parts),
                         {key: sum(p.unknown[key] for p in parts) for key in parts[0].unknown} if parts else {})


class KeptSummary:
    """What the stages after ingest need to know of the kept contacts, gathered piece by piece as
    they are written (call it with each piece), so that they are never held whole: which contract
    columns hold a value, the channels, the contacts whose customer or agent the side tables do not
    know, and how many carry the export's own resolution signal."""

    def __init__(self, known: dict[str, pd.Series]) -> None:
        self.known = {key: UnknownIds(ids) for key, ids in known.items() if len(ids)}
        self.rows = 0
        self.columns: set[str] = set()
        self.with_values: set[str] = set()
        self.channels: set[str] = set()
        self.known_signal = 0

    @property
    def unknown(self) -> dict[str, int]:
        """Per side-table key: the kept contacts with an id the side table does not know."""
        return {key: ids.count() for key, ids in self.known.items()}

    def __call__(self, piece: pd.DataFrame) -> None:
        self.rows += len(piece)
        self.columns |= {c for c in CONTRACT if c in piece}
        self.with_values |= {c for c in self.columns - self.with_values if piece[c].notna().any()}
        self.channels |= set(map(str, piece["channel"].dropna().unique()))
        for key, ids in self.known.items():
            ids.add(piece[key])
        if "resolution_signal" in piece:
            self.known_signal += int(piece["resolution_signal"].notna().sum())

    def facts(self) -> KeptFacts:
        """What was gathered so far."""
        return KeptFacts(self.rows, frozenset(self.columns), frozenset(self.with_values), frozenset(self.channels),
                         self.known_signal, self.unknown)

    def through(self, sink: Callable[[pd.DataFrame], None]) -> Callable[[pd.DataFrame], None]:
        """`sink`, each piece summarised first."""
        def both(piece: pd.DataFrame) -> None:
            self(piece)
            sink(piece)
        return both


def contract_description(files: FilesConfig, result: IngestResult, kept: KeptFacts, kind: str = "files") -> dict:
    """data/ingested/contract.json: what this export holds, for the stages after ingest, and which source it
    is (`source`: contract/lineage.py)."""
    signal = files.outcome_signal
    return {
        "source": source_identity(kind, {k: v if isinstance(v, str) or v is None else v.model_dump()
                                         for k, v in files.column_map.items()},
                                  {k: v.model_dump() for k, v in files.extra_columns.items()},
                                  signal.model_dump() if signal else None),
        "absent_columns": list(result.absent),
        "constant_columns": dict(result.constants),
        "all_missing_columns": [c for c in CONTRACT if kept.rows and c in kept.columns - kept.with_values],
        "channels": sorted(kept.channels),
        "has_agents": "agent_id" not in result.absent and "agent_id" in kept.with_values,
        "extra_columns": {name: {"column": f"extra_{name}", "source_column": e.column, "kind": e.kind,
                                 "availability": e.availability} for name, e in files.extra_columns.items()},
        "outcome_signal": None if signal is None else {
            "column": "resolution_signal", "source_column": signal.column, "kind": signal.kind,
            "resolved_when": signal.resolved_when, "known_contacts": kept.known_signal},
    }


@dataclass(frozen=True)
class SideTables:
    """The customers and agents tables in contract form, their counts and quarantined rows."""

    customers: pd.DataFrame
    agents: pd.DataFrame
    counts: dict
    quarantines: list[pd.DataFrame]

    @property
    def teams(self) -> pd.Series | None:
        """Team by agent id: the contact export may lack the team; the agents table knows it."""
        agents = self.agents
        return agents.set_index("agent_id")["team"] if "team" in agents.columns and len(agents) else None

    @property
    def known(self) -> dict[str, pd.Series]:
        """The ids the side tables know, by the contacts' column (for `KeptSummary`)."""
        return {"customer_id": self.customers["customer_id"], "agent_id": self.agents["agent_id"]}


def side_tables(files: FilesConfig) -> SideTables:
    """The customers and agents files of `files` read and validated (a file not named: an empty table)."""
    sides, counts, quarantines = {}, {}, []
    for name, path, key in (("customers", files.customers, "customer_id"), ("agents", files.agents, "agent_id")):
        table = (read_export(path, files.read, f"ingest.files.{name}").table if path
                 else pd.DataFrame({key: pd.Series(dtype="str")}))
        side = validate_side_table(table, key, name)
        quarantines.append(side.quarantine)
        counts[name] = side.counts
        sides[name] = side.contacts
    return SideTables(sides["customers"], sides["agents"], counts, quarantines)


def ingest(files: FilesConfig, max_reject_share: float,
           sink: Callable[[pd.DataFrame], None] | None = None, kind: str = "files") -> IngestOutput:
    """Read, map, parse and validate the export (`kind`: synthetic or files, for contract.json's source);
    fail when more than `max_reject_share` is rejected.
    `sink` receives the kept contacts piece by piece as they are put in order (the stage writes them
    as they come); it is handed them even when the share rejected then stops the stage."""
    spec = source_spec(files)
    sides = side_tables(files)
    export = read_export(files.contacts, files.read)
    kept = KeptSummary(sides.known)
    result = normalise_contacts(export.hand_over(), spec, export.duplicated, agent_teams=sides.teams,
                                sink=None if sink is None else kept.through(sink))
    if result.contacts is not None:
        kept(result.contacts)
    return finish(files, spec, result, export.files, kept.facts(), sides, max_reject_share, kind)


def finish(files: FilesConfig, spec: SourceSpec, result: IngestResult, export_files: list[str], kept: KeptFacts,
           sides: SideTables, max_reject_share: float, kind: str = "files") -> IngestOutput:
    """The contacts' result (`normalise_contacts`, or an engine's merge of its parts) with the side tables: the
    row accounting checked, the notes, the quarantine, contract.json; fails when more than
    `max_reject_share` of the contact rows is rejected."""
    counts: dict = {"contacts": result.counts, "files": export_files, **sides.counts}
    quarantines = [result.quarantine, *sides.quarantines]
    for name, key in (("customers", "customer_id"), ("agents", "agent_id")):
        if key in kept.unknown:
            counts["contacts"][f"unknown_{name}"] = kept.unknown[key]
    c = counts["contacts"]
    if c["rows_read"] != c["rows_kept"] + c["rows_filtered"] + c["rows_quarantined"]:
        raise AssertionError(f"ingest lost rows: {c}")
    counts["reject_share"] = c["rows_quarantined"] / max(c["rows_read"] - c["rows_filtered"], 1)
    counts["absent_columns"] = list(result.absent)
    if "agent_id" in result.absent:
        counts["notes"] = ["no agent column: agent_id is missing on every contact (no agent features, "
                           "scorecards or routing)"]
    out = IngestOutput(result.contacts, sides.customers, sides.agents,
                       pd.concat(quarantines, ignore_index=True), counts,
                       contract_description(files, result, kept, kind))
    if counts["reject_share"] > max_reject_share:
        raise IngestRejected(
            f"{counts['reject_share']:.1%} of contact rows were rejected, above "
            f"ingest.max_reject_share={max_reject_share:.1%}:\n"
            + reject_summary(result.quarantine, spec.column_map, extra_columns=spec.extra_columns,
                             outcome_column=spec.outcome_signal.column if spec.outcome_signal else None)
            + "\nCheck ingest.files (column_map, timestamp_format, timezone, channel_map) in params.yaml.")
    return out
