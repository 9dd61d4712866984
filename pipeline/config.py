"""Typed configuration: params.yaml parsed once into pydantic models.

In: the mapping read from params.yaml. Out: a `Params` object whose sections are handed to the
stages one by one. Unknown keys are rejected so that a typo in params.yaml fails loudly.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


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
    contract: str  # ingest's description of the export (extra columns and their kind/availability)
    truth_dir: str
    labels: str
    features: str
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


class FilesConfig(_Strict):
    contacts: str
    customers: str | None = None
    agents: str | None = None
    reason_family_file: str | None = None  # CSV with columns reason_code,reason_family
    timestamp_format: str | None = None
    timezone: str = "UTC"
    column_map: dict[str, str] = {}
    channel_map: dict[str, str] = {}
    reason_families: dict[str, str] = {}
    anonymous_customer_ids: list[str] = ["", "0", "anonymous"]


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
    abandoned_counts_as_repeat: bool
    survey_override: bool
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


class RegistryConfig(_Strict):
    _section: ClassVar[str] = "train.registry"
    model_name: str
    experiment: str
    tracking_uri: str       # MLFLOW_TRACKING_URI overrides it
    # The challenger becomes champion when its test log loss is at most the champion's (on the same
    # rows) plus this tolerance.
    promote_tolerance: float = Field(ge=0)
    register_model: bool


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


class ServeConfig(_Strict):
    _section: ClassVar[str] = "serve"
    host: str      # loopback unless told otherwise
    port: int = Field(ge=1, le=65535)
    model: str  # registry alias, or an exported model directory
    max_batch: int = Field(ge=1)
    max_body_bytes: int = Field(ge=1024)   # larger bodies get 413 before they are parsed
    body_timeout_s: float = Field(gt=0)    # a body not received in this time gets 408 (slow clients)
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
    top_reasons: int = Field(ge=1)
    scorecard_min_contacts: int = Field(ge=1)  # agents/teams with fewer contacts in the window are left out
    dependence_plots: int = Field(ge=0)
    # Synthetic centre only: planted drivers whose part of the logit has at least this standard
    # deviation must rank among the top drivers (checked into metrics/report.json).
    truth_check_min_spread: float = Field(ge=0)


class Params(_Strict):
    paths: Paths
    synthetic: SyntheticConfig
    ingest: IngestConfig
    label: LabelConfig
    featurize: FeaturizeConfig
    train: TrainConfig
    explain: ExplainConfig
    report: ReportConfig
    serve: ServeConfig


def load_params(path: str | Path = "params.yaml") -> Params:
    """Parse params.yaml; a wrong key or value fails with the path of the offending field."""
    path = Path(path)
    if not path.exists():
        raise SystemExit(f"{path} not found: run from the project root or pass --params.")
    raw = yaml.safe_load(path.read_text()) or {}
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise SystemExit(f"{path} is invalid:\n" + "\n".join(lines)) from None
