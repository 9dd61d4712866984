"""`fcr`: the command line for ad-hoc use. Each command wraps a stage or a pure function.

`dvc repro` is the way to run the pipeline reproducibly; these commands are for trying things on
one file, generating a synthetic export to practise the `files` source, or running one stage.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path

import click
import typer
from typer.core import TyperGroup

log = logging.getLogger("fcr")


class _Commands(TyperGroup):
    """fcr's commands, each with the project's expected errors (base/errors.py: a mapping, params.yaml,
    a missing input file, a bad model source) printed as one message and exit status 2; `--debug` (or
    FCR_DEBUG=1) lets them raise with their traceback. Any other exception is a bug and keeps its traceback."""

    def invoke(self, ctx: click.Context):
        from pydantic import ValidationError

        from pipeline.errors import DEBUG_ENV, ExpectedError, debugging

        before = os.environ.get(DEBUG_ENV)
        if ctx.params.get("debug"):
            os.environ[DEBUG_ENV] = "1"  # for run_stage too, which the stage commands go through
        try:
            return super().invoke(ctx)
        except (ExpectedError, FileNotFoundError, ValidationError) as exc:
            if debugging():
                raise
            typer.echo(f"Error: {_message(exc)}", err=True)
            raise typer.Exit(2) from None
        finally:
            if before is None:
                os.environ.pop(DEBUG_ENV, None)
            else:
                os.environ[DEBUG_ENV] = before


def _message(exc: Exception) -> str:
    """An expected error in words, naming what to change."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):  # a params section with a command-line option applied
        import pipeline.config

        section = getattr(getattr(pipeline.config, exc.title, None), "_section", "") or exc.title
        return "invalid setting(s): " + "; ".join(
            f"{'.'.join([section, *map(str, e['loc'])])}: {e['msg']}" for e in exc.errors())
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        return (f"{exc.filename}: no such file. Check the path given on the command line or in params.yaml "
                "(paths.*); a pipeline output is written by `dvc repro`.")
    return str(exc)


app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, cls=_Commands)
PARAMS = typer.Option("params.yaml", "--params", help="params.yaml to read (the single source of configuration).")
ANY_SOURCE = typer.Option(False, "--any-source", help="Use the model even when it was trained on another data "
                                                       "source or label rules than params.yaml's (refused by default); "
                                                       "the output says so.")


class Match(str, Enum):
    same_reason = "same_reason"
    reason_family = "reason_family"
    any = "any"


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
           debug: bool = typer.Option(False, "--debug", help="Show the traceback of an expected error (a mapping, "
                                      "params.yaml, a missing file) instead of its one-line message.")) -> None:
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
    input: Path | None = typer.Argument(None, help="Contact file, read and mapped as the ingest stage reads "
                                              "ingest.files. Default: the ingested contacts, as the DVC stage."),
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
    from contract.reading import read_export
    from labelling.measure import sanity_warnings
    from pipeline.io import write_parquet
    from pipeline.label import run

    p = load_params(params)
    overrides = {k: v for k, v in {"window_days": window_days, "match": match.value if match else None,
                                   "merge_gap_s": merge_gap_s}.items() if v is not None}
    cfg = type(p.label).model_validate(p.label.model_dump() | overrides)  # (model_copy would not validate them)
    if input is None:
        from pipeline.stage import run_stage

        run_stage("label", lambda _cfg, engine, paths: run(cfg, engine, paths), "label", "engine", params_path=params)
        return
    if output is None:
        raise typer.BadParameter("give OUTPUT too, e.g. `fcr label contacts.csv labelled.parquet`")
    # The export's mapping (reading, time zone, codes, families) from ingest.files when params has one.
    files = p.ingest.files
    spec = replace(source_spec(files), name=str(input)) if files else SourceSpec(name=str(input))
    export = read_export(str(input), files.read if files else None, "INPUT")
    result = normalise_contacts(export.table, spec, export.duplicated)
    if result.counts["rows_quarantined"]:
        qpath = output.with_name(output.stem + ".quarantine.parquet")
        write_parquet(result.quarantine, qpath)
        log.warning("%d rows rejected (%s); written to %s", result.counts["rows_quarantined"],
                    result.counts["quarantined_by_reason"], qpath)
    if result.counts["rows_filtered"]:
        log.info("%d rows filtered: %s", result.counts["rows_filtered"], result.counts["filtered_by_rule"])
    labelled = label_table(result.contacts, cfg)
    if output.suffix == ".csv":
        output.parent.mkdir(parents=True, exist_ok=True)
        labelled.to_csv(output, index=False)
    else:
        write_parquet(labelled, output)
    for warning in sanity_warnings(labelled, cfg.window_days, cfg.max_merged_share)[1]:
        log.warning("sanity: %s", warning)
    fcr = fcr_table(labelled).iloc[0]
    log.info("%s: FCR %.1f%% [%.1f, %.1f] over %d first contacts; statuses %s", output, 100 * fcr.fcr,
             100 * fcr.ci_low, 100 * fcr.ci_high, fcr.first_contacts, labelled["status"].value_counts().to_dict())


