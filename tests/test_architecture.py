"""Dependencies run one way (ARCHITECTURE.md, "Layers"): pipeline/ on top imports the domain packages, the
domain packages import base/ at the bottom, and never the reverse.

Checked on the import graph of every module (grimp), imports inside functions and under TYPE_CHECKING
included: no domain package imports `pipeline`; `base` imports nothing of the project; the service, routing,
the diagnostics and the report reach no `models.training` module, even through another module (the
measures they share with training are models/measures.py)."""

from __future__ import annotations

import grimp
import pytest

DOMAIN = ("contract", "engine", "features", "labelling", "models", "report", "synthetic")
PACKAGES = ("pipeline", "base", *DOMAIN)
NOT_TRAINING = ("models.serving", "models.diagnostics", "models.routing", "report")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _package_modules(graph: grimp.ImportGraph, package: str) -> set[str]:
    return {package, *graph.find_descendants(package)}


def _imports_of(graph: grimp.ImportGraph, importer_package: str, imported_package: str) -> list[str]:
    """`importer -> imported (line n)` for each direct import of the second package by the first."""
    found = []
    for importer in sorted(_package_modules(graph, importer_package)):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported == imported_package or imported.startswith(imported_package + "."):
                lines = sorted(d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported))
                found.append(f"{importer} -> {imported} (line {', '.join(map(str, lines))})")
    return found


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_do_not_import_the_pipeline(graph, package):
    found = _imports_of(graph, package, "pipeline")
    assert not found, (f"{package} imports the wiring package (pipeline/ imports the domain packages, never the "
                       f"reverse; a config section goes in its package's config.py, an error in base/errors.py):\n  "
                       + "\n  ".join(found))


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "base"])
def test_base_imports_nothing_of_the_project(graph, package):
    found = _imports_of(graph, "base", package)
    assert not found, "base/ is the bottom layer and imports nothing of the project:\n  " + "\n  ".join(found)


@pytest.mark.parametrize("package", NOT_TRAINING)
def test_serving_diagnostics_and_report_do_not_reach_training(graph, package):
    direct = _imports_of(graph, package, "models.training")
    chain = graph.find_shortest_chains(importer=package, imported="models.training", as_packages=True)
    assert not direct and not chain, (f"{package} imports models.training (shared measures live in models/measures.py):"
                                      "\n  " + "\n  ".join(direct or [" -> ".join(c) for c in sorted(chain)]))


MAX_FUNCTION_LINES = 80  # a reader holds a function in view; a longer one is split into named steps


def test_no_function_is_a_chapter():
    """No function or method outside tests/ spans more than MAX_FUNCTION_LINES lines (def to last line)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    long = []
    for package in (*PACKAGES, "bench"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {lines} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps):\n  " + "\n  ".join(long)
