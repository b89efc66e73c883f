"""The committed release matches the source and gives nothing away."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ASSIGNMENT, REPO, nbgrader_environment

SOURCE = REPO / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASE = REPO / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
CHECKS = REPO / "grading" / "minitorch_grading"

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.DOTALL)


def solution_lines() -> set[str]:
    """Distinctive lines of the instructor's solution: in a solution region only."""
    source = nbformat.read(SOURCE, as_version=4)
    inside: set[str] = set()
    outside = []
    for cell in source.cells:
        # Prose wraps into short fragments such as "away from kinks." that the
        # check descriptions may share, so only long prose lines count.
        shortest = 12 if cell.cell_type == "code" else 30
        for region in SOLUTION.findall(cell.source):
            lines = (line.strip() for line in region.splitlines())
            inside.update(line for line in lines if len(line) >= shortest)
        outside.append(SOLUTION.sub("", cell.source))
    # Lines the instructions quote on purpose, such as super().__init__(), are
    # not solution text.
    given = "\n".join(outside)
    return {line for line in inside if line not in given}


def hidden_check_lines() -> set[str]:
    """Distinctive code lines of the hidden checks and the reference."""
    files = [
        *sorted((CHECKS / "checks").rglob("*.py")),
        CHECKS / "contract.py",
        CHECKS / "reference.py",
    ]
    lines = set()
    for path in files:
        for line in path.read_text().splitlines():
            line = line.strip()
            if len(line) >= 25 and not line.startswith(("#", '"', "'", 'f"')):
                lines.add(line)
    return lines


def release_text() -> str:
    return RELEASE.read_text()


def test_release_matches_fresh_generate_assignment(tmp_path: Path):
    course = tmp_path / "course"
    course.mkdir()
    subprocess.run(["cp", "-r", str(REPO / "source"), str(course)], check=True)
    (course / "nbgrader_config.py").write_text(
        (REPO / "nbgrader_config.py").read_text()
    )

    completed = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT],
        cwd=course,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
    )

    assert completed.returncode == 0, completed.stderr
    generated = (course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    assert generated == release_text(), (
        "release/ is out of date with source/: run `make release` and commit release/"
    )


def test_release_contains_no_solution_lines():
    text = release_text()
    lines = solution_lines()

    assert len(lines) > 30  # the pattern still finds the solution
    leaked = sorted(line for line in lines if line in text)
    assert leaked == []


def test_release_contains_no_solution_markers():
    text = release_text()

    assert "BEGIN SOLUTION" not in text
    assert "END SOLUTION" not in text


def test_release_contains_no_hidden_check_code():
    text = release_text()
    lines = hidden_check_lines()

    assert len(lines) > 100
    leaked = sorted(line for line in lines if line in text)
    assert leaked == []


def test_release_never_names_the_grading_package():
    assert "minitorch_grading" not in release_text()


@pytest.mark.parametrize(
    "name", ["Activation", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU"]
)
def test_release_stub_declares_class(name: str):
    release = nbformat.read(RELEASE, as_version=4)
    sources = "\n".join(cell.source for cell in release.cells)

    assert re.search(rf"^class {name}\(", sources, re.MULTILINE)


def test_release_stub_marks_each_task():
    release = nbformat.read(RELEASE, as_version=4)
    stubs = [
        cell.source
        for cell in release.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
        and cell.cell_type == "code"
    ]

    assert len(stubs) == 7
    for number, stub in enumerate(stubs, start=1):
        assert stub.startswith(f"# Task {number}:")
        assert "YOUR CODE HERE" in stub
