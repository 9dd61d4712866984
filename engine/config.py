"""The `engine` section of params.yaml: where the stages run (`local`: this process; `dask`: a Dask cluster).

In: the mapping under `engine:`. Out: `EngineConfig` with its `DaskConfig`; a wrong value fails naming the key
and what to write in params.yaml."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from base.config import Strict

SCHEDULER = re.compile(r"^(tcp|tls|ucx|ws|wss)://[^\s:/]+:\d{1,5}/?$")
UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*(" + "|".join(UNITS) + r")$", re.IGNORECASE)


class DaskConfig(Strict):
    _section: ClassVar[str] = "engine.dask"
    # null: start a distributed.LocalCluster on this machine; an address such as tcp://scheduler:8786 joins it
    scheduler: str | None = None
    n_workers: int = Field(ge=1)               # workers of the LocalCluster (a joined cluster has its own)
    memory_per_worker: str                    # e.g. 6GB: a LocalCluster worker process's memory limit
    partitions_per_worker: int = Field(ge=1)  # customer partitions per worker: more = smaller pieces
    processes: bool                           # LocalCluster workers as processes (false: threads of this one,
                                              # with no memory limit of their own)

    @field_validator("scheduler")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not SCHEDULER.match(v):
            raise ValueError(f"engine.dask.scheduler {v!r} is not a scheduler address: write one such as "
                             "tcp://scheduler:8786 in params.yaml, or null to start a LocalCluster here")
        return v

    @field_validator("memory_per_worker")
    @classmethod
    def _memory(cls, v: str) -> str:
        if memory_bytes(v) < 2**27:  # below 128 MiB nothing of a stage fits
            raise ValueError(f"engine.dask.memory_per_worker {v!r} is not a memory size of at least 128MiB: write "
                             "one such as 6GB or 4GiB in params.yaml")
        return v


def memory_bytes(text: str) -> int:
    """Bytes of a size such as 6GB, 4 GiB or 512MB (units as Dask reads them); 0 when it is not one. (Checked
    here without importing Dask: every stage parses params.yaml, and Dask's import costs a fifth of a second.)"""
    m = MEMORY.match(text.strip())
    return int(float(m.group(1)) * UNITS[m.group(2).lower()]) if m else 0


class EngineConfig(Strict):
    _section: ClassVar[str] = "engine"
    kind: Literal["local", "dask"]   # local: this process (outputs byte for byte as ever); dask: a cluster
    dask: DaskConfig
