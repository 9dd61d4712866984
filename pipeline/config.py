"""Typed configuration: params.yaml parsed once into pydantic models.

In: the mapping read from params.yaml. Out: a `Params` object whose sections are handed to the
stages one by one. Unknown keys are rejected so that a typo in params.yaml fails loudly.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import ParamsError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    _section: ClassVar[str] = ""

    @classmethod
    def default(cls, **overrides: object) -> Self:
        """This section as the shipped params.yaml sets it (the only home of defaults), with overrides."""
        return cls.model_validate(_shipped_section(cls._section) | overrides)


PARAMS_FILE = Path(__file__).resolve().parents[1] / "params.yaml"


@lru_cache(maxsize=1)
def _shipped() -> dict:
    return yaml.safe_load(PARAMS_FILE.read_text())


def _shipped_section(dotted: str) -> dict:
    section: dict = _shipped()
    for key in dotted.split("."):
        section = section[key]
    return dict(section)


class Paths(_Strict):
    _section: ClassVar[str] = "paths"
    raw_dir: str
    contacts: str
    customers: str
    agents: str
    quarantine: str
    contract: str
    truth_dir: str
    labels: str
    features: str
    features_checksums: str  # written by featurize next to the table, verified by train
    feature_spec: str
    online_snapshot: str
    model_dir: str
    metrics_dir: str
    plots_dir: str
    reports_dir: str


class Messiness(_Strict):
    _section: ClassVar[str] = "synthetic.messiness"
    anonymous: float = Field(ge=0, le=1)
    abandonment: bool
    duplicates: float = Field(ge=0, le=1)
    out_of_order: bool
    mixed_timezones: float = Field(ge=0, le=1)
    dropped_calls: float = Field(ge=0, le=1)
    bad_rows: float = Field(ge=0, le=1)

    @classmethod
    def clean(cls) -> "Messiness":
        """No messiness at all: an export as tidy as a textbook."""
        return cls(anonymous=0, abandonment=False, duplicates=0, out_of_order=False,
                   mixed_timezones=0, dropped_calls=0, bad_rows=0)


class SyntheticConfig(_Strict):
    _section: ClassVar[str] = "synthetic"
    seed: int
    n_contacts: int = Field(gt=0)
    n_customers: int = Field(gt=0)
    n_agents: int = Field(gt=0)
    n_teams: int = Field(gt=0)
    start: date
    days: int = Field(gt=0)
    survey_rate: float = Field(ge=0, le=1)
    survey_noise: float = Field(ge=0, le=0.5)
    messiness: Messiness


class ReadConfig(_Strict):
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


class ConstantColumn(_Strict):
    """A contract column with one value for every row (e.g. `channel: {constant: phone}`)."""
    constant: str


class ComposedColumn(_Strict):
    """A contract column joined from several source columns (date + time; id parts)."""
    parts: list[str] = Field(min_length=2)
    sep: str


ColumnSource = str | ConstantColumn | ComposedColumn | None


class RowFilter(_Strict):
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


class EventsConfig(_Strict):
    """An event log (several rows per contact) collapsed to one row per contact_id."""
    order_by: str                   # contract column ordering the events of a contact (e.g. started_at)
    keep: Literal["first", "last"]  # the event whose values the other columns take
    # Per-contact aggregates: contract column, extra column name or `outcome_signal` -> rule.
    aggregate: dict[str, Aggregate] = {}


class ExtraColumn(_Strict):
    """A user's own column, written as `extra_<name>` for featurize."""
    column: str
    kind: Literal["number", "category", "flag"]
    availability: Literal["arrival", "after_contact"]


class OutcomeSignal(_Strict):
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


def _iana_zone(v: str, key: str, alternative: str) -> str:
    """`v` when it names an IANA time zone, else ValueError naming `key`."""
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{key} {v!r} is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)"
                         f"{alternative}") from None
    return v


