"""The precision of written numbers: rounding is exact to the stated digits, and a value perturbed in its
last bits (another CPU's BLAS kernel or summation order) is written byte for byte the same."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from contract.precision import METRIC_DIGITS, MODEL_DIGITS, round_number, round_significant
from contract.precision import write_csv, write_json


def _perturbed(values: np.ndarray, ulps: int) -> np.ndarray:
    out = values.copy()
    for _ in range(ulps):
        out = np.nextafter(out, np.inf)
    return out


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
       st.sampled_from([METRIC_DIGITS, MODEL_DIGITS]))
def test_rounding_is_the_decimal_rounding_of_the_text_form(value, digits):
    # Python's own formatting is correctly rounded: the reference.
    assert round_number(value, digits) == float(f"{value:.{digits}g}")


def test_zero_nan_and_infinity_are_kept():
    out = round_significant(np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-320]))
    assert out[0] == 0 and np.isnan(out[2]) and out[3] == np.inf and out[4] == -np.inf and out[5] == 1e-320


def test_a_value_perturbed_in_its_last_bits_is_written_identically(tmp_path):
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.random(2000), rng.lognormal(0, 5, 2000), -rng.random(500) * 1e-4])
    for ulps in (1, 3, 8):
        moved = _perturbed(values, ulps)
        assert (moved != values).all()
        for name, vals in (("a", values), ("b", moved)):
            write_json({"log_loss": float(vals[0]), "all": vals.tolist(), "nested": {"x": [float(vals[1])]}},
                       tmp_path / f"{name}.json")
            write_csv(pd.DataFrame({"p": vals, "n": np.arange(len(vals))}), tmp_path / f"{name}.csv")
        assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
        assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_the_issue_s_figures_round_to_one_text():
    # Measured on two CPUs for the same data and params (issue 23).
    pairs = [(0.5014738411940471, 0.5014738411934513), (0.004788848250620514, 0.0047888482506205044)]
    for a, b in pairs:
        assert json.dumps(round_number(a)) == json.dumps(round_number(b))
