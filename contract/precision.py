"""The precision of the numbers the pipeline writes: the output side of the contract.

In: floats (scalars or arrays). Out: the same rounded to a stated number of significant digits.

Why: floating-point sums and BLAS kernels differ from CPU to CPU (SIMD width, OpenBLAS core type, thread
order), so a log loss or a fitted coefficient can differ in its 13th to 17th digit between two machines
that ran the same data and params. Every file git or DVC tracks is written at a precision far coarser
than those differences, so the same data and params give the same bytes on every CPU. A rounded value
can still differ where the unrounded one lies within its perturbation (~1e-15 relative) of a rounding
boundary: odds of about 1e-9 per number at 6 digits, 1e-5 at 10.

The rounding uses only exact operations and correctly rounded ones (frexp, comparisons, IEEE multiply,
divide and rint, powers of ten parsed from text, Python's float formatting), so it is itself the same on
every CPU.

The writers of tracked JSON and CSV files apply it: `write_json` (strict JSON: numbers at METRIC_DIGITS,
non-finite ones null with the reason) and `write_csv` / `write_csvs` (float columns at METRIC_DIGITS).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

METRIC_DIGITS = 6   # metrics, plots, report tables, test-window predictions
MODEL_DIGITS = 10   # model parameters read back to score (calibration, score distribution)

_LOG10_2 = math.log10(2.0)
_MAX_EXP = 308
_POW10 = np.array([float(f"1e{k}") for k in range(-_MAX_EXP, _MAX_EXP + 1)])  # exact decimal parse, no pow()


def _pow10(k: np.ndarray) -> np.ndarray:
    return _POW10[np.clip(k, -_MAX_EXP, _MAX_EXP) + _MAX_EXP]


def round_significant(values: np.ndarray | float, digits: int = METRIC_DIGITS) -> np.ndarray:
    """`values` (float64) rounded to `digits` significant decimal digits, each the double nearest its
    rounded decimal (as Python's correctly rounded `f"{v:.{digits}g}"`); zeros, NaN and infinities kept.
    Vectorised where the scale is an exact power of ten and the value is not near a tie; the rest (ties,
    magnitudes beyond 1e+-15) through the text form."""
    x = np.asarray(values, dtype=np.float64)
    out = x.copy()
    live = np.flatnonzero(np.isfinite(x) & (x != 0))
    if not len(live):
        return out
    v = x[live]
    _, exp2 = np.frexp(v)                                  # |v| = m * 2**exp2, 0.5 <= m < 1 (exact)
    magnitude = np.ceil(exp2 * _LOG10_2).astype(np.int64)  # |v| < 10**magnitude, maybe one too high:
    magnitude -= np.abs(v) < _pow10(magnitude - 1)         # exact comparisons: 10**(mag-1) <= |v| < 10**mag
    decimals = digits - magnitude
    scale = _pow10(decimals)
    scaled = v * scale
    rounded = np.rint(scaled) / scale                       # both exact or correctly rounded for 0 <= decimals <= 22
    fraction = np.abs(scaled - np.trunc(scaled))
    slow = (decimals < 0) | (decimals > 22) | (np.abs(fraction - 0.5) < 1e-6)
    rounded[slow] = [float(f"{value:.{digits}g}") for value in v[slow]]
    out[live] = rounded
    return out


def round_number(value: float, digits: int = METRIC_DIGITS) -> float:
    """One float rounded as `round_significant` rounds arrays."""
    return float(round_significant(np.array([value]), digits)[0])


NULL_REASONS = "null_reasons"


def finite_json(obj: object, where: str = "", nulls: dict[str, str] | None = None) -> object:
    """`obj` with NumPy scalars as Python ones, every float rounded to METRIC_DIGITS significant digits
    (the same bytes on every CPU: contract/precision.py) and every NaN / Infinity replaced by None;
    `nulls` collects the dotted path of each replaced number with why it is null."""
    nulls = {} if nulls is None else nulls
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        nulls[where or "."] = ("not computable on this data (NaN: e.g. an empty window or a single class)"
                               if math.isnan(obj) else f"not finite ({obj}): not computable on this data")
        return None
    if isinstance(obj, float):
        return round_number(obj, METRIC_DIGITS)
    if isinstance(obj, dict):
        return {k: finite_json(v, f"{where}.{k}" if where else str(k), nulls) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v, f"{where}[{i}]", nulls) for i, v in enumerate(obj)]
    return obj


def write_json(obj: object, path: str | Path) -> None:
    """Strict JSON (no NaN / Infinity, which are not JSON): non-finite numbers become null, and a dict
    gets `null_reasons` saying, per dotted path, why each null is there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nulls: dict[str, str] = {}
    clean = finite_json(obj, "", nulls)
    if nulls and isinstance(clean, dict):
        clean[NULL_REASONS] = {**(clean.get(NULL_REASONS) or {}), **nulls}
    path.write_text(json.dumps(clean, indent=2, default=str, allow_nan=False) + "\n")


def round_floats(df: pd.DataFrame, digits: int = METRIC_DIGITS) -> pd.DataFrame:
    """A copy of `df` with every float column rounded to `digits` significant digits (a tracked table:
    the same bytes on every CPU, contract/precision.py)."""
    floats = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    if not floats:
        return df
    return df.assign(**{c: round_significant(df[c].to_numpy(dtype=np.float64), digits) for c in floats})


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """A table as CSV (no index), floats at METRIC_DIGITS significant digits (`round_floats`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    round_floats(df).to_csv(path, index=False)
    return path


def write_csvs(tables: dict[str, pd.DataFrame], directory: str | Path, prefix: str = "") -> dict[str, Path]:
    """One CSV per named table, `<directory>/<prefix><name>.csv` (`write_csv`); returns the files by name."""
    return {name: write_csv(table, Path(directory) / f"{prefix}{name}.csv") for name, table in tables.items()}
