"""The `ingest` section of params.yaml: where the export comes from and how it maps onto the data contract."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from base.config import Strict, iana_zone


class ReadConfig(Strict):
    """How the export files are read; null = absent (sniffed delimiter, BOM or UTF-8, standard quote and '.')."""
    _section: ClassVar[str] = "ingest.files.read"
    delimiter: str | None = None   # null: sniffed from the first lines among , ; tab |
    encoding: Literal["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"] | None = None  # null: BOM, else UTF-8
    quote: str | None = None       # null: the double quote
    decimal: str | None = None     # null: '.'; ',' for exports written with a decimal comma
    member: str | None = None      # .zip archives: glob of the members to read; null: every file in it

    @field_validator("delimiter", "quote", "decimal")
    @classmethod
    def _one_char(cls, v: str | None, info) -> str | None:
        if v is not None and len(v) != 1:
            raise ValueError(f"ingest.files.read.{info.field_name} must be one character, got {v!r}")
        return v


class ConstantColumn(Strict):
    """A contract column with one value for every row (e.g. `channel: {constant: phone}`)."""
    constant: str


class ComposedColumn(Strict):
    """A contract column joined from several source columns (date + time; id parts)."""
    parts: list[str] = Field(min_length=2)
    sep: str


ColumnSource = str | ConstantColumn | ComposedColumn | None


class RowFilter(Strict):
    """A named rule that drops rows on purpose (counted apart from quarantine)."""
    name: str = Field(min_length=1)
    column: str                         # a column of the export
    drop_values: list[str] | None = None  # drop rows whose value is one of these (case-insensitive)
    keep_values: list[str] | None = None  # or: keep only rows whose value is one of these

    @model_validator(mode="after")
    def _exactly_one(self) -> "RowFilter":
        if (self.drop_values is None) == (self.keep_values is None):
            raise ValueError(f"filter {self.name!r}: give exactly one of drop_values or keep_values")
        return self


Aggregate = Literal["first", "last", "min", "max", "any", "sum"]


class EventsConfig(Strict):
    """An event log (several rows per contact) collapsed to one row per contact_id."""
    order_by: str                   # contract column ordering the events of a contact (e.g. started_at)
    keep: Literal["first", "last"]  # the event whose values the other columns take
    # Per-contact aggregates: contract column, extra column name or `outcome_signal` -> rule.
    aggregate: dict[str, Aggregate] = {}


class ExtraColumn(Strict):
    """A user's own column, written as `extra_<name>` for featurize."""
    column: str
    kind: Literal["number", "category", "flag"]
    availability: Literal["arrival", "after_contact"]


class OutcomeSignal(Strict):
    """The user's own resolution signal: a flag or a count, and which values mean resolved."""
    column: str
    kind: Literal["flag", "count"]
    # flag: true (a true flag means resolved) or false (e.g. a "reopened" flag);
    # count: zero (no reopen means resolved) or positive.
    resolved_when: bool | Literal["zero", "positive"]

    @model_validator(mode="after")
    def _polarity_fits_kind(self) -> "OutcomeSignal":
        allowed = (True, False) if self.kind == "flag" else ("zero", "positive")
        if self.resolved_when not in allowed or isinstance(self.resolved_when, bool) != (self.kind == "flag"):
            raise ValueError(f"outcome_signal.resolved_when for kind {self.kind!r} must be one of "
                             f"{list(allowed)}, got {self.resolved_when!r}")
        return self


class FilesConfig(Strict):
    """`ingest.files`: how the user's export maps onto the data contract (see params.yaml)."""
    _section: ClassVar[str] = "ingest.files"
    contacts: str                          # a path or a glob (several files); CSV/TSV/TXT, .gz, .zip, Parquet
    customers: str | None = None
    agents: str | None = None
    reason_family_file: str | None = None  # CSV with columns reason_code,reason_family
    read: ReadConfig | None = None
    timestamp_format: str | list[str] | None = None  # strftime format(s) tried in order; null: ISO 8601
    timezone: str                          # of times written without an offset
    dst_ambiguous: Literal["earliest", "latest", "quarantine"]   # local times that occur twice
    dst_nonexistent: Literal["shift_forward", "quarantine"]      # local times in the spring-forward gap
    # contract column: your column, {constant: v}, {parts: [..], sep: " "} or null (absent)
    column_map: dict[str, ColumnSource]
    value_maps: dict[str, dict[str, str]] = {}  # contract column: {your value: contract value or "drop"}
    channel_map: dict[str, str] = {}       # your channel value (any case): one of phone/chat/email/social/self_service
    reason_families: dict[str, str] = {}   # reason_code: family; codes not listed are their own family
    missing_values: list[str]              # tokens meaning "no value" in any column
    anonymous_customer_ids: list[str]      # customer ids meaning "unknown customer"
    filters: list[RowFilter] = []
    events: EventsConfig | None = None     # null: one row per contact already
    extra_columns: dict[str, ExtraColumn] = {}
    outcome_signal: OutcomeSignal | None = None
    future_tolerance_hours: float = Field(ge=0)  # rows starting later than now + this are quarantined

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        return iana_zone(v, "ingest.files.timezone", "")

    @field_validator("extra_columns")
    @classmethod
    def _names(cls, v: dict[str, ExtraColumn]) -> dict[str, ExtraColumn]:
        bad = [k for k in v if not k.isidentifier()]
        if bad:
            raise ValueError(f"extra_columns names {bad} must be identifiers (letters, digits, _)")
        return v


class IngestConfig(Strict):
    _section: ClassVar[str] = "ingest"
    source: Literal["synthetic", "files"]
    max_reject_share: float = Field(ge=0, le=1)
    files: FilesConfig | None = None
