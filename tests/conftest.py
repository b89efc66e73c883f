"""Fixtures shared by the kit's tests."""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A fresh course directory with no gradebook and no submissions."""
    return make_course(tmp_path / "course")
