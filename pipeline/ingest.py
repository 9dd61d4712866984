"""DVC stage `ingest`: the synthetic contact centre or the user's exports -> validated contract tables.

Writes the contacts, customers and agents in contract form, every rejected row to the quarantine
file with its reason, the counts to metrics/ingest.json, and (synthetic source only) the raw export
and the ground truth. Fails when the share of rejected contact rows passes ingest.max_reject_share.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features.catalogue import REASON_FAMILY
from features.config import IngestConfig, Paths
from features.schema import (
    SourceSpec,
    normalise_contacts,
    reject_summary,
    validate_side_table,
)
from features.synthetic import generate
from pipeline.io import read_table, write_json, write_parquet
from pipeline.params import run_stage

log = logging.getLogger(__name__)


class IngestRejected(RuntimeError):
    """Too many rows were rejected: the export or its column map is likely wrong."""


def _load(cfg: IngestConfig, paths: Paths) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None, SourceSpec]:
    if cfg.source == "synthetic":
        log.info("generating the synthetic contact centre (%d contacts, seed %d)",
                 cfg.synthetic.n_contacts, cfg.synthetic.seed)
        data = generate(cfg.synthetic)
        raw_dir, truth_dir = Path(paths.raw_dir), Path(paths.truth_dir)
        write_parquet(data.contacts, raw_dir / "contacts.parquet")
        write_parquet(data.customers, raw_dir / "customers.parquet")
        write_parquet(data.agents, raw_dir / "agents.parquet")
        write_parquet(data.truth, truth_dir / "truth.parquet")
        write_parquet(data.agent_truth, truth_dir / "agent_truth.parquet")
        write_json(data.truth_meta, truth_dir / "truth.json")
        return data.contacts, data.customers, data.agents, SourceSpec(reason_families=REASON_FAMILY)
    files = cfg.files
    if files is None:
        raise SystemExit("ingest.source is 'files' but params.yaml has no ingest.files block.")
    spec = SourceSpec(column_map=files.column_map, timestamp_format=files.timestamp_format,
                      timezone=files.timezone, channel_map=files.channel_map,
                      reason_families=files.reason_families,
                      anonymous_customer_ids=tuple(files.anonymous_customer_ids))
    customers = read_table(files.customers) if files.customers else None
    agents = read_table(files.agents) if files.agents else None
    return read_table(files.contacts), customers, agents, spec


def run(cfg: IngestConfig, paths: Paths) -> dict:
    raw, customers_raw, agents_raw, spec = _load(cfg, paths)
    log.info("validating %d contact rows", len(raw))
    result = normalise_contacts(raw, spec)
    contacts = result.contacts
    quarantines = [result.quarantine]
    counts: dict = {"contacts": result.counts}
    for name, table, key in (("customers", customers_raw, "customer_id"), ("agents", agents_raw, "agent_id")):
        if table is None:
            table = pd.DataFrame({key: pd.Series(dtype="str")})
        side = validate_side_table(table, key, name)
        quarantines.append(side.quarantine)
        counts[name] = side.counts
        write_parquet(side.contacts, getattr(paths, name))
        if name == "agents" and "team" in side.contacts.columns:
            # The contact export may lack the team; the agents table knows it.
            teams = side.contacts.set_index(key)["team"]
            contacts["team"] = contacts["team"].fillna(contacts["agent_id"].map(teams)).astype("str")
        if len(side.contacts):
            known = contacts[key].isin(side.contacts[key]) | contacts[key].isna()
            counts["contacts"][f"unknown_{name}"] = int((~known).sum())
    quarantine = pd.concat(quarantines, ignore_index=True)
    write_parquet(contacts, paths.contacts)
    write_parquet(quarantine, paths.quarantine)
    c = counts["contacts"]
    assert c["rows_read"] == c["rows_kept"] + c["rows_quarantined"], "ingest lost rows"
    counts["reject_share"] = c["rows_quarantined"] / max(c["rows_read"], 1)
    write_json(counts, Path(paths.metrics_dir) / "ingest.json")
    log.info("contacts: %d read, %d kept, %d quarantined", c["rows_read"], c["rows_kept"], c["rows_quarantined"])
    if counts["reject_share"] > cfg.max_reject_share:
        raise IngestRejected(
            f"{counts['reject_share']:.1%} of contact rows were rejected, above "
            f"ingest.max_reject_share={cfg.max_reject_share:.1%}:\n"
            + reject_summary(result.quarantine, raw, spec.column_map)
            + f"\nAll rejected rows are in {paths.quarantine}. Check ingest.files (column_map, "
            "timestamp_format, timezone, channel_map) in params.yaml.")
    return counts


def main(params_path: str = "params.yaml") -> None:
    run_stage(run, "ingest", params_path)


if __name__ == "__main__":
    main()
