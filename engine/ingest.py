"""Ingest on a Dask cluster with the local engine's own reading, mapping and validation code.

In: the `ingest.files` block (or the synthetic centre's, `contract.ingest.synthetic_files`), the max reject
share, `engine.dask`, the contacts' folder and the writer of a Parquet part. Out: the local engine's
`IngestOutput` (side tables, quarantine, counts, contract description; `contacts` None: they are written as
a Parquet dataset on the cluster). How (no rule is written here):
- one task per export file (`contract.reading.read_file`, the local reader of one file; `expand` names the
  files: a path, glob, folder, Parquet dataset folder or fsspec URL), a Parquet file one task per range of its
  row groups of at most a million rows (`read_units`: no worker holds a whole large file), its rows numbered as
  the local engine numbers the concatenated export;
- the rows shuffled by a hash of the contact id as `normalise_contacts` cleans it (`contract.schema.contact_ids`),
  so that duplicate rows and a ticket's events, wherever their files, meet in one partition, where they stay in
  the export's row order; then `normalise_contacts` itself on each partition, its source rows put back to the
  export's numbering;
- the partitions' row accounting, quarantines, value-map reports (every unmapped value with its first row,
  merged exactly: the 20 most frequent, ties in order of first appearance) and kept-contact facts merged, and
  `contract.ingest.finish` (the local code) checks the reject share and describes the contract, before any
  contact is written;
- the kept contacts partitioned by *ranges* of customer id (not by a hash of it, as issue 28 first put it):
  each part holds whole customers in the stored order (contract/ordering.py: customer, missing last; time; id)
  and the parts, whose names sort in range order, read back in order as the table the local engine writes, so
  that every stage after ingest reads them unchanged.

Known gap: the few decisions the local mapping takes over a whole typed column are taken per partition here:
a float column read as text (an id or code column of a Parquet export) is written without '.0' when all its
values are whole, and a whole-number float column's -0.0 becomes 0.0. They differ from the local engine's only
when such a column holds a fractional value in some rows (then the local engine writes '17.0' everywhere, a
partition without those rows '17'), and, for an export cut into Parquet files whose types differ, a partition
holding rows of one file only. No export of the tests does; delimited text (every column text) is never affected.
A part whose column types differ from the others' (e.g. an object column missing throughout one part) stops the
stage before anything is written, rather than writing a dataset that does not read back as one table.
"""

from __future__ import annotations

import dataclasses
import logging
import operator
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from distributed import Client, Future

from contract.config import FilesConfig
from contract.ingest import IngestOutput, KeptFacts, KeptSummary, SideTables, finish, side_tables, source_spec
from contract.mapping import FIRST_ROWS, UNMAPPED_SHOWN
from contract.reading import expand, no_rows, read_file, read_units, same_header
from contract.schema import IngestResult, SourceSpec, contact_ids, normalise_contacts
from engine.cluster import dask_client, partition_count, show_progress
from engine.config import DaskConfig
from engine.partition import (PARTITION, IdSample, customer_partition, cuts_of, id_sample, in_customer_order,
                              write_pieces)

log = logging.getLogger(__name__)
ROWS_PER_TASK = 1 << 20  # a Parquet file is read in tasks of row groups of at most this many rows


@dataclasses.dataclass(frozen=True)
class Part:
    """One contact-id partition normalised: its result (contacts None: they stay on the worker), the facts of
    its kept contacts, a sample of their customer ids (for the ranges' cuts)."""

    result: IngestResult
    kept: KeptFacts
    sample: IdSample


def ingest_on_cluster(files: FilesConfig, max_reject_share: float, cfg: DaskConfig, contacts_path: str | Path,
                      write: Callable[[pd.DataFrame, Path], None], kind: str = "files") -> IngestOutput:
    """The ingest stage's work on the cluster of `cfg` (engine.dask), in `partitions_per_worker` contact-id
    and customer-range partitions per worker (see `ingest_with`)."""
    with dask_client(cfg) as client:
        return ingest_with(client, files, max_reject_share, partition_count(client, cfg), contacts_path, write, kind)


def ingest_with(client: Client, files: FilesConfig, max_reject_share: float, n: int, contacts_path: str | Path,
                write: Callable[[pd.DataFrame, Path], None], kind: str = "files") -> IngestOutput:
    """See the module docstring: on `client`'s cluster in `n` partitions, the contacts written to `contacts_path`
    by `write(piece, path)` once the reject share passed."""
    spec = dataclasses.replace(source_spec(files), now=pd.Timestamp.now(tz="UTC"), every_unmapped=True)
    sides = side_tables(files)
    names, contacts, parts = normalised(client, files, spec, sides, n)
    result = merged_result([p.result for p in parts])
    out = finish(files, spec, result, names, KeptFacts.merged([p.kept for p in parts]), sides, max_reject_share, kind)
    rows = write_by_customer_range(client, contacts, cuts_of((p.sample for p in parts), n), contacts_path, write)
    log.info("ingest on dask: %d files, %d contact-id partitions, %d contacts written to %s", len(names),
             len(parts), rows, contacts_path)
    return out


