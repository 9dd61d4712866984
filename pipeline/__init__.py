"""The pipeline's wiring: config, the stage entry helper, one module per DVC stage, the `fcr` CLI.

DVC runs each stage as `python -m pipeline.<stage>`, with whatever `python` the shell's PATH finds. When
that interpreter lacks the project's dependencies but the project's environment (`.venv`, made by
`make setup`) exists, the stage is re-run with the project's interpreter instead of failing on its first
import; without a `.venv`, it stops with what to do. Nothing happens when the dependencies are there.
"""

from __future__ import annotations


def _tune_the_allocator() -> None:
    import os
    import sys

    # Arrow's allocator (mimalloc), tuned for a process that touches hundreds of MB once: on Linux, 2 MB
    # transparent huge pages, arenas committed at once, and freed memory kept for reuse rather than handed
    # back to the OS and faulted in again. With the defaults, page faults cost more than the work: the
    # 1M-row ingest in a fresh process, medians of 6, 0.96 s -> 0.84 s on top of huge pages alone (1.44 s
    # -> 1.04 s before that), peak RSS unchanged. Set before pyarrow loads (stages and the CLI import this
    # package first); a user's own settings win.
    if sys.platform == "linux":
        for option, value in (("MIMALLOC_LARGE_OS_PAGES", "1"), ("MIMALLOC_ARENA_EAGER_COMMIT", "1"),
                              ("MIMALLOC_PURGE_DELAY", "-1")):
            os.environ.setdefault(option, value)


def _use_the_project_interpreter() -> None:
    import importlib.util
    import os
    import sys
    from pathlib import Path

    if importlib.util.find_spec("pandas") is not None or os.environ.get("FCR_REEXEC"):
        return
    venv_python = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
    if not venv_python.exists():
        raise SystemExit(f"{sys.executable} lacks the project's dependencies (no pandas) and there is no .venv: "
                         "run `make setup` (or `uv sync`), then `make repro` or `uv run dvc repro`.")
    os.environ["FCR_REEXEC"] = "1"  # once: never loop if the project's interpreter is broken too
    os.execv(str(venv_python), [str(venv_python), *sys.orig_argv[1:]])


_use_the_project_interpreter()
_tune_the_allocator()
