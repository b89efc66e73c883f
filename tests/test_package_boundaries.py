"""The framework, the worker and the release stay apart from the grader."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKER = REPO / "grading" / "minitorch_grading" / "worker"


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module that ``path`` imports."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_framework_never_imports_grading_package():
    for path in sorted((REPO / "framework" / "minitorch").rglob("*.py")):
        assert imported_modules(path) <= set(sys.stdlib_module_names) | {
            "numpy",
            "minitorch",
        }, path


def test_worker_imports_only_stdlib_numpy_and_wire():
    allowed = set(sys.stdlib_module_names) | {"numpy", "wire", "__future__"}

    assert imported_modules(WORKER / "main.py") <= allowed
    assert imported_modules(WORKER / "wire.py") <= allowed


def test_worker_never_mentions_checks_or_reference():
    for name in ("main.py", "wire.py"):
        text = (WORKER / name).read_text()

        assert "minitorch_grading.checks" not in text
        assert "reference" not in imported_modules(WORKER / name)


def test_released_notebooks_never_import_grading_package():
    for path in sorted((REPO / "release").rglob("*.ipynb")):
        assert "minitorch_grading" not in path.read_text(), path
