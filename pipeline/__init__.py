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

    # Arrow's allocator (mimalloc) on Linux backs its large buffers with 2 MB transparent huge pages
    # when asked: a stage touches hundreds of MB once, and with 4 KB pages the page faults cost more
    # than the work (1M-row ingest, fresh process, medians of 5: 1.44 s -> 1.04 s; peak RSS +4%).
    # Set before pyarrow loads (stages import this package first); a user's own setting wins.
    if sys.platform == "linux":
        os.environ.setdefault("MIMALLOC_LARGE_OS_PAGES", "1")


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
