"""`fcr`: the command line for ad-hoc use. Each command wraps a stage or a pure function.

`dvc repro` is the way to run the pipeline reproducibly; these commands are for trying things on
one file, generating a synthetic export to practise the `files` source, or running one stage.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import replace
import sys
from enum import Enum
from pathlib import Path

import typer

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
log = logging.getLogger("fcr")
PARAMS = typer.Option("params.yaml", "--params", help="params.yaml to read (the single source of configuration).")


class Match(str, Enum):
    same_reason = "same_reason"
    reason_family = "reason_family"
    any = "any"


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    from pipeline.io import setup_logging

    setup_logging(logging.DEBUG if verbose else logging.INFO)


@app.command(name="synthetic-export")
def synthetic_export(
    out_dir: Path = typer.Argument(..., help="Folder for contacts, customers, agents and the ground truth."),
    n_contacts: int = typer.Option(100_000, help="Approximate number of contacts."),
    seed: int = typer.Option(42, help="Random seed."),
    clean: bool = typer.Option(False, help="No messiness (no anonymous, duplicates, bad rows, ...)."),
    csv: bool = typer.Option(False, help="Write the contact export as CSV instead of Parquet."),
) -> None:
    """Generate a synthetic contact centre as export files (to practise `ingest.source: files`)."""
    from pipeline.config import Messiness, SyntheticConfig
    from synthetic.centre import generate as gen
    from pipeline.io import write_json, write_parquet

    cfg = SyntheticConfig.default(n_contacts=n_contacts, n_customers=max(n_contacts // 5, 10), seed=seed,
                          **({"messiness": Messiness.clean()} if clean else {}))
    data = gen(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    if csv:
        data.contacts.to_csv(out_dir / "contacts.csv", index=False)
    else:
        write_parquet(data.contacts, out_dir / "contacts.parquet")
    write_parquet(data.customers, out_dir / "customers.parquet")
    write_parquet(data.agents, out_dir / "agents.parquet")
    write_parquet(data.truth, out_dir / "truth.parquet")
    write_json(data.truth_meta, out_dir / "truth.json")
    log.info("wrote %d contact rows to %s", len(data.contacts), out_dir)


@app.command()
def label(
    input: Path | None = typer.Argument(None, help="Contact file (CSV/Parquet, contract columns). "
                                              "Default: the ingested contacts, as the DVC stage."),
    output: Path | None = typer.Argument(None, help="Where to write contacts + labels (.parquet or .csv)."),
    window_days: float | None = typer.Option(None, help="Repeat window in days (default: params.yaml label)."),
    match: Match | None = typer.Option(None, help="Issue matching rule."),
    merge_gap_s: float | None = typer.Option(None, help="Merge contacts this many seconds apart."),
    params: Path = PARAMS,
) -> None:
    """Label contacts as resolved / repeated / censored, with episodes.

    Without INPUT this runs the label stage. With INPUT and OUTPUT it labels any contact file with the
    rules of params.yaml, overridden by the options."""
    from contract.ingest import source_spec
    from contract.schema import SourceSpec, normalise_contacts
    from labelling.labeller import label_table
    from labelling.measure import fcr_table
    from pipeline.config import load_params
    from pipeline.io import read_table, write_parquet
    from pipeline.label import run

    p = load_params(params)
    overrides = {k: v for k, v in {"window_days": window_days, "match": match.value if match else None,
                                   "merge_gap_s": merge_gap_s}.items() if v is not None}
    cfg = p.label.model_copy(update=overrides)
    if input is None:
        from pipeline.stage import run_stage

        run_stage("label", lambda _cfg, paths: run(cfg, paths), "label", params_path=params)
        return
    if output is None:
        raise typer.BadParameter("give OUTPUT too, e.g. `fcr label contacts.csv labelled.parquet`")
    # The export's mapping (time zone, codes, families) from ingest.files when params has one.
    spec = source_spec(p.ingest.files) if p.ingest.files else SourceSpec()
    result = normalise_contacts(read_table(input), replace(spec, name=str(input)))
    if result.counts["rows_quarantined"]:
        qpath = output.with_name(output.stem + ".quarantine.parquet")
        write_parquet(result.quarantine, qpath)
        log.warning("%d rows rejected (%s); written to %s", result.counts["rows_quarantined"],
                    result.counts["quarantined_by_reason"], qpath)
    labelled = label_table(result.contacts, cfg)
    if output.suffix == ".csv":
        output.parent.mkdir(parents=True, exist_ok=True)
        labelled.to_csv(output, index=False)
    else:
        write_parquet(labelled, output)
    fcr = fcr_table(labelled).iloc[0]
    log.info("%s: FCR %.1f%% [%.1f, %.1f] over %d first contacts; statuses %s", output, 100 * fcr.fcr,
             100 * fcr.ci_low, 100 * fcr.ci_high, fcr.first_contacts, labelled["status"].value_counts().to_dict())


def _stage(name: str, doc: str):
    def command(params: Path = PARAMS) -> None:
        import importlib

        importlib.import_module(f"pipeline.{name}").main(str(params))

    command.__doc__ = doc
    return command


STAGES = {
    "generate": "Run the generate stage: the built-in synthetic contact centre as an export (ingest.source: synthetic).",
    "ingest": "Run the ingest stage: read the export named in params.yaml onto the data contract, quarantine bad rows.",
    "featurize": "Run the featurize stage: point-in-time features, feature_spec.json and the online snapshot.",
    "train": "Run the train stage: calibrated LightGBM on a time split, baselines, metrics and plots, logged to MLflow and registered as fcr-classifier (challenger; champion if not worse).",
    "explain": "Run the explain stage: SHAP drivers of repeats on a test-window sample (reports/drivers.json, CSV).",
    "report": "Run the report stage: reports/drivers.html for operations (FCR, drivers, case-mix adjusted scorecards) and CSV tables.",
}
for _name, _doc in STAGES.items():
    app.command(name=_name)(_stage(_name, _doc))


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to bind (default serve.host in params.yaml: 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default serve.port)."),
    model: str = typer.Option(None, help="models:/NAME@ALIAS from the MLflow registry, or a model directory "
                                           "(e.g. models_out); default serve.model (the champion)."),
    journal: Path = typer.Option(None, help="SQLite journal of live events (default serve.journal)."),
    params: Path = PARAMS,
) -> None:
    """Start the scoring and routing HTTP service (FastAPI + uvicorn): POST /v1/score, /v1/route,
    /v1/contacts, /v1/admin/reload, GET /v1/model, /healthz, /readyz, /metrics; OpenAPI at /docs.
    Live events are journaled (serve.journal) and replayed at start. Set FCR_API_TOKEN to require a
    bearer token. MLflow's tracking URI: train.registry.tracking_uri or MLFLOW_TRACKING_URI."""
    import uvicorn

    from models.serving.journal import Journal
    from models.serving.scorer import ModelNotFound, build_scorer, load_model
    from models.serving.app import create_app
    from models.registry.tracking import tracking_uri
    from pipeline.config import load_params

    p = load_params(params)
    cfg = p.serve
    source = model or cfg.model
    uri = tracking_uri(p.train.registry)
    try:  # fail at start-up, with what to do, rather than serve 503s forever
        loaded = load_model(source, uri)
        if loaded.card.get("capacity_threshold") is None:
            raise ModelNotFound(f"{source} carries no capacity threshold (model_card.json / run metrics).")
    except ModelNotFound as exc:
        log.error("%s", exc)
        raise typer.Exit(2) from None
    paths = p.paths
    journal = Journal(journal or cfg.journal)
    first = [loaded]

    def loader():  # the model loaded above first; on reload, the source again (a new champion)
        model_ = first.pop() if first else load_model(source, uri)
        return build_scorer(model_, paths.online_snapshot, paths.customers, paths.agents, p.featurize, journal=journal)

    app_ = create_app(loader, max_batch=cfg.max_batch, max_body=cfg.max_body_bytes, body_timeout=cfg.body_timeout_s,
                      door_mapping=_door_mapping(p))
    # Slow clients: idle keep-alive connections close after 5 s; bodies have their own deadline (408).
    uvicorn.run(app_, host=host or cfg.host, port=port or cfg.port, log_level="info", access_log=False,
                timeout_keep_alive=5)


def _door_mapping(p):
    """Ingest's mappings (channel map, reason families, anonymous ids) for the service's door."""
    from contract.ingest import source_spec, synthetic_files
    from models.serving.mapping import DoorMapping

    if p.ingest.source == "files":
        return DoorMapping.from_source_spec(source_spec(p.ingest.files))
    try:
        return DoorMapping.from_source_spec(source_spec(synthetic_files(p.paths.raw_dir)))
    except FileNotFoundError as exc:  # no export yet: families come from the snapshot's history alone
        log.warning("%s", exc)
        return DoorMapping()


@app.command()
def repro(args: list[str] = typer.Argument(None, help="Extra arguments for `dvc repro`.")) -> None:
    """Run the whole DVC pipeline (`dvc repro`)."""
    raise typer.Exit(subprocess.call([sys.executable, "-m", "dvc", "repro", *(args or [])]))


if __name__ == "__main__":
    app()
