"""Typed configuration: params.yaml parsed once into `Params`, composed of the packages' own sections.

In: the mapping read from params.yaml. Out: a `Params` object whose sections are handed to the
stages one by one. Unknown keys are rejected so that a typo in params.yaml fails loudly. Each section
lives beside the code that reads it (base/config.py: the strict base, `paths`; contract/config.py:
`ingest`; labelling/config.py: `label`; features/config.py: `featurize`; models/config.py: `train`,
`explain`, `routing`, `serve`, `monitor`; report/config.py: `report`; synthetic/config.py: `synthetic`;
engine/config.py: `engine`);
they are re-exported here for the pipeline's own use (and `fcr` names a section by its class name).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from base.config import PARAMS_FILE, Paths, Strict
from contract.config import (Aggregate, ColumnSource, ComposedColumn, ConstantColumn, EventsConfig, ExtraColumn,
                             FilesConfig, IngestConfig, OutcomeSignal, ReadConfig, RowFilter)
from engine.config import DaskConfig, EngineConfig
from features.config import FeaturizeConfig
from labelling.config import LabelConfig
from models.config import (BootstrapConfig, ExplainConfig, GateConfig, LightGBMConfig, MonitorConfig, PropensityConfig,
                           RegistryConfig, RoutingConfig, ServeConfig, SplitConfig, TrainConfig, TuningConfig)
from pipeline.errors import ParamsError
from report.config import ReportConfig, report_timezone
from synthetic.config import Messiness, SyntheticConfig

__all__ = ["PARAMS_FILE", "Aggregate", "BootstrapConfig", "ColumnSource", "ComposedColumn", "ConstantColumn",
           "DaskConfig", "EngineConfig", "EventsConfig", "ExplainConfig", "ExtraColumn", "FeaturizeConfig", "FilesConfig", "GateConfig",
           "IngestConfig", "LabelConfig", "LightGBMConfig", "Messiness", "MonitorConfig", "OutcomeSignal", "Params",
           "Paths", "PropensityConfig", "ReadConfig", "RegistryConfig", "ReportConfig", "RoutingConfig", "RowFilter",
           "ServeConfig", "SplitConfig", "Strict", "SyntheticConfig", "TrainConfig", "TuningConfig", "load_params",
           "report_timezone"]


class Params(Strict):
    paths: Paths
    synthetic: SyntheticConfig
    ingest: IngestConfig
    label: LabelConfig
    featurize: FeaturizeConfig
    engine: EngineConfig
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
