"""Ingest's mappings, applied at the service's door: the service accepts the raw values of the user's exports.

In: the `SourceSpec` ingest reads the export with (contract/ingest.py: channel map, reason families,
anonymous customer ids, extra columns, missing-value tokens and decimal mark, all from params.yaml
`ingest`). Out: `DoorMapping`, which turns a raw channel into a contract channel (or says which value
to add to params.yaml), a blank/0/"anonymous" customer id into none, a reason code into its family as
the user's data maps it, and an extra column's value (taken under the export's column name) into what
ingest makes of it: a number, a yes/no flag or a category's text; a value ingest would reject is
refused, naming what is accepted. Nothing here comes from the synthetic centre's catalogue: with
`ingest.source: synthetic` the families are those of the generate stage's export file, as ingest
reads them.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass, field

from contract.schema import _FALSE, _TRUE, SourceSpec
from contract.mapping import DROP
from contract.vocabulary import CHANNELS
from features.spec import ExtraColumn


@dataclass(frozen=True)
class DoorMapping:
    channel_map: dict[str, str] = field(default_factory=dict)
    reason_families: dict[str, str] = field(default_factory=dict)
    anonymous_customer_ids: frozenset[str] = frozenset()
    # name -> kind, availability and the export's column (`extra_<name>` in contacts and features)
    extra_columns: dict[str, ExtraColumn] = field(default_factory=dict)
    missing_values: frozenset[str] = frozenset({""})
    decimal: str = "."
    # extra column name -> {lower-cased value of the export: what ingest.files.value_maps makes of it}
    value_maps: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_source_spec(cls, spec: SourceSpec) -> DoorMapping:
        extras = {name: ExtraColumn(x.kind, x.availability, x.column) for name, x in spec.extra_columns.items()}
        maps = {name: {str(k).strip().lower(): str(v) for k, v in spec.value_maps[name].items()}
                for name in extras if name in spec.value_maps}
        return cls(dict(spec.channel_map), dict(spec.reason_families), frozenset(spec.anonymous_customer_ids),
                   extras, frozenset({"", *spec.missing_values}), spec.decimal, maps)

    def extra(self, kind: str, raw: str | float | bool | None, name: str | None = None) -> str | float | bool | None:
        """One extra column's value as ingest reads the export's (contract/schema.py): its value map first
        (ingest.files.value_maps.<name>, any case; a value mapped to "drop" is refused), then blank or a
        missing-value token is none; a number (text with the export's decimal mark too) finite; a flag
        one of ingest's yes/no words (or 1/0); a category stripped text, whole numbers without '.0'.
        ValueError otherwise."""
        if not isinstance(raw, str | int | float | None):
            raise ValueError(f"not a {kind}: give a single value")
        if isinstance(raw, str):
            raw = raw.strip()
            mapped = self.value_maps.get(name or "", {}).get(raw.lower())
            if mapped == DROP:
                raise ValueError(f"{raw!r} is a value ingest drops (ingest.files.value_maps.{name})")
            raw = raw if mapped is None else mapped
            if raw in self.missing_values:
                return None
        if raw is None:
            return None
        if kind == "flag":
            if isinstance(raw, bool):
                return raw
            word = (str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw)).lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
            raise ValueError(f"not a yes/no value: one of {sorted(_TRUE | _FALSE)} (any case) or true/false")
        if kind == "number":
            if isinstance(raw, bool):
                raise ValueError("not a number (a flag)")
            try:
                value = float(raw.replace(self.decimal, ".") if isinstance(raw, str) else raw)
            except ValueError:
                raise ValueError(f"not a number (decimal mark {self.decimal!r})") from None
            if not math.isfinite(value):
                raise ValueError("not a finite number")
            return value
        if isinstance(raw, bool):
            return str(raw)
        return str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw)

    def channel(self, raw: str) -> str:
        value = raw.strip()
        value = self.channel_map.get(value, value)
        if value not in CHANNELS:
            raise ValueError(f"unknown channel {raw!r}: one of {list(CHANNELS)}, or map it in params.yaml "
                             "ingest.files.channel_map")
        return value

    def customer(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        value = raw.strip()
        return None if value in self.anonymous_customer_ids else value


# The mapping of the app handling the current request (set by the app's route class before the body is
# validated, so that a bad channel is a 422 naming the field, beside any other field's error).
CURRENT: ContextVar[DoorMapping] = ContextVar("door_mapping", default=DoorMapping())
