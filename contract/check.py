"""`fcr ingest --check`: a dry run of the mapping on the user's export, in words.

In: an `ingest.files` block. Out: the lines of a report (row accounting; each mapped column's
source, parse failures and failing samples; value-map coverage; guessed mappings for the export's
unmapped columns) and the ingested contacts, for the caller's label sanity checks. Writes nothing.
"""

from __future__ import annotations

import difflib
import json

import pandas as pd

from contract.ingest import source_spec
from contract.mapping import MAPPABLE, source_of
from contract.reading import read_export
from contract.schema import IngestResult, normalise_contacts
from contract.config import FilesConfig

# Names exports commonly give the contract's columns, for the guesses.
SYNONYMS = {
    "contact_id": ["call id", "callid", "ticket", "ticket id", "incident", "case id", "interaction id", "id"],
    "customer_id": ["caller", "caller id", "ani", "customer", "client", "requester", "account", "cliente"],
    "started_at": ["start", "start time", "created", "opened", "date", "call date", "timestamp", "fecha"],
    "ended_at": ["end", "end time", "closed", "resolved at"],
    "channel": ["source", "media", "media type", "medium", "canal"],
    "reason_code": ["reason", "wrap code", "wrapup", "category", "subcategory", "topic", "categoria"],
    "reason_family": ["category", "group", "family"],
    "agent_id": ["agent", "assignee", "owner", "user", "login", "tecnico"],
    "team": ["queue", "skill", "group", "team"],
    "wait_s": ["wait", "queue time", "ring", "ring time", "hold"],
    "handle_s": ["talk", "talk time", "duration", "aht", "handle time"],
    "transfers": ["xfer", "transfer", "transfers"],
    "disposition": ["outcome", "result", "status", "disposition"],
    "survey_resolved": ["survey", "csat resolved", "resolved"],
}


def guess(column: str) -> str | None:
    """The contract column an export's column name most likely means, or None."""
    name = column.strip().lower().replace("_", " ")
    best, score = None, 0.0
    for target, names in SYNONYMS.items():
        for cand in [target.replace("_", " "), *names]:
            s = difflib.SequenceMatcher(None, name, cand).ratio()
            if s > score:
                best, score = target, s
    return best if score >= 0.75 else None


def check_export(files: FilesConfig) -> tuple[list[str], IngestResult]:
    """See the module docstring."""
    spec = source_spec(files)
    export = read_export(files.contacts, files.read)
    raw = export.table
    res = normalise_contacts(raw, spec, export.duplicated)
    c = res.counts
    lines = [f"files: {', '.join(export.files)}",
             f"rows: {c['rows_read']} read = {c['rows_kept']} kept + {c['rows_filtered']} filtered + "
             f"{c['rows_quarantined']} quarantined"]
    lines += [f"  filtered by {rule}: {n}" for rule, n in c["filtered_by_rule"].items()]
    lines += [f"  quarantined, {reason}: {n}" for reason, n in c["quarantined_by_reason"].items()]
    lines += [f"  note: {note}" for note in c["notes"]]
    for col, d in c["dst"].items():
        lines.append(f"  {col}: {d['ambiguous']} DST-ambiguous ({d['ambiguous_rule']}), "
                     f"{d['nonexistent']} nonexistent ({d['nonexistent_rule']}) local times")
    lines.append("columns (contract <- export: parsed / failing samples):")
    rows = res.quarantine
    for col in MAPPABLE:
        entry = spec.column_map.get(col)
        if col == "reason_family" and entry is None:
            lines.append(f"  {col:16} " + ("from reason_families / reason_family_file" if spec.reason_families
                                             else "absent: each reason code is its own family"))
            continue
        if col in res.absent:
            lines.append(f"  {col:16} absent")
            continue
        label = entry if isinstance(entry, str) else json.dumps(
            entry if isinstance(entry, dict) else entry.model_dump(), ensure_ascii=False)
        failed = rows[rows["reason"].str.startswith(f"{col}:")]
        samples = []
        srcs = source_of(entry)
        for r in failed["row"].head(5):
            values = json.loads(r)
            samples.append(" ".join(str(values.get(s)) for s in srcs) if srcs else "")
        known = int(res.contacts[col].notna().sum()) if col in res.contacts else 0
        text = f"  {col:16} <- {label}: {known} of {c['rows_kept']} kept rows have a value"
        if len(failed):
            text += f"; {len(failed)} failed, e.g. {samples}"
        lines.append(text)
    for name, extra in spec.extra_columns.items():
        col = f"extra_{name}"
        lines.append(f"  {col:16} <- {extra.column} ({extra.kind}, {extra.availability}): "
                     f"{int(res.contacts[col].notna().sum())} values")
    if spec.outcome_signal is not None:
        s = res.contacts["resolution_signal"]
        lines.append(f"  resolution_signal <- {spec.outcome_signal.column}: {int(s.notna().sum())} known, "
                     f"{int(s.fillna(False).sum())} resolved")
    if c["value_maps"]:
        lines.append("value maps (coverage):")
        for key, v in c["value_maps"].items():
            lines.append(f"  {key}: {v['mapped']} mapped, {v['dropped']} dropped, {v['unmapped_rows']} unmapped"
                         + (f" {v['unmapped']}" if v["unmapped"] else ""))
    used = {s for e in spec.column_map.values() for s in source_of(e)}
    used |= {e.column for e in spec.extra_columns.values()} | {f.column for f in spec.filters}
    if spec.outcome_signal is not None:
        used.add(spec.outcome_signal.column)
    unmapped = [col for col in raw.columns if col not in used]
    if unmapped:
        lines.append("unmapped columns of the export (guess; or use them as extra_columns):")
        for col in unmapped:
            g = guess(col)
            sample = [str(v) for v in pd.Series(raw[col]).dropna().head(3)]
            lines.append(f"  {col}: {'maybe ' + g if g else 'no guess'}; e.g. {sample}")
    return lines, res
