"""Opening and closing the Dask client of a stage.

In: `DaskConfig` (engine.dask in params.yaml). Out: a `distributed.Client` for the `with` block, on a
`LocalCluster` started here (scheduler: null) or on the running cluster at the scheduler's address; its
dashboard address is logged at start. Everything is closed when the block ends, even on an error.

Distributed's records below WARNING stay out of the log, by its loggers' level: in this process for the block,
in a worker process for its life. Not by LocalCluster's `silence_logs`, which sets the level of every
StreamHandler on the `distributed` logger, whoever put it there: whether that logger has handlers depends on
the import order (distributed gives it its own and stops its propagation only when imported before logging was
set up), so a stage, which sets logging up first, got distributed's INFO lines, while under pytest, which then
puts its capture handler (the root's) on it too, the cluster silenced every INFO record of the test, this
module's included."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import dask
from dask.utils import parse_bytes
from distributed import Client, Future, LocalCluster, Nanny, Worker, as_completed
from tqdm import tqdm

from engine.config import DaskConfig

log = logging.getLogger(__name__)
QUIETED = ("distributed", "bokeh")  # the loggers silence_logs would quiet
# Dask's scheduler logs every shuffle's start and end at WARNING ("Shuffle ... initialized by task ...",
# "... deactivated due to stimulus ..."): routine, dozens per stage; its failures are logged as errors.
ROUTINE_WARNINGS = "distributed.shuffle._scheduler_plugin"
# A LocalCluster's workers move what they hold to disk earlier than Dask's defaults (target 0.6, spill 0.7):
# a partition's task here needs ~2 GB above what the worker holds, and at 30M contacts on 6 GB workers (the
# persisted contacts and counts more than the workers' memory) a task past 95% had its worker restarted.
EARLY_SPILL = {"distributed.worker.memory.target": 0.4, "distributed.worker.memory.spill": 0.5}


@contextmanager
def dask_client(cfg: DaskConfig) -> Iterator[Client]:
    """A client for the block: a LocalCluster of `n_workers` single-threaded workers of
    `memory_per_worker` each (dashboard on a free port), or the cluster at `cfg.scheduler`."""
    with ExitStack() as stack:
        for name in QUIETED:
            stack.enter_context(at_least(logging.getLogger(name), logging.WARNING))
        stack.enter_context(at_least(logging.getLogger(ROUTINE_WARNINGS), logging.ERROR))
        if cfg.scheduler is None:
            stack.enter_context(dask.config.set(EARLY_SPILL))  # (the workers take the config they start with)
            cluster = LocalCluster(n_workers=cfg.n_workers, threads_per_worker=1, processes=cfg.processes,
                                   worker_class=QuietNanny if cfg.processes else Worker, silence_logs=False,
                                   memory_limit=worker_memory_limit(cfg), dashboard_address=":0")
            stack.callback(cluster.close)
            where = f"a LocalCluster of {cfg.n_workers} workers x {cfg.memory_per_worker}"
        else:
            cluster = None
            where = f"the cluster at {cfg.scheduler}"
        with Client(cluster if cluster is not None else cfg.scheduler) as client:
            log.info("dask: %s; dashboard %s", where, client.dashboard_link)
            yield client


def worker_memory_limit(cfg: DaskConfig) -> int:
    """A LocalCluster worker's memory limit in bytes: `memory_per_worker` for worker processes; none (0) for
    thread workers (processes: false), which live in the stage's own process: Dask measures a worker's memory as
    its process's, so a limit there counts the stage's own tables too, and past 80% of it Dask pauses the workers
    for good (seen: a test process of 1.1 GB with workers of 1GB never finished a task)."""
    return parse_bytes(cfg.memory_per_worker) if cfg.processes else 0


@contextmanager
def at_least(logger: logging.Logger, level: int) -> Iterator[None]:
    """`logger` passes records of `level` and above only, for the block (a logger set quieter stays so); its
    handlers are left alone."""
    before = logger.level
    if logger.getEffectiveLevel() < level:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


class QuietWorker(Worker):
    """The Worker of a worker process: distributed's records below WARNING dropped in that process."""

    def __init__(self, *args, **kwargs):
        for name in QUIETED:
            logging.getLogger(name).setLevel(max(logging.getLogger(name).getEffectiveLevel(), logging.WARNING))
        super().__init__(*args, **kwargs)


class QuietNanny(Nanny):
    """A Nanny whose worker process is a `QuietWorker`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs, worker_class=QuietWorker)


def computed(client: Client, what: str, *collections) -> list:
    """`dask.compute(*collections)` on `client`'s cluster, with a progress bar (`show_progress`)."""
    futures = client.compute(list(collections))
    show_progress(what, futures)
    return client.gather(futures)


def show_progress(what: str, futures: list[Future]) -> None:
    """`what` logged, then a progress bar of `futures` (tqdm, on stderr), advanced by Dask's stream of completed
    futures (`distributed.as_completed`), until every one is done; a failed task shows when it is gathered.
    (Not `distributed.progress`: its text bar opens a second connection to the scheduler, which never answered
    for an in-process LocalCluster, `processes: false`, and the stage hung.)"""
    log.info("dask: %s", what)
    for _ in tqdm(as_completed(futures), total=len(futures), desc=what, unit="task", leave=False,
                  disable=len(futures) < 2):
        pass


def partition_count(client: Client, cfg: DaskConfig) -> int:
    """How many customer partitions: `partitions_per_worker` for each worker the cluster has now."""
    workers = len(client.scheduler_info(n_workers=-1)["workers"]) or cfg.n_workers
    return workers * cfg.partitions_per_worker
