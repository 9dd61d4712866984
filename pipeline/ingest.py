"""DVC stage `ingest`: the export (the user's files, or the synthetic centre's) -> contract tables.

Writes the contacts, customers and agents in contract form (Parquet), every rejected row with its
reason to the quarantine file, the contract description (paths.contract), and the row accounting
to metrics/ingest.json (via the stage helper); with engine.kind dask the contacts are read, normalised and
written on a Dask cluster (engine/ingest.py), the same tables and counts.
"""

from __future__ import annotations

import logging

from contract.ingest import IngestRejected, ingest, synthetic_files
from pipeline.config import EngineConfig, IngestConfig, Paths
from pipeline.errors import ParamsError
from pipeline.io import ParquetParts, write_json, write_parquet
from pipeline.stage import run_stage

log = logging.getLogger(__name__)
__all__ = ["IngestRejected", "run"]


def run(cfg: IngestConfig, engine: EngineConfig, paths: Paths) -> dict:
    files = synthetic_files(paths.raw_dir) if cfg.source == "synthetic" else cfg.files
    if files is None:
        raise ParamsError("ingest.source is 'files' but params.yaml has no ingest.files block: add one "
                          "(examples/ holds three) or set ingest.source: synthetic.")
    if engine.kind == "dask":  # per file and contact-id partition on the cluster, whose workers write the contacts
        from engine.ingest import ingest_on_cluster  # (Dask is imported only when it is used)
        out = ingest_on_cluster(files, cfg.max_reject_share, engine.dask, paths.contacts, write_parquet, cfg.source)
    else:
        with ParquetParts(paths.contacts) as contacts:  # written part by part as they are put in order
            out = ingest(files, cfg.max_reject_share, sink=contacts, kind=cfg.source)
    write_parquet(out.customers, paths.customers)
    write_parquet(out.agents, paths.agents)
    write_parquet(out.quarantine, paths.quarantine)
    write_json(out.contract, paths.contract)
    c = out.counts["contacts"]
    log.info("contacts: %d read, %d kept, %d filtered, %d quarantined", c["rows_read"], c["rows_kept"],
             c["rows_filtered"], c["rows_quarantined"])
    for note in out.counts.get("notes", []) + c["notes"]:
        log.warning("%s", note)
    return out.counts


def main(params_path: str = "params.yaml") -> None:
    run_stage("ingest", run, "ingest", "engine", params_path=params_path)


if __name__ == "__main__":
    main()
