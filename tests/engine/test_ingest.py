"""Ingest on a LocalCluster (2 workers) equals the local engine's: the contacts read back from the Parquet
dataset, the side tables, the quarantine, the counts and contract.json, on a small synthetic centre, on exports
cut into several files (CSV files by glob, a Parquet dataset folder, `file://` and `memory://` URLs, Parquet
files read in ranges of row groups), on a ticket
event log whose tickets' events lie in different files, on every real-export fixture of tests/, with more than 20
unmapped values tied across files, on a synthetic centre generated in parts; and the ingest stage with
`engine.kind: dask` writes what it writes locally."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import fsspec
import numpy as np
import pandas as pd
import pytest

from contract.config import FilesConfig
from contract.ingest import IngestOutput, IngestRejected, ingest, synthetic_files
from contract.reading import ReadError, expand, read_units
from contract.schema import EVENTS_MERGED, ContractError
from engine.config import EngineConfig
from engine import ingest as engine_ingest
from engine.ingest import ingest_with
from pipeline import generate
from pipeline import ingest as ingest_stage
from pipeline.io import ParquetParts, write_parquet
from synthetic.config import SyntheticConfig
from tests.contract.test_shapes import FIXTURES, SHAPES, example
from tests.real_exports import EXPORTS

SMALL = {"n_contacts": 8_000, "n_customers": 1_500, "n_agents": 40, "n_teams": 5, "days": 90}


def on_both(files: FilesConfig, share: float, tmp_path: Path, client, n: int = 5,
            kind: str = "files") -> tuple[IngestOutput, IngestOutput]:
    """Ingested by the local engine and on the cluster; asserts every output equal; returns both."""
    local_dir, dask_dir = tmp_path / "local_contacts", tmp_path / "dask_contacts"
    with ParquetParts(local_dir) as sink:
        local = ingest(files, share, sink=sink, kind=kind)
    dask = ingest_with(client, files, share, n, dask_dir, write_parquet, kind)
    parts = sorted(dask_dir.glob("*.parquet"))
    assert parts and [p.name for p in parts] == sorted(p.name for p in dask_dir.iterdir())
    pd.testing.assert_frame_equal(pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True),
                                  pd.read_parquet(local_dir))
    pd.testing.assert_frame_equal(pd.read_parquet(dask_dir), pd.read_parquet(local_dir))
    for name in ("customers", "agents", "quarantine"):
        pd.testing.assert_frame_equal(getattr(dask, name), getattr(local, name))
    assert dask.counts == local.counts
    assert json.dumps(dask.counts) == json.dumps(local.counts)  # the same keys in the same order
    assert dask.contract == local.contract
    return local, dask


def whole_customers(folder: Path) -> None:
    """Each part holds whole customers (missing ones in the last part only)."""
    owner: dict[str, int] = {}
    parts = [pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))]
    for i, part in enumerate(parts):
        for cust in part["customer_id"].dropna().unique():
            assert owner.setdefault(cust, i) == i, f"customer {cust} in parts {owner[cust]} and {i}"
        if part["customer_id"].isna().any():
            assert i == len(parts) - 1
    assert len(parts) >= 3


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory) -> Path:
    """The generate stage's export of a small synthetic centre (its default messiness)."""
    root = tmp_path_factory.mktemp("synthetic")
    paths = {"raw_dir": str(root / "raw"), "truth_dir": str(root / "truth")}
    generate.run(SyntheticConfig.default(**SMALL), "synthetic", SimpleNamespace(**paths))
    return root / "raw"


def test_synthetic_centre_equals_the_local_engine(raw_dir, tmp_path, client):
    local, _ = on_both(synthetic_files(raw_dir), 0.05, tmp_path, client, kind="synthetic")
    c = local.counts["contacts"]
    assert c["rows_kept"] > 7_000 and c["rows_quarantined"] > 0 and c["anonymous_contacts"] > 0
    assert "contact_id: duplicate row" in c["quarantined_by_reason"]  # copies met across partitions
    whole_customers(tmp_path / "dask_contacts")


def test_synthetic_centre_in_parts_equals_the_local_engine(tmp_path, client):
    """A centre generated in parts (synthetic.part_contacts): contacts-00000.parquet, ... and customers likewise."""
    paths = SimpleNamespace(raw_dir=str(tmp_path / "raw"), truth_dir=str(tmp_path / "truth"))
    generate.run(SyntheticConfig.default(**SMALL, part_contacts=3_000), "synthetic", paths)
    local, _ = on_both(synthetic_files(paths.raw_dir), 0.05, tmp_path, client, kind="synthetic")
    assert len(local.counts["files"]) == 3 and local.counts["customers"]["rows_kept"] == SMALL["n_customers"]
    assert local.counts["contacts"].get("unknown_customers", 0) == 0
    whole_customers(tmp_path / "dask_contacts")


