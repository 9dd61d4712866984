"""DVC stage `report`: outputs of ingest, label, train and explain -> reports/drivers.html and CSV tables.

Loads what the earlier stages wrote (report/inputs.py; the contacts and labels as their counts, report/counts.py,
made on a Dask cluster per customer partition with engine.kind dask: engine/report.py), builds the operations report (report/build.py:
this month against the last, top reasons, teams by week, channel switching, survey against repeats,
drivers in words, fair scorecards and the coaching list, the model for analysts) and writes the HTML,
its tables as CSV and metrics/report.json.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

from models.registry.tracking import tracking_uri
from pipeline.config import EngineConfig, IngestConfig, Paths, RegistryConfig, ReportConfig, report_timezone
from pipeline.io import write_csvs
from pipeline.stage import RUN_KEY, run_stage
from report.build import build_report
from report.counts import ContactCounts
from report.inputs import count_contacts, load_report_inputs

log = logging.getLogger(__name__)


def counted(engine: EngineConfig, paths: Paths, tz: str) -> ContactCounts:
    if engine.kind == "dask":  # per customer partition on the cluster: only the counts come here
        from engine.report import counted_on_cluster  # (Dask is imported only when it is used)
        return counted_on_cluster(engine.dask, paths, tz)
    return count_contacts(paths, tz)


def run(cfg: ReportConfig, registry: RegistryConfig, ingest: IngestConfig, engine: EngineConfig, paths: Paths) -> dict:
    cfg = cfg.model_copy(update={"timezone": report_timezone(cfg, ingest)})  # months and weeks in this zone
    counts = counted(engine, paths, cfg.timezone)
    report = build_report(load_report_inputs(paths, cfg, registry.model_name, tracking_uri(registry), counts), cfg)
    reports = Path(paths.reports_dir)
    write_csvs(report.tables, reports)
    out = reports / "drivers.html"
    out.write_text(report.html)
    log.info("report written to %s (%.0f kB)", out, out.stat().st_size / 1024)
    summary = dict(report.summary)  # strict JSON via the stage helper; the registry version is run-specific
    return summary | {RUN_KEY: {"model_version": summary.pop("model_version", None)}}


def main(params_path: str = "params.yaml") -> None:
    matplotlib.use("Agg")  # a non-interactive stage: figures are only saved into the HTML
    run_stage("report", run, "report", "train.registry", "ingest", "engine", params_path=params_path)


if __name__ == "__main__":
    main()
