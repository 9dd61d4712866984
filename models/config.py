"""The sections of params.yaml the models read: `train` (split, LightGBM, tuning, registry and gate),
`explain`, `routing`, `serve` and `monitor`."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from base.config import Strict


class SplitConfig(Strict):
    _section: ClassVar[str] = "train.split"
    valid_share: float = Field(gt=0, lt=0.5)  # newest-but-test share: early stopping and calibration
    test_share: float = Field(gt=0, lt=0.5)  # newest share of labelled contacts: all reported metrics


class LightGBMConfig(Strict):
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


class GateConfig(Strict):
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


class RegistryConfig(Strict):
    _section: ClassVar[str] = "train.registry"
    model_name: str
    experiment: str
    tracking_uri: str       # MLFLOW_TRACKING_URI overrides it
    # The challenger becomes champion when its test log loss is at most the champion's (on the same
    # rows) plus this tolerance.
    promote_tolerance: float = Field(ge=0)
    register_model: bool
    gate: GateConfig


class TuningConfig(Strict):
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


class TrainConfig(Strict):
    _section: ClassVar[str] = "train"
    seed: int
    split: SplitConfig
    calibration: Literal["platt", "isotonic"]
    lightgbm: LightGBMConfig
    capture_shares: list[float]
    specialist_capacity: float = Field(gt=0, lt=1)  # share of arriving contacts specialists can take
    casemix_model: bool        # fit the case-mix model (fair scorecards in the report)
    after_contact_model: bool  # fit the after-contact diagnostic model (process drivers in explain)
    max_train_rows: int = Field(ge=1000)  # the routing model fits on at most this many training contacts (a sample)
    baseline_rows: int = Field(ge=1000)   # the logistic-regression baseline fits on at most this many training contacts
    auxiliary_rows: int = Field(ge=1000)  # the case-mix and after-contact models: at most this many training contacts
    max_valid_rows: int = Field(ge=1000)  # early stopping and calibration: at most this many validation contacts
    registry: RegistryConfig
    tuning: TuningConfig


class PropensityConfig(Strict):
    _section: ClassVar[str] = "routing.propensity"
    features: list[str] = Field(min_length=1)  # contact columns known at arrival
    fit_days: float = Field(gt=0)  # fitted on the last this many days before the test window
    alpha: float = Field(gt=0)     # pseudo-contacts smoothing each cell's agent shares


class BootstrapConfig(Strict):
    _section: ClassVar[str] = "routing.bootstrap"
    resamples: int = Field(ge=50)
    confidence: float = Field(gt=0.5, lt=1)
    seed: int


class RoutingConfig(Strict):
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
    max_contacts: int = Field(ge=1000)    # a longer test window is replayed on a random sample of this many contacts
    propensity: PropensityConfig
    bootstrap: BootstrapConfig

    @field_validator("capacity_curve")
    @classmethod
    def _shares(cls, v: list[float]) -> list[float]:
        if any(not 0 < c < 1 for c in v):
            raise ValueError(f"routing.capacity_curve holds shares of contacts, each in (0, 1): {v}")
        return sorted(v)


class ServeConfig(Strict):
    _section: ClassVar[str] = "serve"
    host: str      # loopback unless told otherwise
    port: int = Field(ge=1, le=65535)
    model: str  # registry alias, or an exported model directory
    max_batch: int = Field(ge=1)
    max_body_bytes: int = Field(ge=1024)   # larger bodies get 413 before they are parsed
    body_timeout_s: float = Field(gt=0)    # a body not received in this time gets 408 (slow clients)
    header_timeout_s: float = Field(gt=0)  # request line + headers not received in this time: 408, closed
    journal: str                           # SQLite (WAL) journal of live events, replayed at start


class ExplainConfig(Strict):
    _section: ClassVar[str] = "explain"
    sample_size: int = Field(ge=100)  # test-window contacts explained (SHAP per contact)
    seed: int
    top_features: int = Field(ge=1)  # drivers listed in reports/drivers.json
    segments: list[str]
    segment_top: int = Field(ge=1)  # drivers listed per segment value
    min_segment_contacts: int = Field(ge=1)


class MonitorConfig(Strict):
    """`fcr monitor`: does the model still hold on contacts after the data it was fitted on?"""
    _section: ClassVar[str] = "monitor"
    since: date | None          # first day monitored; None = the model's test window (never fitted on)
    psi_alarm: float = Field(gt=0)   # a feature has drifted when its PSI exceeds this
    alpha: float = Field(gt=0, lt=1)  # realised vs predicted repeats: alarm at p < alpha / segments tested
    min_segment_contacts: int = Field(ge=1)
    recent_days: float = Field(gt=0)  # also test the latest matured days alone (a change that starts late)
    segments: list[str]