def cut(df: pd.DataFrame, pieces: int) -> list[pd.DataFrame]:
    return [df.iloc[i::pieces] for i in range(pieces)]  # interleaved: duplicates and customers straddle files


@pytest.mark.parametrize("where", ["dataset", "file_url", "memory_url"])
def test_export_cut_into_files_equals_the_local_engine(raw_dir, tmp_path, client, where):
    contacts = pd.read_parquet(raw_dir / "contacts.parquet")
    folder = tmp_path / "export"
    folder.mkdir()
    for i, piece in enumerate(cut(contacts, 4)):
        piece.to_parquet(folder / f"part.{i}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")  # what a dataset writer leaves: not a file of the export
    location = str(folder)
    if where == "file_url":
        location = folder.as_uri()
    elif where == "memory_url":
        fs = fsspec.filesystem("memory")
        for p in sorted(folder.iterdir()):
            fs.pipe(f"/{tmp_path.name}/export/{p.name}", p.read_bytes())
        location = f"memory:///{tmp_path.name}/export"
    assert len(expand(location)) == 4
    files = synthetic_files(raw_dir).model_copy(update={"contacts": location})
    local, _ = on_both(files, 0.05, tmp_path, client)
    assert len(local.counts["files"]) == 4 and local.counts["contacts"]["rows_read"] == len(contacts)


@pytest.mark.parametrize("where", ["path", "memory_url"])
def test_parquet_read_by_row_groups_equals_the_local_engine(raw_dir, tmp_path, client, monkeypatch, where):
    """Large Parquet files are read in tasks of row-group ranges (engine.ingest.ROWS_PER_TASK): the rows
    numbered across ranges and files as the local engine numbers the whole export."""
    contacts = pd.read_parquet(raw_dir / "contacts.parquet")
    folder = tmp_path / "export"
    folder.mkdir()
    for i, piece in enumerate(cut(contacts, 2)):
        piece.to_parquet(folder / f"part.{i}.parquet", index=False, row_group_size=700)
    location = str(folder)
    if where == "memory_url":
        fs = fsspec.filesystem("memory")
        for p in sorted(folder.iterdir()):
            fs.pipe(f"/{tmp_path.name}/groups/{p.name}", p.read_bytes())
        location = f"memory:///{tmp_path.name}/groups"
    monkeypatch.setattr(engine_ingest, "ROWS_PER_TASK", 1_500)
    assert all(len(read_units(p, 1_500)) >= 3 for p in expand(location))
    files = synthetic_files(raw_dir).model_copy(update={"contacts": location})
    local, _ = on_both(files, 0.05, tmp_path, client)
    assert len(local.counts["files"]) == 2 and local.counts["contacts"]["rows_read"] == len(contacts)


def test_a_missing_url_or_empty_folder_names_the_key(tmp_path):
    (tmp_path / "empty").mkdir()
    for location in (str(tmp_path / "empty"), f"memory:///{tmp_path.name}/nothing"):
        with pytest.raises(ReadError, match="ingest.files.contacts: no file matches"):
            expand(location)


@pytest.mark.parametrize("name", [*SHAPES, *EXPORTS])
def test_real_export_fixtures_equal_the_local_engine(name, tmp_path, client):
    if name in SHAPES:
        files, share = example(name)
    else:
        data, block = EXPORTS[name]()
        (tmp_path / "export.csv").write_bytes(data)
        files, share = FilesConfig.model_validate(block | {"contacts": str(tmp_path / "export.csv")}), 1.0
    local, _ = on_both(files, share, tmp_path, client)
    assert local.counts["contacts"]["rows_kept"] > 0


def write_cut_csv(text: str, folder: Path, pieces: int, suffix: str) -> list[str]:
    """A delimited file cut row by row (interleaved) into files with its header each."""
    header, *rows = text.splitlines(keepends=True)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(pieces):
        (folder / f"cut{i}{suffix}").write_text(header + "".join(rows[i::pieces]))
    return [r for r in rows if r.strip()]


def test_ticket_events_cut_across_files_equal_the_local_engine(tmp_path, client):
    files, share = example("tickets")
    source = Path(files.contacts)
    write_cut_csv(source.read_text(), tmp_path / "cut", 3, source.suffix)
    files = files.model_copy(update={"contacts": str(tmp_path / "cut" / f"*{source.suffix}")})
    local, _ = on_both(files, share, tmp_path, client, n=4)
    c = local.counts["contacts"]
    assert c["filtered_by_rule"][EVENTS_MERGED] > 0
    # not vacuous: the events of a ticket lie in different files
    events = pd.concat([pd.read_csv(p, sep=None, engine="python", dtype=str).assign(file=p.name)
                        for p in sorted((tmp_path / "cut").iterdir())])
    ticket = files.column_map["contact_id"]
    assert (events.groupby(ticket)["file"].nunique() > 1).sum() > 3


