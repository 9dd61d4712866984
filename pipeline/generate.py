"""DVC stage `generate`: params `synthetic` -> the built-in synthetic contact centre as an export.

With `ingest.source: synthetic`, writes the export (contacts, customers, agents, reason families) to
paths.raw_dir, which ingest then reads like any user's files, and the generator's truth (true
probabilities, agent skill, planted drivers) to paths.truth_dir. A centre larger than
synthetic.part_contacts is generated and written part by part (contacts-00000.parquet, truth-00000.parquet,
customers-00000.parquet, ...; agents, reasons and truth.json once). With `ingest.source: files` both
folders are left empty: nothing synthetic can leak into a run on real data.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pyarrow as pa

from pipeline.config import Paths, SyntheticConfig
from pipeline.io import write_json, write_parquet
from pipeline.stage import run_stage
from synthetic.centre import generate_into
from synthetic.reasons import REASON_FAMILY, REASONS

log = logging.getLogger(__name__)


def run(cfg: SyntheticConfig, source: str, paths: Paths) -> None:
    raw, truth = Path(paths.raw_dir), Path(paths.truth_dir)
    for folder in (raw, truth):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    if source != "synthetic":
        log.info("ingest.source is %s: no synthetic centre generated", source)
        return
    log.info("generating the synthetic contact centre (%d contacts, seed %d)", cfg.n_contacts, cfg.seed)
    # Arrow's buffers from the heap numpy uses, so that each reuses what the other let go (with Arrow's own
    # allocator, memory it freed stayed with it: 3M contacts peaked at 2.3 GB instead of 1.4 GB).
    pa.set_memory_pool(pa.system_memory_pool())
    # Each table is written as soon as the generator has it, then let go (a part's truth, then its export...).
    meta = generate_into(cfg, lambda name, table: write_parquet(table, (truth if "truth" in name else raw)
                                                                / f"{name}.parquet"))
    (raw / "reason_families.csv").write_text(
        "reason_code,reason_family\n" + "".join(f"{c},{f}\n" for c, f in REASON_FAMILY.items()))
    (raw / "reason_names.csv").write_text(
        "reason_code,reason_name\n" + "".join(f"{c},{name}\n" for codes in REASONS.values() for c, name, _ in codes))
    write_json(meta, truth / "truth.json")


def main(params_path: str = "params.yaml") -> None:
    run_stage("generate", run, "synthetic", "ingest.source", params_path=params_path)


if __name__ == "__main__":
    main()
