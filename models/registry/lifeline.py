"""The training process dies with the `dvc repro` that started it, and leaves no run RUNNING.

In: nothing but the process tree (/proc, Linux) and the MLflow experiment. Out: `Lifeline`, which
records the ancestors up to the nearest `dvc` process at start, watches them from a daemon thread and
turns their death (or SIGTERM/SIGHUP) into `Orphaned`, an exception that ends the MLflow run as FAILED; `check()`
is the re-check done right before registering and aliasing. `close_stale_runs` marks RUNNING runs
whose process is gone (same host, pid no longer the one that started them) as FAILED.
Without a `dvc` ancestor (a direct `python -m pipeline.train`) nothing is watched beyond the signals.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path

log = logging.getLogger(__name__)
PID_TAG, START_TAG, HOST_TAG = "fcr.pid", "fcr.pid_start", "fcr.host"


class Orphaned(SystemExit):
    """The process that started training is gone: stop without registering anything."""


def start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _is_dvc(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(Path(a.decode(errors="replace")).name in ("dvc", "dvc.exe") or a == b"dvc" for a in argv[:3])


def dvc_ancestors(pid: int | None = None) -> list[tuple[int, str]]:
    """(pid, start time) of the ancestors of `pid` up to and including the nearest `dvc`; [] without one."""
    chain, p = [], _parent(pid or os.getpid())
    while p > 1:
        chain.append((p, start_time(p) or ""))
        if _is_dvc(p):
            return chain
        p = _parent(p)
    return []


class Lifeline:
    # No PR_SET_PDEATHSIG: it fires when the parent *thread* exits, which need not mean dvc is gone.
    def __init__(self, poll_s: float = 0.5) -> None:
        self.ancestors = dvc_ancestors()
        self.lost: str | None = None
        self._poll = poll_s
        self._stop = threading.Event()

    def start(self) -> Lifeline:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        if self.ancestors:
            log.info("training dies with dvc (pid %d)", self.ancestors[-1][0])
            threading.Thread(target=self._watch, name="fcr-lifeline", daemon=True).start()
        return self

    def gone(self) -> str | None:
        """Why this process is orphaned, or None while everything that started it still runs."""
        if self.lost:
            return self.lost
        for pid, started in self.ancestors:
            if start_time(pid) != started:
                return f"process {pid} that started training (dvc repro) is gone"
        return None

    def check(self) -> None:
        """The re-check before anything is registered: raises `Orphaned` when the starter is gone."""
        why = self.gone()
        if why:
            raise Orphaned(f"not registering: {why}")

    def stop(self) -> None:
        self._stop.set()

    def _on_signal(self, signum: int, frame) -> None:
        self.lost = f"received {signal.Signals(signum).name}"
        raise Orphaned(f"training stopped: {self.lost}")

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            why = self.gone()
            if why:
                self.lost = why
                log.error("%s: stopping training", why)
                os.kill(os.getpid(), signal.SIGTERM)  # handled in the main thread: raises Orphaned there
                return


def process_tags() -> dict[str, str]:
    """Tags that let a later start tell whether this run's process is still alive."""
    return {PID_TAG: str(os.getpid()), START_TAG: start_time(os.getpid()) or "", HOST_TAG: socket.gethostname()}


def close_stale_runs(client, experiment_id: str) -> list[str]:
    """Mark RUNNING runs of this host whose process is gone as FAILED; return their ids."""
    closed = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'"):
        tags = run.data.tags
        if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
            continue  # another machine's run (or no process tags): cannot tell, left alone
        if start_time(int(tags[PID_TAG])) == tags.get(START_TAG):
            continue  # still running
        client.set_tag(run.info.run_id, "fcr.ended_by", "a later train start found its process gone")
        client.set_terminated(run.info.run_id, status="FAILED")
        closed.append(run.info.run_id)
    if closed:
        log.warning("marked %d stale RUNNING run(s) as FAILED: %s", len(closed), ", ".join(closed))
    return closed
