"""Typed configuration: params.yaml parsed once into pydantic models.

In: the mapping read from params.yaml. Out: a `Params` object whose sections are handed to the
stages one by one. Unknown keys are rejected so that a typo in params.yaml fails loudly.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paths(_Strict):
    raw_dir: str
    contacts: str
    customers: str
    agents: str
    quarantine: str
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
    anonymous: float = Field(0.02, ge=0, le=1)
    abandonment: bool = True
    duplicates: float = Field(0.01, ge=0, le=1)
    out_of_order: bool = True
    mixed_timezones: float = Field(0.3, ge=0, le=1)
    dropped_calls: float = Field(0.02, ge=0, le=1)
    bad_rows: float = Field(0.002, ge=0, le=1)

    @classmethod
    def clean(cls) -> "Messiness":
        """No messiness at all: an export as tidy as a textbook."""
        return cls(anonymous=0, abandonment=False, duplicates=0, out_of_order=False,
                   mixed_timezones=0, dropped_calls=0, bad_rows=0)


class SyntheticConfig(_Strict):
    seed: int = 42
    n_contacts: int = Field(300_000, gt=0)
    n_customers: int = Field(60_000, gt=0)
    n_agents: int = Field(300, gt=0)
    n_teams: int = Field(20, gt=0)
    start: date = date(2025, 1, 6)
    days: int = Field(365, gt=0)
    survey_rate: float = Field(0.15, ge=0, le=1)
    survey_noise: float = Field(0.10, ge=0, le=0.5)
    messiness: Messiness = Messiness()


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
    source: Literal["synthetic", "files"] = "synthetic"
    max_reject_share: float = Field(0.05, ge=0, le=1)
    files: FilesConfig | None = None


class LabelConfig(_Strict):
    window_days: float = Field(7, gt=0)
    match: Literal["same_reason", "reason_family", "any"] = "reason_family"
    merge_gap_s: float = Field(120, ge=0)
    abandoned_counts_as_repeat: bool = True
    survey_override: bool = True
    as_of: str | None = None


class FeaturizeConfig(_Strict):
    prior_strength: float = Field(20.0, gt=0)  # pseudo-contacts behind each shrunk repeat rate


class SplitConfig(_Strict):
    valid_share: float = Field(0.15, gt=0, lt=0.5)  # newest-but-test share: early stopping and calibration
    test_share: float = Field(0.15, gt=0, lt=0.5)   # newest share of labelled contacts: all reported metrics


class LightGBMConfig(_Strict):
    n_estimators: int = Field(3000, ge=1)           # upper bound; early stopping picks the number
    learning_rate: float = Field(0.08, gt=0, le=1)
    num_leaves: int = Field(7, ge=2)
    min_child_samples: int = Field(300, ge=1)
    colsample_bytree: float = Field(0.5, gt=0, le=1)
    reg_lambda: float = Field(0.0, ge=0)
    cat_smooth: float = Field(50.0, ge=0)
    early_stopping_rounds: int = Field(100, ge=1)
    n_jobs: int = Field(2, ge=1)


class RegistryConfig(_Strict):
    model_name: str = "fcr-classifier"
    experiment: str = "fcr"
    tracking_uri: str = "sqlite:///mlflow.db"       # MLFLOW_TRACKING_URI overrides it
    # The challenger becomes champion when its test log loss is at most the champion's (on the same
    # rows) plus this tolerance.
    promote_tolerance: float = Field(0.0, ge=0)
    register_model: bool = True


class TrainConfig(_Strict):
    seed: int = 0
    split: SplitConfig = SplitConfig()
    calibration: Literal["platt", "isotonic"] = "platt"
    lightgbm: LightGBMConfig = LightGBMConfig()
    capture_shares: list[float] = Field(default_factory=lambda: [0.05, 0.1, 0.2])
    specialist_capacity: float = Field(0.10, gt=0, lt=1)  # share of arriving contacts specialists can take
    casemix_model: bool = True        # fit the case-mix model (fair scorecards in the report)
    after_contact_model: bool = True  # fit the after-contact diagnostic model (process drivers in explain)
    registry: RegistryConfig = RegistryConfig()


class ServeConfig(_Strict):
    host: str = "127.0.0.1"      # loopback unless told otherwise
    port: int = Field(8080, ge=1, le=65535)
    model: str = "models:/fcr-classifier@champion"  # registry alias, or an exported model directory
    max_batch: int = Field(1000, ge=1)


class ExplainConfig(_Strict):
    sample_size: int = Field(20000, ge=100)  # test-window contacts explained (SHAP per contact)
    seed: int = 0
    top_features: int = Field(15, ge=1)       # drivers listed in reports/drivers.json
    segments: list[str] = Field(default_factory=lambda: ["channel", "reason_family", "team"])
    segment_top: int = Field(5, ge=1)         # drivers listed per segment value
    min_segment_contacts: int = Field(50, ge=1)


class ReportConfig(_Strict):
    fcr_target: float = Field(0.80, gt=0, lt=1)     # the operation's FCR target, drawn on the weekly trend
    top_reasons: int = Field(10, ge=1)
    scorecard_min_contacts: int = Field(30, ge=1)   # agents/teams with fewer contacts in the window are left out
    dependence_plots: int = Field(3, ge=0)
    # Synthetic centre only: planted drivers whose part of the logit has at least this standard
    # deviation must rank among the top drivers (checked into metrics/report.json).
    truth_check_min_spread: float = Field(0.10, ge=0)


class Params(_Strict):
    paths: Paths
    synthetic: SyntheticConfig
    ingest: IngestConfig
    label: LabelConfig
    featurize: FeaturizeConfig
    train: TrainConfig
    explain: ExplainConfig
    report: ReportConfig
    serve: ServeConfig = ServeConfig()


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
