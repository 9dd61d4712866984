"""File I/O shared by the stages: tables (CSV/Parquet), JSON, and logging set-up for entry points."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A CSV (read as text, so that parsing is ours and nothing is silently coerced) or Parquet file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; check the path in params.yaml.")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path, columns=columns)
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        sep = "\t" if name.endswith(".tsv") else ","
        return pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""], sep=sep, usecols=columns)
    raise ValueError(f"{path}: unsupported file type; use CSV (.csv, .csv.gz, .tsv) or Parquet (.parquet).")


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def write_json(obj: object, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n")
