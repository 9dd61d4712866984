"""A fresh clone as a newcomer gets it: `make repro` reproduces the committed dvc.lock and metrics
(`git status` stays clean). Uses the committed HEAD, not the working tree (the shared `default_clone`;
experiments in it: tests/models/training/test_quality.py)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_fresh_clone_repro_leaves_git_clean(default_clone):
    assert default_clone.status_after_repro == "", default_clone.status_after_repro
    assert (default_clone.path / "metrics/runs/train.json").exists()  # per-run ids live beside, untracked
