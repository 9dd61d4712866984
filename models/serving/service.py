"""The service's state: the scorer it answers with, how it is loaded and reloaded, and its metrics.

`Service` holds the `Scorer` (models/serving/scorer.py) once the loader has returned it, or why it
could not; the loader is called once in a background thread at start-up (`start`) and again by
`reload` (POST /v1/admin/reload or, with `reload_on_sighup`, SIGHUP: one reload path, the old scorer
answering until the new one is ready). The routers (models/serving/routes/) answer from it.
"""

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from fastapi import HTTPException
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from models.serving.scorer import Scorer

log = logging.getLogger("models.serving.app")  # the service's log lines keep the name they have always had


class ReloadRefused(RuntimeError):
    """A reload that did not happen (the running model stays): HTTP status and why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail



class Service:
    """What the routers share: the scorer and its loading, the batch limit, the request bodies of this
    app (models/serving/schemas.py `request_models`) and the Prometheus metrics."""

    def __init__(self, loader: Callable[[], Scorer], max_batch: int, bodies) -> None:
        self.loader, self.max_batch, self.bodies = loader, max_batch, bodies
        self.scorer: Scorer | None = None
        self.error: str | None = None
        self.loaded_at: datetime | None = None
        self.reloading = threading.Lock()
        self.hangups: set[asyncio.Task] = set()  # running SIGHUP reloads (a task without a reference may be collected)
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("fcr_requests_total", "HTTP requests", ["endpoint", "status"], registry=registry)
        self.latency = Histogram("fcr_request_seconds", "request latency", ["endpoint"], registry=registry,
                                 buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.predictions = Counter("fcr_predictions_total", "scored contacts by route", ["route", "model_version"],
                                   registry=registry)
        Gauge("fcr_journal_events", "events in the journal", registry=registry).set_function(
            lambda: len(self.scorer.journal) if self.scorer and self.scorer.journal is not None else 0)
        Gauge("fcr_snapshot_age_seconds", "now minus the snapshot's end", registry=registry).set_function(
            lambda: time.time() - self.scorer.snapshot_end if self.scorer else float("nan"))
        Gauge("fcr_live_contacts", "contacts learned since the snapshot", registry=registry).set_function(
            lambda: len(self.scorer.learned) if self.scorer else 0)

    def start(self) -> None:
        """The first load, in a background thread: the app answers /healthz and /readyz meanwhile."""
        threading.Thread(target=self.load, daemon=True, name="fcr-loader").start()

    def load(self) -> None:
        # holds the reload lock: a reload asked for meanwhile is refused, never overwritten by this load
        with self.reloading:
            try:
                scorer = self.loader()
                settle_heap()  # before it answers: ready means settled, and no reload is refused meanwhile
                self.scorer = scorer
                self.loaded_at = datetime.now()
                self.error = None
                log.info("model %s and snapshot loaded", self.scorer.model.source)
            except Exception as exc:  # reported by /readyz and the log; the process stays up to say why
                self.error = f"{type(exc).__name__}: {exc}"
                log.error("could not load the model or snapshot: %s", self.error)

    async def reload(self, trigger: str) -> dict:
        """The one reload path (POST /v1/admin/reload, SIGHUP): the loader runs in a thread while the old
        scorer answers every request; the journal's events learned meanwhile are applied to the new one,
        which then takes over between two requests. Logs the outcome; ReloadRefused when it did not happen."""
        if not self.reloading.acquire(blocking=False):
            log.warning("reload (%s) refused: a reload is already running", trigger)
            raise ReloadRefused(409, "a reload is already running")
        try:
            new = await asyncio.to_thread(self.loader)
        except Exception as exc:
            detail = f"reload failed, the running model stays: {type(exc).__name__}: {exc}"
            log.error("reload (%s): %s", trigger, detail)
            raise ReloadRefused(503, detail) from None
        finally:
            self.reloading.release()
        # events learned by the old state while the new one loaded: applied again (idempotent by id)
        new.replay()
        pruned = new.journal.prune(new.snapshot_end) if new.journal is not None else 0
        self.scorer, self.loaded_at, self.error = new, datetime.now(), None
        settle_heap()
        log.info("reload (%s): model %s version %s and its snapshot now answer; %d journal events pruned", trigger,
                 new.model.source, self.version(), pruned)
        return {"model": new.model.source, "version": self.version(), "pruned": pruned}

    def on_sighup(self) -> None:
        async def run() -> None:
            try:
                await self.reload("SIGHUP")
            except ReloadRefused:
                pass  # logged; the running model stays

        task = asyncio.get_running_loop().create_task(run())
        self.hangups.add(task)
        task.add_done_callback(self.hangups.discard)

    async def current_scorer(self) -> Scorer:
        """The routes' dependency: the scorer, or 503 while it is loading (or could not be loaded)."""
        if self.scorer is None:
            raise HTTPException(503, self.error or "model and snapshot are still loading")
        return self.scorer

    def version(self) -> str:
        s = self.scorer
        return str(s.model.card.get("version")) if s else "none"


def settle_heap() -> None:
    """Take what the service holds for good (the model, the snapshot's state) out of the garbage
    collector's sight, after each load. A full collection walks every object it tracks: 160-250 ms
    for the default snapshot's 336k, and the live load set one off every two minutes or so, stalling
    every request meanwhile (the p99 tail). The previous load's objects are let go first; objects made
    later (what the service learns) are still collected. Objects let go are still freed at once
    by their reference counts, frozen or not."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.info("heap settled: %d objects frozen in %.0f ms", gc.get_freeze_count(), (time.perf_counter() - started) * 1e3)

