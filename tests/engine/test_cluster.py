"""The client of a stage: a LocalCluster started and closed around the block, its dashboard logged; a
running cluster joined by its address."""

from __future__ import annotations

import io
import logging

import dask
import dask.dataframe as dd
import pandas as pd
import pytest
from distributed import LocalCluster

from engine.cluster import EARLY_SPILL, computed, dask_client, partition_count, worker_memory_limit
from engine.config import DaskConfig


def test_local_cluster_opened_logged_and_closed(caplog):
    cfg = DaskConfig.default(n_workers=2, memory_per_worker="1GB", partitions_per_worker=3, processes=False)
    with caplog.at_level(logging.INFO, logger="engine.cluster"):
        with dask_client(cfg) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            assert client.submit(lambda x: x + 1, 1).result() == 2
            assert partition_count(client, cfg) == 6
            scheduler = client.scheduler.address
    assert "dashboard" in caplog.text and "LocalCluster of 2 workers x 1GB" in caplog.text
    assert client.status == "closed" and scheduler.startswith("inproc://")


@pytest.mark.parametrize("processes", [False, True])
def test_distributed_quieted_by_level_and_handlers_left_alone(processes):
    """A handler on the `distributed` logger (pytest puts its capture handler there when distributed was imported
    before logging was set up) keeps its level: LocalCluster's silence_logs lowered it, and with it every INFO
    record caplog saw. Distributed's INFO records are dropped by the logger's level, for the block only."""
    distributed_log, seen = logging.getLogger("distributed"), io.StringIO()
    handler, level = logging.StreamHandler(seen), distributed_log.level
    distributed_log.addHandler(handler)
    try:
        cfg = DaskConfig.default(n_workers=1, memory_per_worker="1GB", partitions_per_worker=1, processes=processes)
        with dask_client(cfg) as client:
            assert client.submit(lambda x: x + 1, 1).result() == 2
            assert handler.level == logging.NOTSET and distributed_log.getEffectiveLevel() == logging.WARNING
            spill = client.run(lambda dask_worker: (dask_worker.memory_manager.memory_target_fraction,
                                                    dask_worker.memory_manager.memory_spill_fraction))
            assert list(spill.values()) == [(EARLY_SPILL["distributed.worker.memory.target"],
                                             EARLY_SPILL["distributed.worker.memory.spill"])]  # in worker processes too
            distributed_log.warning("still shown")
    finally:
        distributed_log.removeHandler(handler)
    assert seen.getvalue() == "still shown\n"  # no "Scheduler at", "Start worker", "Remove client" lines
    assert distributed_log.level == level


def test_running_cluster_joined_by_address():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                      scheduler_port=0, protocol="tcp") as cluster:
        cfg = DaskConfig.default(scheduler=cluster.scheduler_address, partitions_per_worker=2)
        with dask_client(cfg) as client:
            assert client.scheduler.address == cluster.scheduler_address
            assert partition_count(client, cfg) == 2  # the cluster's one worker, not n_workers
            assert dask.config.get("distributed.worker.memory.target") == 0.6  # a joined cluster's settings its own
        assert cluster.status.name == "running"  # joined, not owned: left running


def test_computed_returns_what_dask_compute_returns_and_shows_a_progress_bar(client, capsys):
    """On the in-process cluster of the tests (processes: false), where `distributed.progress` hung once."""
    import dask

    from engine.cluster import computed

    frame = dd.from_pandas(pd.DataFrame({"x": range(100)}), npartitions=4)
    total, doubled = computed(client, "two things", frame["x"].sum(), frame["x"] * 2)
    assert total == 4950
    assert doubled.tolist() == [2 * x for x in range(100)]
    assert "two things" in capsys.readouterr().err  # the bar, named by what is computed
    with pytest.raises(ZeroDivisionError):
        computed(client, "a failing task", dask.delayed(lambda: 1 / 0)())


@pytest.mark.timeout(120)
def test_thread_workers_are_not_paused_by_the_stage_process_memory():
    """Thread workers live in the stage's (here the test's) process, which is larger than this limit: with the limit
    applied to them, Dask paused them for good and the computation never finished (the test timed out)."""
    cfg = DaskConfig.default(n_workers=2, memory_per_worker="128MiB", partitions_per_worker=2, processes=False)
    with dask_client(cfg) as client:
        frame = dd.from_pandas(pd.DataFrame({"x": range(1000)}), npartitions=4)
        assert computed(client, "a sum", frame["x"].sum()) == [499500]
        assert all(w["memory_limit"] == 0 for w in client.scheduler_info(n_workers=-1)["workers"].values())
    processes = DaskConfig.default(n_workers=1, memory_per_worker="1GiB", partitions_per_worker=1, processes=True)
    assert worker_memory_limit(processes) == 2**30
