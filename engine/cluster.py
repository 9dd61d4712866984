"""Opening and closing the Dask client of a stage.

In: `DaskConfig` (engine.dask in params.yaml). Out: a `distributed.Client` for the `with` block, on a
`LocalCluster` started here (scheduler: null) or on the running cluster at the scheduler's address; its
dashboard address is logged at start. Everything is closed when the block ends, even on an error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from dask.utils import parse_bytes
from distributed import Client, LocalCluster

from engine.config import DaskConfig

log = logging.getLogger(__name__)


@contextmanager
def dask_client(cfg: DaskConfig) -> Iterator[Client]:
    """A client for the block: a LocalCluster of `n_workers` single-threaded workers of
    `memory_per_worker` each (dashboard on a free port), or the cluster at `cfg.scheduler`."""
    if cfg.scheduler is None:
        cluster = LocalCluster(n_workers=cfg.n_workers, threads_per_worker=1, processes=cfg.processes,
                               memory_limit=parse_bytes(cfg.memory_per_worker), dashboard_address=":0")
        where = f"a LocalCluster of {cfg.n_workers} workers x {cfg.memory_per_worker}"
    else:
        cluster = None
        where = f"the cluster at {cfg.scheduler}"
    try:
        with Client(cluster if cluster is not None else cfg.scheduler) as client:
            log.info("dask: %s; dashboard %s", where, client.dashboard_link)
            yield client
    finally:
        if cluster is not None:
            cluster.close()


def partition_count(client: Client, cfg: DaskConfig) -> int:
    """How many customer partitions: `partitions_per_worker` for each worker the cluster has now."""
    workers = len(client.scheduler_info(n_workers=-1)["workers"]) or cfg.n_workers
    return workers * cfg.partitions_per_worker
