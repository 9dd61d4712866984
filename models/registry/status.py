"""The registry side of `fcr status` and the report: which registered version given model files are.

In: a model folder, the model name and the tracking URI. Out: plain dicts. Read-only: a missing `mlflow.db`
is reported, never created (a SQLite tracking URI is only opened when its file exists). The whole-project
status (DVC, registry, report, serve) is pipeline/status.py.
"""

from __future__ import annotations

from pathlib import Path

from models.model_files import files_md5
from models.registry.promotion import champion_status, version_of_files


def project_uri(uri: str, root: Path) -> str:
    """The tracking URI with a relative SQLite path made absolute under the project (not the caller's cwd)."""
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_absolute():
        return f"sqlite:///{root / uri.removeprefix('sqlite:///')}"
    return uri


def registry_missing(uri: str, root: Path) -> str | None:
    """Why the registry cannot be opened without creating it (a SQLite file that is absent), else None."""
    uri = project_uri(uri, root)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return f"no registry database at {uri.removeprefix('sqlite:///')} (nothing trained and registered here yet)"
    return None


def files_registry_status(model_dir: Path, model_name: str, uri: str, root: Path, last_run: dict | None = None) -> dict:
    """Which registered version the model files in `model_dir` are, found by their content hash (whatever
    restored them: a train run, DVC's run cache, `dvc exp apply`, `dvc checkout`), and whether that version
    is still its data source's champion. `last_run` (metrics/runs/train.json's registry decision) adds its
    run id and promotion reason when it registered these same files. Never creates a registry."""
    out = {"version": None, "is_champion": None, "promoted": None, "run_id": None}
    if (missing := registry_missing(uri, root)) is not None:
        return out | {"reason": missing}
    try:
        found, why = version_of_files(model_name, files_md5(model_dir), project_uri(uri, root))
    except OSError as exc:  # model files gone or unreadable
        return out | {"reason": f"the model files cannot be read ({exc})"}
    if found is None:
        return out | {"reason": why}
    version = int(found.version)
    check = champion_status(model_name, version, project_uri(uri, root))
    out |= {"version": version, "run_id": found.run_id, "is_champion": check["is_champion"], "promoted": check["is_champion"],
            "champion_version": check["champion_version"], "reason": check["reason"]}
    if last_run and last_run.get("version") == version:  # the run that registered these very files
        out["decision"] = last_run.get("reason")
    return out
