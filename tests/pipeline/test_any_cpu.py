"""Tracked outputs are the same bytes on any CPU: the train, explain and report stages run again with
other BLAS kernels (OpenBLAS's SSE3 `Prescott` core instead of the machine's own) and other thread
counts write byte for byte what the first `dvc repro` wrote. Without a second machine, this is how the
CPU-dependent last digits of a fit (lbfgs, dot products, summation order) are brought out."""

from __future__ import annotations

import hashlib
import platform
import shutil
import sys
from pathlib import Path

import pytest

from tests.pipeline.scratch import run, scratch_project, small_centre

TRACKED = ("models_out", "reports", "plots", "metrics")  # every DVC output and metric of those stages
UNTRACKED = ("metrics/runs",)  # run ids and timings (git-ignored)


def _tracked_bytes(project: Path) -> dict[str, str]:
    files = {}
    for top in TRACKED:
        for path in sorted((project / top).rglob("*")):
            rel = path.relative_to(project).as_posix()
            if path.is_file() and not rel.startswith(UNTRACKED):
                files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="OpenBLAS core types named here are x86-64's")
def test_other_blas_kernels_and_thread_counts_write_the_same_bytes(tmp_path, monkeypatch):
    project = scratch_project(tmp_path / "project", small_centre)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    run([sys.executable, "-m", "dvc", "repro"], project)
    first = _tracked_bytes(project)
    assert any(k.startswith("models_out/") for k in first) and "metrics/train.json" in first

    # A fresh registry, as on the other machine: the report names the registry version it describes.
    shutil.rmtree(project / "mlartifacts", ignore_errors=True)
    (project / "mlflow.db").unlink()
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for stage in ("train", "explain", "report"):
        run([sys.executable, "-m", f"pipeline.{stage}"], project)
    second = _tracked_bytes(project)
    differ = sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))
    assert not differ, f"tracked outputs differ with other BLAS kernels / thread counts: {differ}"
