"""The whole DAG on degenerate exports (issue 14): each completes with honest output, or stops with a
named reason; never a crash (Python traceback), a NaN in a metrics file, or a degenerate champion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.pipeline.scratch import scratch_project

T0 = pd.Timestamp("2025-01-06 08:00", tz="UTC")
DAY = pd.Timedelta(days=1)


def _log(n: int, customers: int, days: float, seed: int = 0, repeat_every: int | None = None,
         channels: tuple[str, ...] = ("phone", "chat"), agents: bool = True) -> pd.DataFrame:
    """`n` contacts of `customers` customers spread over `days`; `repeat_every`=k makes every k-th contact
    the same customer's same reason one hour later (a repeat); None: reasons never repeat within 7 days."""
    rng = np.random.default_rng(seed)
    t = T0 + pd.to_timedelta(np.sort(rng.uniform(0, days, n)), unit="D")
    cust = rng.integers(0, customers, n)
    reason = np.array([f"R{i % 40:02d}" for i in range(n)])  # 40 families, rarely the same twice in a week
    df = pd.DataFrame({"contact_id": [f"k{i}" for i in range(n)], "customer_id": [f"u{c}" for c in cust],
                       "started_at": t, "channel": rng.choice(channels, n), "reason_code": reason,
                       "agent_id": [f"a{i % 7}" for i in range(n)] if agents else None})
    if repeat_every:
        rep = df.iloc[::repeat_every].copy()
        rep["contact_id"] = rep["contact_id"] + "r"
        rep["started_at"] = rep["started_at"] + pd.Timedelta(hours=1)
        df = pd.concat([df, rep], ignore_index=True)
    df["started_at"] = df["started_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return df if agents else df.drop(columns=["agent_id"])


CASES = {
    "one_customer": lambda: _log(300, 1, 120),
    "no_repeats": lambda: _log(3000, 3000, 120),
    "only_repeats": lambda: _log(1500, 1500, 120, repeat_every=1),
    "one_week": lambda: _log(3000, 600, 7, repeat_every=4),
    "one_channel": lambda: _log(3000, 600, 120, repeat_every=4, channels=("phone",)),
    "no_agent_column": lambda: _log(3000, 600, 120, repeat_every=4, agents=False),
    "two_heavy_customers": lambda: _log(2000, 2, 120, repeat_every=5),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_whole_dag_on_a_degenerate_export(case, tmp_path):
    export = CASES[case]()

    def edit(params: dict) -> None:  # as a user would: source files, the absent columns null
        params["ingest"]["source"] = "files"
        column_map = params["ingest"]["files"]["column_map"]
        for contract_column in column_map:
            if contract_column not in export.columns:
                column_map[contract_column] = None
        params["explain"]["sample_size"] = 500

    project = scratch_project(tmp_path, edit)
    export.to_csv(project / "inputs" / "contacts.csv", index=False)
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=project, capture_output=True, text=True,
                          timeout=900, env={**__import__("os").environ, "PYTHONPATH": str(project)})
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, f"{case}: crashed\n{out[-4000:]}"
    if proc.returncode != 0:
        # Stopped: not on the edited params, and with a message naming what is missing and what to change.
        assert "is invalid" not in out, f"{case}: the test's params block is wrong\n{out[-3000:]}"
        assert "params.yaml" in out or "not enough" in out.lower(), f"{case}: stopped without a reason\n{out[-3000:]}"
        print(f"{case}: stopped with a reason: {out.strip().splitlines()[-3:]}")
        return
    for path in (project / "metrics").glob("*.json"):
        json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{case}: {path.name} holds {c}"))
    assert (project / "reports" / "drivers.html").stat().st_size > 1000
    runs = project / "metrics" / "runs" / "train.json"  # this run's registry decision (untracked)
    registry = json.loads(runs.read_text()).get("registry", {}) if runs.exists() else {}
    train = json.loads((project / "metrics" / "train.json").read_text())
    auc = (train.get("model") or {}).get("roc_auc")  # null when train fitted no model (its reason beside it)
    if auc is not None and auc < 0.55:
        assert not registry.get("promoted"), f"{case}: a model with test AUC {auc} became champion"
