"""Fixtures shared by the kit's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "activations"


def nbgrader_environment() -> dict[str, str]:
    """Environment for running nbgrader: this interpreter's bin directory first on
    PATH, because nbgrader starts helper programs such as alembic by name."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    return env


def make_course(target: Path) -> Path:
    """Copy the parts of the repository an instructor's course directory holds."""
    for name in ("source", "release", "examples"):
        shutil.copytree(REPO / name, target / name)
    shutil.copy(REPO / "nbgrader_config.py", target / "nbgrader_config.py")
    return target


def error_outputs(nb) -> list:
    """Every error output of the code cells of notebook ``nb``."""
    return [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]


def assert_builder_output_committed(script: Path, committed: Path, tmp: Path) -> None:
    """Run an example builder into ``tmp`` and compare each file with ``committed``."""
    completed = subprocess.run(
        [sys.executable, str(script), "--output", str(tmp)],
        capture_output=True,
        text=True,
    )

    assert completed.returncode == 0, completed.stderr
    for built in sorted(tmp.rglob("*")):
        if built.is_file():
            target = committed / built.relative_to(tmp)
            assert target.read_bytes() == built.read_bytes(), (
                f"{target} is out of date: run `make examples` and commit the result"
            )


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A fresh course directory with no gradebook and no submissions."""
    return make_course(tmp_path / "course")