class FilesConfig(_Strict):
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
        return _iana_zone(v, "ingest.files.timezone", "")

    @field_validator("extra_columns")
    @classmethod
    def _names(cls, v: dict[str, ExtraColumn]) -> dict[str, ExtraColumn]:
        bad = [k for k in v if not k.isidentifier()]
        if bad:
            raise ValueError(f"extra_columns names {bad} must be identifiers (letters, digits, _)")
        return v


class IngestConfig(_Strict):
    _section: ClassVar[str] = "ingest"
    source: Literal["synthetic", "files"]
    max_reject_share: float = Field(ge=0, le=1)
    files: FilesConfig | None = None


class LabelConfig(_Strict):
    _section: ClassVar[str] = "label"
    window_days: float = Field(gt=0)
    match: Literal["same_reason", "reason_family", "any"]
    merge_gap_s: float = Field(ge=0)
    # warn (label.json, fcr ingest --check) when more than this share of the contacts are merged away
    max_merged_share: float = Field(ge=0, le=1)
    abandoned_counts_as_repeat: bool
    survey_override: bool
    # repeats: repeat tracking labels the contacts; column: the export's outcome signal does
    # (ingest.files.outcome_signal), repeat tracking then being the second measurement.
    source: Literal["repeats", "column"]
    as_of: str | None = None


class FeaturizeConfig(_Strict):
    _section: ClassVar[str] = "featurize"
    prior_strength: float = Field(gt=0)  # pseudo-contacts behind each shrunk repeat rate


class SplitConfig(_Strict):
    _section: ClassVar[str] = "train.split"
    valid_share: float = Field(gt=0, lt=0.5)  # newest-but-test share: early stopping and calibration
    test_share: float = Field(gt=0, lt=0.5)  # newest share of labelled contacts: all reported metrics


class LightGBMConfig(_Strict):
    _section: ClassVar[str] = "train.lightgbm"
    n_estimators: int = Field(ge=1)  # upper bound; early stopping picks the number
    learning_rate: float = Field(gt=0, le=1)
    num_leaves: int = Field(ge=2)
    min_child_samples: int = Field(ge=1)
    colsample_bytree: float = Field(gt=0, le=1)
    reg_lambda: float = Field(ge=0)
    cat_smooth: float = Field(ge=0)
    early_stopping_rounds: int = Field(ge=1)
    n_jobs: int = Field(ge=1)
    # how LightGBM enforces the spec's monotone features (features/spec.py: Feature.monotone)
    monotone_method: Literal["basic", "intermediate", "advanced"]


class GateConfig(_Strict):
    """The promotion gate (models/registry/gate.py): margins over the simple baselines, paired bootstrap."""
    _section: ClassVar[str] = "train.registry.gate"
    min_log_loss_reduction: float | None  # null = not checked; at least one of the two margins is set
    min_auc_gain: float | None
    logistic_max_excess: float = Field(ge=0)  # refused only when credibly worse than logistic regression by this
    min_trees: int = Field(ge=1)  # fewer trees after early stopping: a degenerate fit, never promoted
    resamples: int = Field(ge=50)
    confidence: float = Field(gt=0.5, lt=1)
    seed: int

    @model_validator(mode="after")
    def _one_margin(self) -> Self:
        if self.min_log_loss_reduction is None and self.min_auc_gain is None:
            raise ValueError("set train.registry.gate.min_log_loss_reduction or min_auc_gain (or both): "
                             "a gate with no margin would promote anything")
        return self


class RegistryConfig(_Strict):
    _section: ClassVar[str] = "train.registry"
    model_name: str
    experiment: str
    tracking_uri: str       # MLFLOW_TRACKING_URI overrides it
    # The challenger becomes champion when its test log loss is at most the champion's (on the same
    # rows) plus this tolerance.
    promote_tolerance: float = Field(ge=0)
    register_model: bool
    gate: GateConfig


