"""The source notebook runs, and its grade cells match the hidden checks."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

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
