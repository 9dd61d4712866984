"""Ingest's mappings, applied at the service's door: the service accepts the raw values of the user's exports.

In: the `SourceSpec` ingest reads the export with (contract/ingest.py: channel map, reason families,
anonymous customer ids, all from params.yaml `ingest`). Out: `DoorMapping`, which turns a raw channel
into a contract channel (or says which value to add to params.yaml), a blank/0/"anonymous" customer id
into none, and a reason code into its family as the user's data maps it. Nothing here comes from the
synthetic centre's catalogue: with `ingest.source: synthetic` the families are those of the generate
stage's export file, as ingest reads them.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from contract.schema import SourceSpec
from contract.vocabulary import CHANNELS


@dataclass(frozen=True)
class DoorMapping:
    channel_map: dict[str, str] = field(default_factory=dict)
    reason_families: dict[str, str] = field(default_factory=dict)
    anonymous_customer_ids: frozenset[str] = frozenset()

    @classmethod
    def from_source_spec(cls, spec: SourceSpec) -> DoorMapping:
        return cls(dict(spec.channel_map), dict(spec.reason_families), frozenset(spec.anonymous_customer_ids))

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