class TuningConfig(_Strict):
    """Optuna search over LightGBM settings, scored by rolling-origin cross-validation over time."""
    _section: ClassVar[str] = "train.tuning"
    enabled: bool
    trials: int = Field(ge=1)        # the params.yaml settings are always trial 0
    folds: int = Field(ge=1)         # rolling origins inside the train + validation windows
    fold_share: float = Field(gt=0, lt=0.5)  # share of those contacts in each fold's validation block
    space: dict[str, tuple[float, float]]    # lightgbm setting: [low, high]

    @model_validator(mode="after")
    def _check_space(self) -> Self:
        tunable = set(LightGBMConfig.model_fields) - {"n_jobs", "n_estimators", "early_stopping_rounds"}
        for name, (low, high) in self.space.items():
            if name not in tunable:
                raise ValueError(f"train.tuning.space.{name}: not a tunable train.lightgbm setting; use one of "
                                 f"{sorted(tunable)}")
            if not low < high:
                raise ValueError(f"train.tuning.space.{name}: write [low, high] with low < high, not [{low}, {high}]")
        if self.folds * self.fold_share >= 1:
            raise ValueError(f"train.tuning: folds x fold_share = {self.folds * self.fold_share:g} >= 1 leaves no "
                             "contacts to train the first fold; lower train.tuning.folds or train.tuning.fold_share")
        return self


class TrainConfig(_Strict):
    _section: ClassVar[str] = "train"
    seed: int
    split: SplitConfig
    calibration: Literal["platt", "isotonic"]
    lightgbm: LightGBMConfig
    capture_shares: list[float]
    specialist_capacity: float = Field(gt=0, lt=1)  # share of arriving contacts specialists can take
    casemix_model: bool        # fit the case-mix model (fair scorecards in the report)
    after_contact_model: bool  # fit the after-contact diagnostic model (process drivers in explain)
    registry: RegistryConfig
    tuning: TuningConfig


class PropensityConfig(_Strict):
    _section: ClassVar[str] = "routing.propensity"
    features: list[str] = Field(min_length=1)  # contact columns known at arrival
    fit_days: float = Field(gt=0)  # fitted on the last this many days before the test window
    alpha: float = Field(gt=0)     # pseudo-contacts smoothing each cell's agent shares


class BootstrapConfig(_Strict):
    _section: ClassVar[str] = "routing.bootstrap"
    resamples: int = Field(ge=50)
    confidence: float = Field(gt=0.5, lt=1)
    seed: int


class RoutingConfig(_Strict):
    """Stage `routing`: the FCR that routing policies would reach on the test window, capacity respected."""
    _section: ClassVar[str] = "routing"
    capacity_period: Literal["hour", "day"]  # each agent takes at most the contacts they handled in that period
    specialist_team: str | None           # a named specialist team; null = per family, the best adjusted agents
    specialist_share: float = Field(gt=0, le=1)  # share of a family's ranked agents in its specialist pool
    min_history: int = Field(ge=1)        # an agent's contacts of a family before the test window to be ranked in it
    min_propensity: float = Field(gt=0, lt=1)  # overlap: agents the centre gave such contacts at least this often
    min_overlap_share: float = Field(gt=0, le=1)  # else no estimate, with the reason
    capacity_curve: list[float] = Field(min_length=1)  # specialist capacities of plots/routing_capacity.csv
    correction_cell: list[str]            # contact columns that, with the agent, form the cells of the correction
    propensity: PropensityConfig
    bootstrap: BootstrapConfig

    @field_validator("capacity_curve")
    @classmethod
    def _shares(cls, v: list[float]) -> list[float]:
        if any(not 0 < c < 1 for c in v):
            raise ValueError(f"routing.capacity_curve holds shares of contacts, each in (0, 1): {v}")
        return sorted(v)


class ServeConfig(_Strict):
    _section: ClassVar[str] = "serve"
    host: str      # loopback unless told otherwise
    port: int = Field(ge=1, le=65535)
    model: str  # registry alias, or an exported model directory
    max_batch: int = Field(ge=1)
    max_body_bytes: int = Field(ge=1024)   # larger bodies get 413 before they are parsed
    body_timeout_s: float = Field(gt=0)    # a body not received in this time gets 408 (slow clients)
    header_timeout_s: float = Field(gt=0)  # request line + headers not received in this time: 408, closed
    journal: str                           # SQLite (WAL) journal of live events, replayed at start