def _stage(name: str, doc: str):
    def command(params: Path = PARAMS) -> None:
        import importlib

        importlib.import_module(f"pipeline.{name}").main(str(params))

    command.__doc__ = doc
    return command


@app.command()
def ingest(
    check: bool = typer.Option(False, "--check", help="Dry run: read the export, apply the mapping and print the "
                               "row accounting, each column's parse result, value-map coverage, guesses for "
                               "unmapped columns and the label sanity warnings. Writes nothing."),
    params: Path = PARAMS,
) -> None:
    """Run the ingest stage: read the export named in params.yaml onto the data contract, quarantine bad rows."""
    if not check:
        from pipeline.ingest import main

        main(str(params))
        return
    import time

    from contract.check import check_export
    from labelling.labeller import label_table
    from labelling.measure import sanity_warnings
    from pipeline.config import load_params
    from pipeline.errors import ParamsError

    started = time.perf_counter()
    p = load_params(params)
    if p.ingest.files is None:
        raise ParamsError(f"{params} has no ingest.files block to check: add one (examples/ holds three).")
    lines, result = check_export(p.ingest.files)
    label_cfg = p.label if "resolution_signal" in result.contacts or p.label.source == "repeats" else \
        p.label.model_copy(update={"source": "repeats"})
    figures, warnings = sanity_warnings(label_table(result.contacts, label_cfg), p.label.window_days,
                                        p.label.max_merged_share)
    merged = figures["merged_share"]
    lines.append(f"merges: {merged:.1%} of contacts merged into an earlier one (label.merge_gap_s="
                 f"{p.label.merge_gap_s:g} s; warned above label.max_merged_share={p.label.max_merged_share:.0%})"
                 if merged is not None else "merges: no contacts")
    lines.append("label sanity: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                               for k, v in figures.items()))
    lines += [f"  warning: {w}" for w in warnings] or ["  no warnings"]
    reject = result.counts["rows_quarantined"] / max(result.counts["rows_read"] - result.counts["rows_filtered"], 1)
    verdict = "OK" if reject <= p.ingest.max_reject_share else "WOULD FAIL"
    lines.append(f"quarantined share {reject:.1%} (limit ingest.max_reject_share {p.ingest.max_reject_share:.1%}): "
                 f"{verdict}; checked in {time.perf_counter() - started:.1f} s, nothing written")
    typer.echo("\n".join(lines))


STAGES = {
    "generate": "Run the generate stage: the built-in synthetic contact centre as an export (ingest.source: synthetic).",
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
                                           "(e.g. models_out); default serve.model (the champion of the current "
                                           "data source)."),
    journal: Path = typer.Option(None, help="SQLite journal of live events (default serve.journal)."),
    any_source: bool = ANY_SOURCE,
    params: Path = PARAMS,
) -> None:
    """Start the scoring and routing HTTP service (FastAPI + uvicorn): POST /v1/score, /v1/route,
    /v1/contacts, /v1/admin/reload, GET /v1/model, /healthz, /readyz, /metrics; OpenAPI at /docs.
    Live events are journaled (serve.journal) and replayed at start. Set FCR_API_TOKEN to require a
    bearer token. MLflow's tracking URI: train.registry.tracking_uri or MLFLOW_TRACKING_URI.
    Hot reload: `kill -HUP <pid>` (or POST /v1/admin/reload with the token) loads the model source
    (a new champion for models:/NAME@ALIAS) and the online snapshot again while the running ones keep
    answering, then swaps them between requests; in-flight requests are never dropped. The log says
    which version now answers, or why the reload failed (the running model stays). A model trained on another
    data source than params.yaml's (contract/lineage.py) is refused: /readyz answers 503 with the reason."""
    import signal

    import uvicorn

    from models.serving.journal import Journal
    from models.serving.scorer import ModelNotFound, build_scorer, check_lineage, current_lineage, load_model
    from models.serving.app import create_app
    from models.serving.slow_clients import header_deadline_protocol
    from models.registry.tracking import tracking_uri
    from pipeline.config import load_params

    # A hang-up while the model loads must not end the process (SIGHUP's default); the app takes the
    # signal over (reload) once it runs.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    p = load_params(params)
    cfg = p.serve
    source = model or cfg.model
    uri = tracking_uri(p.train.registry)
    paths = p.paths
    source_id = (current_lineage(paths.feature_spec) or {}).get("id")
    try:  # fail at start-up, with what to do, rather than serve 503s forever
        loaded = load_model(source, uri, source_id)
        if loaded.card.get("capacity_threshold") is None:
            raise ModelNotFound(f"{source} carries no capacity threshold (model_card.json / run metrics).")
    except ModelNotFound as exc:
        log.error("%s", exc)
        raise typer.Exit(2) from None
    journal = Journal(journal or cfg.journal)
    first = [loaded]

    def loader():  # the model loaded above first; on reload, the source again (a new champion)
        model_ = first.pop() if first else load_model(source, uri, source_id)
        # Another data source's model: not ready (/readyz 503 says why), unless --any-source.
        if warning := check_lineage(model_, current_lineage(paths.feature_spec), any_source):
            model_.card["lineage_warning"] = warning
        return build_scorer(model_, paths.online_snapshot, paths.customers, paths.agents, p.featurize, journal=journal)

    app_ = create_app(loader, max_batch=cfg.max_batch, max_body=cfg.max_body_bytes, body_timeout=cfg.body_timeout_s,
                      door_mapping=_door_mapping(p), reload_on_sighup=True)
    # Slow clients: idle keep-alive connections close after 5 s; the request line and headers have a
    # deadline (serve.header_timeout_s, models/serving/slow_clients.py), the body its own (408).
    uvicorn.run(app_, host=host or cfg.host, port=port or cfg.port, log_level="info", access_log=False,
                timeout_keep_alive=5, http=header_deadline_protocol(cfg.header_timeout_s))


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
def status(params: Path = PARAMS) -> None:
    """One screen: stale DVC stages, the registry's champion (version, run, data version, params), the model
    the report describes and what `fcr serve` would serve (serve.model resolved). Reads only."""
    from pipeline.status import project_status, render
    from pipeline.config import load_params

    typer.echo("\n".join(render(project_status(load_params(params), params.resolve().parent))))


