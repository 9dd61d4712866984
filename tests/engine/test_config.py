"""The `engine` section: shipped defaults (local, a LocalCluster of 2 x 6GB), and bad values failing with the
key and what to write in params.yaml."""

from __future__ import annotations

import pytest
from dask.utils import parse_bytes
from pydantic import ValidationError

from engine.config import DaskConfig, EngineConfig, memory_bytes


def test_shipped_engine_is_local_with_a_two_worker_local_cluster():
    cfg = EngineConfig.default()
    assert cfg.kind == "local"
    assert cfg.dask.scheduler is None and cfg.dask.n_workers == 2 and cfg.dask.memory_per_worker == "6GB"
    assert cfg.dask.partitions_per_worker >= 1


@pytest.mark.parametrize("text", ["6GB", "6 GB", "4GiB", "512MB", "1.5gb", "200MiB", "3TB", "134217728B"])
def test_memory_sizes_read_as_dask_reads_them(text):
    assert memory_bytes(text) == parse_bytes(text)


@pytest.mark.parametrize("text", ["6", "lots", "6 GBs", "-1GB", "100MB", ""])
def test_bad_memory_names_the_key_and_an_example(text):
    with pytest.raises(ValidationError) as err:
        DaskConfig.default(memory_per_worker=text)
    assert "engine.dask.memory_per_worker" in str(err.value) and "6GB" in str(err.value)


@pytest.mark.parametrize("address", ["tcp://scheduler:8786", "tls://10.0.0.5:8786", "tcp://dask-scheduler.ns.svc:8786"])
def test_scheduler_addresses_accepted(address):
    assert DaskConfig.default(scheduler=address).scheduler == address


@pytest.mark.parametrize("address", ["scheduler:8786", "http://scheduler:8786", "tcp://scheduler", "local"])
def test_bad_scheduler_names_the_key_and_what_to_write(address):
    with pytest.raises(ValidationError) as err:
        DaskConfig.default(scheduler=address)
    assert "engine.dask.scheduler" in str(err.value) and "tcp://scheduler:8786" in str(err.value)


def test_unknown_kind_and_workers_rejected():
    with pytest.raises(ValidationError, match="kind"):
        EngineConfig.default(kind="spark")
    with pytest.raises(ValidationError, match="n_workers"):
        DaskConfig.default(n_workers=0)