def normalised(client: Client, files: FilesConfig, spec: SourceSpec, sides: SideTables,
               n: int) -> tuple[list[str], list[Future], list[Part]]:
    """The export read per file, shuffled into `n` contact-id partitions and normalised: the files' names (as
    the local engine lists them), the kept contacts of each non-empty partition (futures) and their `Part`s."""
    units = [(path, groups) for path in expand(files.contacts) for groups in read_units(path, ROWS_PER_TASK)]
    read = [client.submit(read_file, path, files.read, groups, pure=False) for path, groups in units]
    per_file = client.gather(client.map(_heads, read))
    heads = [h for file_heads in per_file for h in file_heads]  # in (file, member or row groups) order
    names = list(dict.fromkeys(name for name, _, _ in heads))  # the files as the local engine lists them
    duplicated = same_header([name for name, _, _ in heads], [header for _, header, _ in heads])
    sizes = [size for _, _, size in heads]
    if not sum(sizes):
        raise no_rows(names, heads[0][1])
    firsts = np.cumsum([0, *sizes[:-1]]).tolist()
    members = [(future, i) for future, file_heads in zip(read, per_file) for i in range(len(file_heads))]
    splits = [client.submit(_split, future, i, first, spec, duplicated, n)
              for (future, i), first, size in zip(members, firsts, sizes) if size]
    del read, members
    teams, known = client.scatter([sides.teams, sides.known], broadcast=True)
    done = [client.submit(_normalise, [client.submit(operator.getitem, s, j) for s in splits], spec, duplicated,
                          teams, known, n) for j in range(n)]
    del splits
    show_progress(f"{len(names)} export file(s) read, moved by contact id and normalised", done)
    present = [f for f, empty in zip(done, client.gather(client.map(_is_none, done))) if not empty]
    contacts = [client.submit(operator.itemgetter(0), f) for f in present]
    parts = client.gather([client.submit(operator.itemgetter(1), f) for f in present])
    return names, contacts, parts


def _heads(pieces: list[tuple[str, pd.DataFrame, list[str]]]) -> list[tuple[str, list[str], int]]:
    return [(name, header, len(df)) for name, df, header in pieces]


def _is_none(value: object) -> bool:
    return value is None


def _split(pieces: list[tuple[str, pd.DataFrame, list[str]]], member: int, first: int, spec: SourceSpec,
           duplicated: dict[str, list[int]], n: int) -> list[pd.DataFrame]:
    """One file's rows (numbered from `first` in the index) in `n` pieces by a hash of their contact id."""
    raw = pieces[member][1]
    bucket = pd.util.hash_pandas_object(contact_ids(raw, spec, duplicated), index=False).to_numpy() % np.uint64(n)
    numbered = raw.set_axis(pd.RangeIndex(first, first + len(raw)))
    return [numbered.take(np.flatnonzero(bucket == j)) for j in range(n)]


def _normalise(pieces: list[pd.DataFrame], spec: SourceSpec, duplicated: dict[str, list[int]],
               teams: pd.Series | None, known: dict[str, pd.Series], n: int) -> tuple[pd.DataFrame, Part] | None:
    """`normalise_contacts` of one contact-id partition (its pieces in export row order); the source rows, in
    the contacts, the quarantine and the value-map reports, put back to the export's numbering."""
    pieces = [p for p in pieces if len(p)]
    if not pieces:
        return None
    raw = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
    rows = raw.index.to_numpy(dtype=np.int64)
    result = normalise_contacts(raw, spec, duplicated, agent_teams=teams)
    contacts = result.contacts
    contacts["source_row"] = rows[contacts["source_row"].to_numpy()]
    quarantine = result.quarantine.assign(source_row=rows[result.quarantine["source_row"].to_numpy()])
    for report in result.counts["value_maps"].values():
        report[FIRST_ROWS] = {value: int(rows[row]) for value, row in report[FIRST_ROWS].items()}
    kept = KeptSummary(known)
    kept(contacts)
    return contacts, Part(dataclasses.replace(result, contacts=None, quarantine=quarantine), kept.facts(),
                          id_sample(contacts["customer_id"], n))