@app.command()
def repro(args: list[str] = typer.Argument(None, help="Extra arguments for `dvc repro`.")) -> None:
    """Run the whole DVC pipeline (`dvc repro`)."""
    raise typer.Exit(subprocess.call([sys.executable, "-m", "dvc", "repro", *(args or [])]))



@app.command()
def score(
    input: Path = typer.Argument(..., help="Contacts to score, in the export's format: read and mapped as the "
                                           "ingest stage reads ingest.files (.csv/.tsv/.txt, .gz, .zip, Parquet)."),
    output: Path = typer.Argument(..., help="Where to write contact_id, started_at, p_repeat, route (.csv/.parquet)."),
    model: str = typer.Option(None, help="models:/NAME@ALIAS or a model directory; default serve.model (champion)."),
    reasons: int = typer.Option(0, min=0, help="Also write the top N reasons toward a repeat per contact."),
    any_source: bool = ANY_SOURCE,
    params: Path = PARAMS,
) -> None:
    """Batch-score a file of new contacts with the champion: ingest's mappings (contract/ingest.py), the
    batch feature builder over the ingested history, calibrated risk and the routing threshold. Rows
    the contract rejects go to OUTPUT's name + .quarantine.parquet, with their reason."""
    import pandas as pd

    from contract.ingest import source_spec, synthetic_files
    from contract.reading import read_export
    from contract.schema import normalise_contacts
    from models.registry.tracking import tracking_uri
    from features.spec import spec_extras
    from models.serving.batch import batch_features, score_batch
    from models.serving.scorer import ModelMismatch, ModelNotFound, check_lineage, current_lineage, load_model
    from pipeline.config import load_params
    from pipeline.io import write_parquet

    p = load_params(params)
    paths = p.paths
    files = synthetic_files(paths.raw_dir) if p.ingest.source == "synthetic" else p.ingest.files
    # Read as the ingest stage reads the export (ingest.files.read: delimiter, encoding, .gz, .zip members).
    export = read_export(str(input), files.read, "INPUT")
    result = normalise_contacts(export.table, replace(source_spec(files), name=str(input)), export.duplicated)
    if result.counts["rows_quarantined"]:
        qpath = output.with_name(output.stem + ".quarantine.parquet")
        write_parquet(result.quarantine, qpath)
        log.warning("%d rows rejected (%s); written to %s", result.counts["rows_quarantined"],
                    result.counts["quarantined_by_reason"], qpath)
    current = current_lineage(paths.feature_spec)
    try:
        loaded = load_model(model or p.serve.model, tracking_uri(p.train.registry), (current or {}).get("id"))
        warning = check_lineage(loaded, current, any_source)
    except (ModelNotFound, ModelMismatch) as exc:
        log.error("%s", exc)
        raise typer.Exit(2) from None
    threshold = loaded.card.get("capacity_threshold")
    if threshold is None:
        log.error("%s carries no capacity threshold (model_card.json / run metrics)", loaded.source)
        raise typer.Exit(2)
    log.info("scoring %d contacts with %s against the history in %s", len(result.contacts), loaded.source,
             paths.contacts)
    features = batch_features(result.contacts, pd.read_parquet(paths.contacts), pd.read_parquet(paths.labels),
                              pd.read_parquet(paths.customers), pd.read_parquet(paths.agents),
                              loaded.spec["label_window_days"], p.featurize, spec_extras(loaded.spec))
    scored = score_batch(features, loaded, float(threshold), reasons)
    if warning:  # --any-source: every row says which model scored it and why it may not fit
        scored["model_warning"] = f"scored with {loaded.source} although {warning} (--any-source)"
    output.parent.mkdir(parents=True, exist_ok=True)
    scored.to_csv(output, index=False) if output.suffix == ".csv" else write_parquet(scored, output)
    log.info("%s: %d contacts, %d sent to specialists (threshold %.3f)", output, len(scored),
             int((scored["route"] == "specialist").sum()), threshold)


