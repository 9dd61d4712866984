"""A LocalCluster of 2 workers (threads of the test process: quick to start) shared by the engine tests,
and contacts written as a Parquet dataset the way ingest writes them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.cluster import dask_client
from engine.config import DaskConfig
from pipeline.io import write_parquet_parts


@pytest.fixture(scope="session")
def dask_cfg() -> DaskConfig:
    return DaskConfig.default(n_workers=2, memory_per_worker="2GB", partitions_per_worker=3, processes=False)


@pytest.fixture(scope="session")
def client(dask_cfg):
    with dask_client(dask_cfg) as c:
        yield c


def as_dataset(contacts: pd.DataFrame, folder: Path, parts: int = 3) -> Path:
    """Contacts as ingest stores them: a Parquet dataset of parts (a customer may straddle two)."""
    write_parquet_parts(contacts, folder, parts=parts)
    return folder