@pytest.mark.parametrize("where", ["folder", "memory_glob"])
def test_real_export_cut_into_csv_files_equals_the_local_engine(tmp_path, client, where):
    data, block = EXPORTS["tickets_open_for_days"]()
    write_cut_csv(data.decode(), tmp_path / "cut", 3, ".csv")
    location = str(tmp_path / "cut")
    if where == "memory_glob":
        fs = fsspec.filesystem("memory")
        for p in sorted((tmp_path / "cut").iterdir()):
            fs.pipe(f"/{tmp_path.name}/csv/{p.name}", p.read_bytes())
        location = f"memory:///{tmp_path.name}/csv/cut*.csv"
    files = FilesConfig.model_validate(block | {"contacts": location})
    local, _ = on_both(files, 1.0, tmp_path, client)
    assert len(local.counts["files"]) == 3


def test_errors_are_the_local_engines(tmp_path, client):
    """A column the export lacks, and too many rejected rows: the same error and message, and no contacts written."""
    data, block = EXPORTS["sparse_tail"]()
    (tmp_path / "export.csv").write_bytes(data)
    files = FilesConfig.model_validate(block | {"contacts": str(tmp_path / "export.csv")})
    wrong = files.model_copy(update={"column_map": files.column_map | {"channel": "medium"}})
    strict = files.model_copy(update={"channel_map": {}, "value_maps": {"channel": {"email": "fax"}}})
    for bad, share, error in ((wrong, 1.0, ContractError), (strict, 0.01, IngestRejected)):
        with pytest.raises(error) as local:
            ingest(bad, share)
        with pytest.raises(type(local.value)) as dask:
            ingest_with(client, bad, share, 4, tmp_path / "contacts", write_parquet)
        assert str(dask.value) == str(local.value)
        assert not (tmp_path / "contacts").exists()


def test_unmapped_values_merge_exactly(tmp_path, client):
    """Value maps with 60 unmapped values in tied counts, the ties spread over files and partitions: the 20
    most frequent are reported as the local engine reports them (ties in order of first appearance)."""
    rng = np.random.default_rng(3)
    n = 3_000
    outcome = rng.choice([f"code{i:02d}" for i in range(60)], n)  # ~50 rows each: many ties
    df = pd.DataFrame({"id": [f"C{i:05d}" for i in range(n)], "cust": rng.integers(0, 300, n).astype(str),
                       "at": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 600, unit="s"),
                       "ch": rng.choice(["phone", "chat", "PHONE", "fax", "Web"], n), "reason": "R1",
                       "agent": "A1", "outcome": outcome})
    df["at"] = df["at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    write_cut_csv(df.to_csv(index=False), tmp_path / "cut", 3, ".csv")
    data, block = EXPORTS["sparse_tail"]()
    files = FilesConfig.model_validate(block | {
        "contacts": str(tmp_path / "cut" / "*.csv"),
        "column_map": {"contact_id": "id", "customer_id": "cust", "started_at": "at", "channel": "ch",
                       "reason_code": "reason", "agent_id": "agent", "disposition": "outcome", "ended_at": None,
                       "team": None, "wait_s": None, "handle_s": None, "transfers": None, "survey_resolved": None},
        "channel_map": {"web": "self_service"}, "value_maps": {"disposition": {"code00": "handled"}}})
    local, _ = on_both(files, 1.0, tmp_path, client, n=6)
    report = local.counts["contacts"]["value_maps"]
    assert len(report["disposition"]["unmapped"]) == 20 and report["disposition"]["unmapped_rows"] > 2_800
    counts = list(report["disposition"]["unmapped"].values())
    assert len(set(counts)) < len(counts)  # ties among the shown
    assert "fax" in report["channel"]["unmapped"]


def test_ingest_stage_on_dask_writes_what_local_writes(raw_dir, params, tmp_path, dask_cfg):
    outputs = {}
    for kind in ("local", "dask"):
        paths = params.paths.model_copy(update={
            "raw_dir": str(raw_dir), **{k: str(tmp_path / kind / Path(getattr(params.paths, k)).name)
                                        for k in ("contacts", "customers", "agents", "quarantine", "contract")}})
        engine = EngineConfig.default(kind=kind, dask=dask_cfg.model_dump())
        cfg = params.ingest.model_copy(update={"source": "synthetic"})
        outputs[kind] = (ingest_stage.run(cfg, engine, paths), paths)
    (local, lp), (dask, dp) = outputs["local"], outputs["dask"]
    assert dask == local and local["contacts"]["rows_kept"] > 7_000
    pd.testing.assert_frame_equal(pd.read_parquet(dp.contacts), pd.read_parquet(lp.contacts))
    for name in ("customers", "agents", "quarantine", "contract"):
        assert Path(getattr(dp, name)).read_bytes() == Path(getattr(lp, name)).read_bytes(), name
