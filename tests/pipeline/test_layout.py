"""The layout keeps its promises: dvc.yaml deps name every project file a stage imports (DVC does not
follow imports), every params key a stage lists exists, stage modules only wire (<= 60 lines), and no
default value is written in code beside params.yaml."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import reduce
from pathlib import Path

import pytest
import yaml

from pipeline import config

ROOT = Path(__file__).resolve().parents[2]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _resolve(dep: str) -> str:
    """dvc.yaml's ${paths.x} templating, as DVC resolves it from params.yaml."""
    if dep.startswith("${") and dep.endswith("}"):
        return str(reduce(lambda d, k: d[k], dep[2:-1].split("."), PARAMS))
    return dep


def _imported_project_files(module: str) -> list[str]:
    code = (f"import json, sys, importlib; importlib.import_module({module!r}); "
            "print(json.dumps([getattr(m, '__file__', None) for m in list(sys.modules.values())]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    files = [Path(f).resolve() for f in json.loads(out.stdout) if f]
    return sorted(str(f.relative_to(ROOT)) for f in files
                  if f.is_relative_to(ROOT) and ".venv" not in f.parts and "tests" not in f.parts
                  and not _docstring_only(f))


def _docstring_only(path: Path) -> bool:
    """A package's __init__.py that holds nothing but its docstring changes no behaviour."""
    import ast

    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                                              for n in body)


@pytest.mark.parametrize("stage", sorted(DVC))
def test_deps_name_every_project_file_the_stage_imports(stage):
    cmd = DVC[stage]["cmd"]
    assert cmd == f"python -m pipeline.{stage}", cmd
    deps = [_resolve(d) for d in DVC[stage]["deps"]]
    missing = [f for f in _imported_project_files(f"pipeline.{stage}")
               if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]
    assert not missing, f"stage {stage} imports {missing} but dvc.yaml does not list them (or their folder) in deps"


@pytest.mark.parametrize("stage", sorted(DVC))
def test_params_keys_of_each_stage_exist(stage, params):
    for key in DVC[stage].get("params", []):
        reduce(getattr, key.split("."), params)  # AttributeError names the bad key


@pytest.mark.parametrize("stage", sorted(DVC))
def test_stage_modules_only_wire(stage):
    lines = (ROOT / "pipeline" / f"{stage}.py").read_text().splitlines()
    assert len(lines) <= 60, f"pipeline/{stage}.py has {len(lines)} lines: move logic into its package"


def test_no_default_in_code_for_a_params_section():
    """A section of params.yaml has no default in code: the value shown in params.yaml is the default.
    (An optional block may default to None or an empty collection, meaning absent.)"""
    def subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    # every section, wherever its package keeps it (pipeline.config imports them all to compose Params)
    sections = [c for c in set(subclasses(config.Strict)) if c._section]
    assert len(sections) >= 10
    for cls in sections:
        with_default = [n for n, f in cls.model_fields.items() if not f.is_required() and f.default not in (None, {}, [], ())]
        assert not with_default, f"{cls.__name__} ({cls._section}) has code defaults for {with_default}"
        cls.default()  # and the shipped params.yaml fills it
