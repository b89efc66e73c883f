"""The source notebook runs, and its grade cells match the hidden checks."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from traitlets.config import PyFileConfigLoader

from minitorch_grading.nbgrader_plugin import GradeWithHiddenChecks
from minitorch_grading.runner import collect_checks
from tests.conftest import ASSIGNMENT, REPO, error_outputs

SOURCE = REPO / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def grade_cells() -> dict[str, dict]:
    nb = nbformat.read(SOURCE, as_version=4)
    cells = {}
    for cell in nb.cells:
        nbgrader = cell.metadata.get("nbgrader", {})
        if nbgrader.get("grade"):
            cells[nbgrader["grade_id"]] = {
                "points": float(nbgrader["points"]),
                "type": cell.cell_type,
                "solution": nbgrader.get("solution", False),
            }
    return cells


def test_notebook_test_cells_worth_their_checks():
    points = Counter()
    for check in collect_checks(ASSIGNMENT):
        points[check.grade_id] += check.points
    test_cells = {
        grade_id: cell["points"]
        for grade_id, cell in grade_cells().items()
        if cell["type"] == "code" and not cell["solution"]
    }

    assert test_cells == dict(points)


def test_notebook_written_answer_graded_by_hand():
    cells = grade_cells()

    assert cells["relu_kink_answer"] == {
        "points": 2.0,
        "type": "markdown",
        "solution": True,
    }


def test_notebook_solution_passes_visible_tests_in_kernel(tmp_path: Path):
    nb = nbformat.read(SOURCE, as_version=4)
    # The last cell checks activations.ipynb in the kernel's working directory,
    # so the notebook is saved there first, as a student saves it.
    nbformat.write(nb, tmp_path / SOURCE.name)
    os.environ.setdefault("MPLBACKEND", "Agg")
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )

    client.execute()

    printed = "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )
    for task in range(1, 8):
        assert f"Task {task}: visible checks passed" in printed
    assert "7 of 7 visible checks passed." in printed
    assert error_outputs(nb) == []


@pytest.mark.parametrize("tag_cell", ["relu_plot", "spiral_plot"])
def test_notebook_plot_cells_skipped_when_grading(tag_cell: str):
    nb = nbformat.read(SOURCE, as_version=4)
    cell = next(
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == tag_cell
    )

    assert "plot" in cell.metadata.get("tags", [])


def test_notebook_self_check_cell_skipped_when_grading():
    nb = nbformat.read(SOURCE, as_version=4)
    last = nb.cells[-1]
    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()

    assert last.metadata.nbgrader["grade_id"] == "self_check"
    assert last.metadata.nbgrader["locked"] is True
    assert "self-check" in last.metadata.tags
    assert "run_self_check(" in last.source
    assert "self-check" in GradeWithHiddenChecks().skip_tags
    assert "self-check" in config.GradeWithHiddenChecks.skip_tags
