"""bench/bench_repro.py's arithmetic: growth exponents, the comparison and goal of each stage, the table."""

from __future__ import annotations

import math

import pytest

from bench.bench_repro import StageRun, exponent, growth, judged, sized_params, table_lines


def test_exponent_of_a_power_law():
    assert exponent(1_000_000, 10.0, 10_000_000, 100.0) == pytest.approx(1.0)
    assert exponent(1_000_000, 10.0, 10_000_000, 10.0 * 10**1.5) == pytest.approx(1.5)
    assert exponent(100_000, 4.0, 300_000, 4.0) == pytest.approx(0.0)
    assert exponent(10, 0.0, 100, 1.0) is None and exponent(10, 1.0, 10, 2.0) is None


def test_ratio_to_the_reference_or_to_the_budget():
    ingest = judged(StageRun("ingest", wall_s=30.0, stage_s=25.0, cpu_s=50.0, peak_gb=3.0, ref="duckdb SQL",
                             ref_s=10.0))
    assert ingest.ratio == pytest.approx(3.0) and not ingest.met  # goal: <= 2x its reference, on the dvc wall
    assert ingest.own_ratio == pytest.approx(2.5)  # the stage's own time, beside it
    label = judged(StageRun("label", 29.0, 27.0, 40.0, 2.0, ref="duckdb lead", ref_s=10.0))
    assert label.met  # <= 3x
    report = judged(StageRun("report", 30.0, 20.0, 30.0, 1.0))
    assert (report.ref, report.ref_s, report.ratio, report.met) == ("budget", 60.0, 0.5, True)
    train = judged(StageRun("train", 250.0, 240.0, 400.0, 2.0, ref="bare lgb", ref_s=50.0))
    assert train.ratio == pytest.approx(5.0) and not train.met  # its goal is 4 minutes, the ratio is context
    generate = judged(StageRun("generate", 100.0, 90.0, 100.0, 6.5))
    assert generate.ratio is None and not generate.met  # <= 6 GB
    new_stage = judged(StageRun("monitor", 1000.0, 990.0, 1000.0, 7.9))
    assert new_stage.met and new_stage.goal == "<= 8 GB"  # a stage without a goal: memory only


def test_table_total_against_ten_minutes():
    runs = [judged(StageRun("generate", 200.0, 190.0, 200.0, 4.0)),
            judged(StageRun("routing", 401.0, 400.0, 600.0, 2.0))]
    lines = table_lines(runs)
    assert lines[1].startswith("generate") and lines[-1].startswith("total")
    assert "601.0" in lines[-1] and lines[-1].endswith("NO")
    assert table_lines(runs[:1])[-1].endswith("yes")


def test_growth_between_sizes():
    small = [StageRun("label", 10.0, 9.0, 10.0, 1.0), StageRun("train", 20.0, 19.0, 40.0, 1.0)]
    big = [StageRun("label", 100.0, 99.0, 200.0, 10.0), StageRun("train", 40.0, 39.0, 80.0, 1.0)]
    rows = {(g["stage"], g["from"], g["to"]): g for g in growth({1_000_000: small, 10_000_000: big})}
    assert rows[("label", 1_000_000, 10_000_000)]["wall"] == pytest.approx(1.0)
    assert rows[("label", 1_000_000, 10_000_000)]["cpu"] == pytest.approx(math.log10(20))
    assert rows[("train", 1_000_000, 10_000_000)]["peak"] == pytest.approx(0.0)
    three = growth({1: small, 10: big, 100: big})
    assert {(g["from"], g["to"]) for g in three} == {(1, 10), (10, 100), (1, 100)}


def test_sized_params_keeps_the_rest():
    params = {"synthetic": {"seed": 42, "n_contacts": 300000, "n_customers": 60000, "n_agents": 300}, "train": {"a": 1}}
    out = sized_params(params, 10_000_000)
    assert out["synthetic"] == {"seed": 42, "n_contacts": 10_000_000, "n_customers": 2_000_000, "n_agents": 3333}
    assert out["train"] == {"a": 1}
    assert sized_params(params, 1_000_000)["synthetic"]["n_agents"] == 333
    assert sized_params(params, 100_000)["synthetic"]["n_agents"] == 300