@app.command()
def plots(
    out: Path = typer.Option(Path("dvc_plots"), help="Folder for index.html."),
    args: list[str] = typer.Argument(None, help="Extra arguments for `dvc plots show`, e.g. a plot file."),
) -> None:
    """`dvc plots show` that works offline: Vega libraries inline from the installed package, no CDN."""
    from report.offline_plots import offline_plots_template

    out.mkdir(parents=True, exist_ok=True)
    template = out / "offline_template.html"
    template.write_text(offline_plots_template())
    raise typer.Exit(subprocess.call([sys.executable, "-m", "dvc", "plots", "show", "--html-template", str(template),
                                      "-o", str(out), *(args or [])]))



@app.command(name="monitor")
def monitor_command(
    since: str = typer.Option(None, help="First day monitored (YYYY-MM-DD); default monitor.since, else the "
                                         "model's test window."),
    out: Path = typer.Option(Path("reports/monitor"), help="Folder for monitor.json, the CSV tables and the plot."),
    any_source: bool = ANY_SOURCE,
    params: Path = PARAMS,
) -> None:
    """Does the model (paths.model_dir) still hold on contacts after the data it was fitted on? Feature drift
    (PSI) and realised vs predicted repeats on matured labels, against its validation window. Exit code 3
    on an alarm, so a scheduler notices."""
    import json

    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")  # non-interactive: the figure is only saved
    from contract.lineage import mismatch
    from models.diagnostics.monitoring import monitor
    from models.model_files import is_no_model, load_model
    from models.serving.scorer import current_lineage
    from pipeline.config import load_params
    from pipeline.io import write_csvs, write_json
    from report.charts import monitor_figure

    p = load_params(params)
    cfg = type(p.monitor).model_validate(p.monitor.model_dump() | ({"since": since} if since else {}))
    model_dir = Path(p.paths.model_dir)
    card = json.loads((model_dir / "model_card.json").read_text())
    if is_no_model(card):  # train completed without a model: nothing to monitor
        log.error("%s holds no model to monitor: %s", model_dir, card.get("reason"))
        raise typer.Exit(2)
    model = load_model(model_dir)
    why = mismatch(model.spec.get("lineage"), current_lineage(p.paths.feature_spec))
    if why and not any_source:
        log.error("%s does not belong to this project's data: %s. Run `dvc repro` (train on the current data), or "
                  "pass --any-source to monitor it anyway.", model_dir, why)
        raise typer.Exit(2)
    split = card["split"]
    table = pd.read_parquet(p.paths.features)
    started = table["started_at"]
    reference = table[(started >= pd.Timestamp(split["valid"]["from"])) & (started <= pd.Timestamp(split["valid"]["to"]))]
    start = pd.Timestamp(str(cfg.since), tz="UTC") if cfg.since else pd.Timestamp(split["test"]["from"])
    result = monitor(reference, table[started >= start].reset_index(drop=True), model, cfg)
    write_json(result.summary | ({"model_warning": f"{why} (--any-source)"} if why else {}), out / "monitor.json")
    write_csvs({"drift": result.drift, "calibration": result.calibration, "weekly": result.weekly}, out, "monitor_")
    monitor_figure(result.weekly).savefig(out / "monitor.png")
    s = result.summary
    log.info("monitored %d contacts from %s (%d matured): AUC %s, ECE %s; drifted features %s", s["contacts"], s["from"],
             s["matured"], s["auc"], s["ece"], s["drifted_features"] or "none")
    for alarm in s["performance_alarms"]:
        log.warning("ALARM %s", alarm)
    log.info("written to %s", out)
    if s["alarm"]:
        raise typer.Exit(3)


if __name__ == "__main__":
    app()
