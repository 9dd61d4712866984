"""What reruns after an edit: the dvc.yaml deps are the folders each stage really uses, so editing the
report's charts reruns only `report`, and editing the feature specification leaves ingest and label alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.pipeline.scratch import run, scratch_project, small_centre


def _stale(project: Path) -> set[str]:
    return set(json.loads(run([sys.executable, "-m", "dvc", "status", "--json"], project).stdout))


@pytest.mark.slow
def test_an_edit_reruns_only_the_stages_that_use_it(tmp_path):
    def small(params: dict) -> None:
        small_centre(params)
        params["explain"]["sample_size"] = 500

    scratch_project(tmp_path, small)
    run([sys.executable, "-m", "dvc", "repro"], tmp_path)
    assert _stale(tmp_path) == set()

    chart = tmp_path / "report" / "charts.py"
    original = chart.read_text()
    chart.write_text(original + "\n# an edit to a chart\n")
    assert _stale(tmp_path) == {"report"}
    chart.write_text(original)

    spec = tmp_path / "features" / "builder.py"
    spec.write_text(spec.read_text() + "\n# an edit to the feature specification\n")
    stale = _stale(tmp_path)
    assert "featurize" in stale and not {"generate", "ingest", "label"} & stale