class ExplainConfig(_Strict):
    _section: ClassVar[str] = "explain"
    sample_size: int = Field(ge=100)  # test-window contacts explained (SHAP per contact)
    seed: int
    top_features: int = Field(ge=1)  # drivers listed in reports/drivers.json
    segments: list[str]
    segment_top: int = Field(ge=1)  # drivers listed per segment value
    min_segment_contacts: int = Field(ge=1)


class ReportConfig(_Strict):
    _section: ClassVar[str] = "report"
    fcr_target: float = Field(gt=0, lt=1)  # the operation's FCR target, drawn on the weekly trend
    team_targets: dict[str, float]  # team: its own FCR target; teams not listed use fcr_target
    top_reasons: int = Field(ge=1)
    top_categories: int = Field(ge=1)  # a chart of more categories shows the largest this many and "all others"
    min_segment_contacts: int = Field(ge=1)  # thinner segments / cells are marked "too few contacts", never ranked
    scorecard_min_contacts: int = Field(ge=1)  # agents/teams with fewer contacts are marked, never ranked
    scorecard_days: int = Field(ge=1)  # scorecards cover the last this many days of contacts with a known outcome
    significance: float = Field(gt=0, lt=1)  # two-sided level of "beyond noise" (tests and intervals)
    movers: int = Field(ge=1)
    weeks_shown: int = Field(ge=1)
    drivers_in_words: int = Field(ge=1)
    coaching_families: int = Field(ge=1)  # reason families listed per agent in the coaching list
    placeholder_agents: list[str]  # agent ids meaning "no agent" (compared ignoring case): never scored or ranked
    reason_names: str | None  # CSV with reason_code,reason_name; null = the codes themselves
    dependence_plots: int = Field(ge=0)
    # Synthetic centre only: planted drivers whose part of the logit has at least this standard
    # deviation must rank among the top drivers (checked into metrics/report.json).
    truth_check_min_spread: float = Field(ge=0)
    # IANA zone in which months and weeks are cut; None = the export's ingest.files.timezone (UTC for
    # the synthetic centre), resolved by the report stage (report_timezone)
    timezone: str | None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        return None if v is None else _iana_zone(v, "report.timezone",
                                                 ", or null for the export's own (ingest.files.timezone)")


def report_timezone(report: ReportConfig, ingest: IngestConfig) -> str:
    """The zone the report cuts months and weeks in: report.timezone, else the export's own
    (ingest.files.timezone), else UTC (the synthetic centre)."""
    if report.timezone is not None:
        return report.timezone
    if ingest.source == "files" and ingest.files is not None:
        return ingest.files.timezone
    return "UTC"


class MonitorConfig(_Strict):
    """`fcr monitor`: does the model still hold on contacts after the data it was fitted on?"""
    _section: ClassVar[str] = "monitor"
    since: date | None          # first day monitored; None = the model's test window (never fitted on)
    psi_alarm: float = Field(gt=0)   # a feature has drifted when its PSI exceeds this
    alpha: float = Field(gt=0, lt=1)  # realised vs predicted repeats: alarm at p < alpha / segments tested
    min_segment_contacts: int = Field(ge=1)
    recent_days: float = Field(gt=0)  # also test the latest matured days alone (a change that starts late)
    segments: list[str]


class Params(_Strict):
    paths: Paths
    synthetic: SyntheticConfig
    ingest: IngestConfig
    label: LabelConfig
    featurize: FeaturizeConfig
    train: TrainConfig
    explain: ExplainConfig
    report: ReportConfig
    routing: RoutingConfig
    serve: ServeConfig
    monitor: MonitorConfig


def load_params(path: str | Path = "params.yaml") -> Params:
    """Parse params.yaml; a wrong key or value fails with the path of the offending field."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run from the project root or pass --params.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from None
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ParamsError(f"{path} is invalid:\n" + "\n".join(lines)) from None
