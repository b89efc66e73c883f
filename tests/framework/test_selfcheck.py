"""minitorch.selfcheck: a notebook's visible test cells in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minitorch.selfcheck import (
    SelfCheckError,
    SelfCheckFailed,
    check_notebook,
    run_self_check,
)

REPO = Path(__file__).resolve().parent.parent.parent
SOURCE = REPO / "source" / "activations" / "activations.ipynb"
RELEASE = REPO / "release" / "activations" / "activations.ipynb"
EXAMPLES = REPO / "examples" / "submissions"


def code_cell(source: str, tags=(), test_id: str | None = None) -> dict:
    metadata: dict = {"tags": list(tags)}
    if test_id is not None:
        metadata["nbgrader"] = {
            "grade": True,
            "grade_id": test_id,
            "points": 1,
            "solution": False,
        }
    return {"cell_type": "code", "metadata": metadata, "source": source}


def write_notebook(path: Path, cells: list[dict]) -> Path:
    path.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    return path


def test_check_notebook_solution_passes():
    report = check_notebook(SOURCE)

    assert len(report.checks) == 7
    assert report.failed_ids() == []
    assert report.cell_errors == []
    assert report.exit_status == 0


def test_check_notebook_release_stub_fails():
    report = check_notebook(RELEASE)

    assert report.exit_status == 1
    assert len(report.failed_ids()) == 7
    assert "0 of 7 visible checks passed." in report.render()


def test_check_notebook_matches_example_mistake():
    report = check_notebook(EXAMPLES / "gelu-exact-erf" / "activations.ipynb")

    assert report.failed_ids() == ["gelu"]
    assert report.checks[5].error_type == "AssertionError"
    assert report.checks[5].line.startswith("np.testing.assert_allclose(gelu.forward")


def test_check_notebook_skips_plot_and_self_check_cells(tmp_path: Path):
    notebook = write_notebook(
        tmp_path / "skip.ipynb",
        [
            code_cell("value = 1"),
            code_cell("value = 2", tags=["plot"]),
            code_cell("raise RuntimeError('ran')", tags=["self-check"]),
            code_cell("assert value == 1, f'value is {value}'", test_id="value"),
        ],
    )

    report = check_notebook(notebook)

    assert report.failed_ids() == []
    assert report.cell_errors == []


def test_check_notebook_runs_test_cells_after_own_cells(tmp_path: Path):
    # The grader runs the student's cells first, so a test cell placed before a
    # definition in the notebook can still use the defined name.
    notebook = write_notebook(
        tmp_path / "order.ipynb",
        [
            code_cell("assert late == 3", test_id="early_test"),
            code_cell("late = 3"),
        ],
    )

    assert check_notebook(notebook).failed_ids() == []


def test_check_notebook_hanging_cell_times_out(tmp_path: Path):
    notebook = write_notebook(
        tmp_path / "hang.ipynb",
        [
            code_cell("value = 1"),
            code_cell("while True:\n    pass", test_id="hangs"),
            code_cell("assert value == 1", test_id="after"),
        ],
    )

    report = check_notebook(notebook, cell_seconds=1.0)

    assert report.failed_ids() == ["hangs"]
    assert report.checks[0].error_type == "TimeoutError"
    assert report.checks[0].message == "the cell did not finish within 1 s"


def test_check_notebook_cell_ending_process(tmp_path: Path):
    notebook = write_notebook(
        tmp_path / "exit.ipynb",
        [
            code_cell("import os\nos._exit(0)"),
            code_cell("assert 1 + 1 == 2", test_id="arithmetic"),
        ],
    )

    report = check_notebook(notebook)

    assert report.failed_ids() == []
    assert len(report.cell_errors) == 1
    assert report.cell_errors[0].cell == 'the cell starting "import os"'
    assert report.cell_errors[0].error_type == "ProcessExit"
    assert report.exit_status == 1


def test_check_notebook_missing_file(tmp_path: Path):
    with pytest.raises(SelfCheckError, match="notebook not found: .*absent.ipynb"):
        check_notebook(tmp_path / "absent.ipynb")


def test_check_notebook_invalid_json(tmp_path: Path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')

    with pytest.raises(SelfCheckError, match="is not valid JSON"):
        check_notebook(broken)


def test_run_self_check_raises_and_prints(tmp_path: Path, capsys):
    notebook = write_notebook(
        tmp_path / "fails.ipynb",
        [code_cell("assert False, 'wrong answer'", test_id="always_fails")],
    )

    with pytest.raises(SelfCheckFailed, match="visible checks failed: always_fails"):
        run_self_check(notebook)

    printed = capsys.readouterr().out
    assert "\u2717 always_fails (1 point)" in printed
    assert "AssertionError: wrong answer" in printed
    assert "0 of 1 visible checks passed." in printed
    assert "Hidden checks decide the grade." in printed


def test_check_notebook_with_interpreter_found_through_relative_path():
    # `python` found through the relative PATH entry "bin" has a relative
    # sys.executable, which names nothing from the notebook's folder.
    interpreter = Path(sys.executable)
    env = dict(os.environ)
    env["PATH"] = interpreter.parent.name + os.pathsep + env.get("PATH", "")
    script = (
        "import sys; from minitorch.selfcheck import check_notebook; "
        "assert not sys.executable.startswith('/'), sys.executable; "
        f"sys.exit(check_notebook({str(SOURCE)!r}).exit_status)"
    )
    completed = subprocess.run(
        [interpreter.name, "-c", script],
        cwd=interpreter.parent.parent,
        env=env,
        capture_output=True,
        text=True,
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