def merged_result(parts: list[IngestResult]) -> IngestResult:
    """The partitions' results as one: the quarantine in export row order, the counts added up."""
    first = parts[0]
    rejected = [p.quarantine for p in parts if len(p.quarantine)] or [first.quarantine]
    quarantine = pd.concat(rejected, ignore_index=True) if len(rejected) > 1 else rejected[0]
    quarantine = quarantine.sort_values("source_row", kind="stable").reset_index(drop=True)
    counts = merged_counts([p.counts for p in parts])
    return IngestResult(None, quarantine, counts, first.absent, first.constants, counts["value_maps"], first.notes)


def merged_counts(counts: list[dict]) -> dict:
    """`normalise_contacts`' counts of disjoint parts of an export as its counts of the whole (the same keys, in
    the same order); what depends on the header only (absent columns, notes) is the first part's."""
    first = counts[0]

    def total(key: str) -> int:
        return sum(c[key] for c in counts)

    return {
        **{key: total(key) for key in ("rows_read", "rows_kept", "rows_filtered", "rows_quarantined")},
        "filtered_by_rule": _summed([c["filtered_by_rule"] for c in counts]),
        "quarantined_by_reason": _summed([c["quarantined_by_reason"] for c in counts]),
        "anonymous_contacts": total("anonymous_contacts"),
        "unmapped_reason_codes": None if first["unmapped_reason_codes"] is None else total("unmapped_reason_codes"),
        "absent_columns": first["absent_columns"],
        "dst": _dst([c["dst"] for c in counts]),
        "value_maps": {key: _value_map([c["value_maps"][key] for c in counts]) for key in first["value_maps"]},
        "notes": first["notes"],
    }


def _summed(dicts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for key, value in d.items():
            out[key] = out.get(key, 0) + value
    return dict(sorted(out.items()))


def _dst(dicts: list[dict[str, dict]]) -> dict[str, dict]:
    out = {}
    for col in ("started_at", "ended_at"):
        found = [d[col] for d in dicts if col in d]
        if found:
            out[col] = {"ambiguous": sum(f["ambiguous"] for f in found), "ambiguous_rule": found[0]["ambiguous_rule"],
                        "nonexistent": sum(f["nonexistent"] for f in found),
                        "nonexistent_rule": found[0]["nonexistent_rule"]}
    return out


def _value_map(reports: list[dict]) -> dict:
    """One value map's reports of the parts as the whole's: the unmapped values the 20 most frequent, ties in
    the order the values first occur in the export (how pandas' value_counts orders them)."""
    counts: dict[str, int] = {}
    firsts: dict[str, int] = {}
    for report in reports:
        for value, count in report["unmapped"].items():
            counts[value] = counts.get(value, 0) + count
            firsts[value] = min(firsts.get(value, report[FIRST_ROWS][value]), report[FIRST_ROWS][value])
    shown = sorted(counts, key=lambda v: (-counts[v], firsts[v]))[:UNMAPPED_SHOWN]
    return {"mapped": sum(r["mapped"] for r in reports), "dropped": sum(r["dropped"] for r in reports),
            "unmapped": {v: counts[v] for v in shown}, "unmapped_rows": sum(r["unmapped_rows"] for r in reports)}


def _by_range(contacts: pd.DataFrame, cuts: list[str]) -> list[pd.DataFrame]:
    """The contacts in `len(cuts) + 1` pieces by customer range (missing customers in the last)."""
    bucket = customer_partition(contacts[["customer_id"]], cuts)[PARTITION].to_numpy()
    return [contacts.take(np.flatnonzero(bucket == r)) for r in range(len(cuts) + 1)]


def _range(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """One customer range: its pieces from every partition together, in the stored order."""
    present = [p for p in pieces if len(p)] or pieces[:1]
    return in_customer_order(pd.concat(present) if len(present) > 1 else present[0])


def write_by_customer_range(client: Client, contacts: list[Future], cuts: list[str], directory: str | Path,
                            write: Callable[[pd.DataFrame, Path], None]) -> int:
    """The kept contacts as one Parquet part per non-empty customer range (a single empty part when nothing was
    kept, as the local engine writes), every part with the same columns and types. Rows written."""
    split = [client.submit(_by_range, c, cuts) for c in contacts]
    ranges = [client.submit(_range, [client.submit(operator.getitem, s, r) for s in split])
              for r in range(len(cuts) + 1)]
    del split
    sizes = client.gather(client.map(len, ranges))
    ranges = [r for r, size in zip(ranges, sizes) if size] or ranges[:1]
    dtypes = client.gather(client.map(operator.attrgetter("dtypes"), ranges))
    if any(not d.equals(dtypes[0]) for d in dtypes[1:]):
        raise ValueError(f"{directory}: customer ranges with different column types {[d.to_dict() for d in dtypes]}")
    return write_pieces(ranges, directory, write)
