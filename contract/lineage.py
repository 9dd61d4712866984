"""Which data a model belongs to: the lineage of a data source, from the export's mapping to the labels.

In: the `ingest.files` mapping (or the synthetic centre's) and the label rules. Out: a small dict,
written by ingest into contract.json (`source`) and by featurize into feature_spec.json (`lineage`),
so it travels with every model's files; and the comparison of two lineages.

A model is only compared with, promoted over, or applied to contacts of the same lineage: the same kind
of source (the built-in synthetic centre or the user's files), the same mapped contract columns, the same
extra columns and outcome signal, and the same label rules. File names and read options are not part of
it: next month's export of the same system is the same source. The fingerprint is an MD5 of that
canonical description; its first 12 hex digits name the source in the registry (`champion-<id>`).
"""

from __future__ import annotations

import hashlib
import json

SOURCE_ID_LENGTH = 12


def _md5(obj: object) -> str:
    return hashlib.md5(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def source_identity(kind: str, column_map: dict, extra_columns: dict, outcome_signal: object) -> dict:
    """contract.json `source`: the kind of source (synthetic / files) and the fingerprint of its mapping
    (`column_map`, `extra_columns` and `outcome_signal` as params.yaml's ingest.files states them)."""
    described = {"kind": kind, "column_map": column_map, "extra_columns": extra_columns,
                 "outcome_signal": outcome_signal}
    return {"kind": kind, "fingerprint": _md5(described)}


def lineage(source: dict | None, label_target: dict) -> dict:
    """feature_spec.json `lineage`: the source (contract.json `source`; None for a contract written
    before sources were recorded) and the label rules, with the fingerprint of both and its short id."""
    source = source or {"kind": "unknown", "fingerprint": None}
    fingerprint = _md5({"source": source.get("fingerprint"), "label": label_target})
    return {"source": source.get("kind"), "source_fingerprint": source.get("fingerprint"), "label": label_target,
            "fingerprint": fingerprint, "id": fingerprint[:SOURCE_ID_LENGTH]}


def champion_alias(source_id: str | None) -> str:
    """The registry alias of the champion for one data source (`champion` for a model without lineage)."""
    return f"champion-{source_id}" if source_id else "champion"


def describe(entry: dict | None) -> str:
    """A lineage in a few words, for messages: 'synthetic source 1a2b3c4d5e6f (label window 7 days, ...)'."""
    if not entry or not entry.get("fingerprint"):
        return "no recorded data source (trained before lineage was recorded)"
    label = entry.get("label") or {}
    return (f"{entry.get('source')} source {entry.get('id')} (label window {label.get('window_days')} days, "
            f"match {label.get('match')})")


def mismatch(model: dict | None, current: dict | None) -> str | None:
    """None when a model of lineage `model` may score contacts of lineage `current`, else why not."""
    if not current or not current.get("fingerprint"):
        return ("the current data records no lineage (data/features/feature_spec.json is missing or older): "
                "run `dvc repro featurize`")
    if not model or not model.get("fingerprint"):
        return f"the model records no data source; the project is set up for {describe(current)}"
    if model["fingerprint"] != current["fingerprint"]:
        return f"the model was trained on {describe(model)}; the project is set up for {describe(current)}"
    return None
