"""The grader-side self-check: visible test cells in the isolated worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from minitorch_grading.runner import collect_checks
from minitorch_grading.sandbox import Limits, Submission
from minitorch_grading.selfcheck import SelfCheckError, main, self_check
from tests.conftest import ASSIGNMENT, REPO

SOURCE = REPO / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASE = REPO / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
EXAMPLES = REPO / "examples" / "submissions"

TEST_CELL_IDS = [
    "activation_base",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "spiral_training",
]

# Room for training the spiral network: about 3 s per run on a 2-core machine.
LIMITS = Limits(cell_seconds=60.0, submission_seconds=180.0)


def example(name: str) -> Path:
    return EXAMPLES / name / f"{ASSIGNMENT}.ipynb"


def hidden_check_descriptions() -> list[str]:
    return [check.description for check in collect_checks(ASSIGNMENT)]


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minitorch_grading.selfcheck", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_selfcheck_solution_passes():
    report = self_check(SOURCE, LIMITS)

    assert [check.grade_id for check in report.checks] == TEST_CELL_IDS
    assert report.failed_ids() == []
    assert report.cell_errors == []
    assert report.exit_status == 0
    assert "7 of 7 visible checks passed." in report.render()


def test_selfcheck_release_stub_fails_every_check():
    report = self_check(RELEASE, LIMITS)
    text = report.render()

    assert report.exit_status == 1
    assert report.failed_ids() == TEST_CELL_IDS
    for grade_id in TEST_CELL_IDS:
        assert f"\u2717 {grade_id} (" in text
    assert "0 of 7 visible checks passed." in text
    # The stub's Activation raises NotImplementedError in its class body.
    assert report.cell_errors[0].error_type == "NotImplementedError"
    assert report.cell_errors[0].cell == 'the cell starting "class Activation(Module):"'


@pytest.mark.parametrize(
    ("name", "grade_id", "error_type", "message"),
    [
        ("naive-sigmoid", "sigmoid", "RuntimeWarning", "overflow encountered in exp"),
        ("leaky-relu-fixed-slope", "leaky_relu", "AssertionError", "Mismatched"),
        (
            "undertrained-network",
            "spiral_training",
            "AssertionError",
            "the loss should at least halve during training",
        ),
    ],
)
def test_selfcheck_one_mistake_fails_its_cell(
    name: str, grade_id: str, error_type: str, message: str
):
    report = self_check(example(name), LIMITS)
    failed = [check for check in report.checks if not check.passed]

    assert report.exit_status == 1
    assert [check.grade_id for check in failed] == [grade_id]
    assert failed[0].error_type == error_type
    assert message in failed[0].message
    assert failed[0].line  # the test cell's line that raised
    assert report.cell_errors == []


def test_selfcheck_reports_error_in_own_cell():
    report = self_check(example("exit-in-last-cell"), LIMITS)

    assert report.failed_ids() == []
    assert len(report.cell_errors) == 1
    assert report.cell_errors[0].cell == 'the cell starting "import os"'
    assert report.cell_errors[0].error_type == "ProcessExit"
    assert report.exit_status == 1


def test_selfcheck_output_contains_no_hidden_check_text():
    descriptions = hidden_check_descriptions()
    assert len(descriptions) > 20  # the checks were found
    for name in ("untouched-release", "sigmoid-of-sigmoid", "gelu-exact-erf"):
        text = self_check(example(name), LIMITS).render()

        leaked = [description for description in descriptions if description in text]
        assert leaked == [], name
        assert "Hidden checks decide the grade." in text


def test_selfcheck_never_imports_hidden_checks():
    script = (
        "import sys\n"
        "from minitorch_grading.selfcheck import self_check\n"
        f"self_check({str(example('naive-sigmoid'))!r})\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    modules = set(completed.stdout.split())

    assert completed.returncode == 0, completed.stderr
    assert "minitorch_grading.selfcheck" in modules
    for hidden in (
        "minitorch_grading.checks",
        "minitorch_grading.contract",
        "minitorch_grading.reference",
        "minitorch_grading.runner",
    ):
        assert hidden not in modules
    assert not any(name.startswith("minitorch_grading.checks.") for name in modules)


def test_selfcheck_corrupt_notebook_raises(tmp_path: Path):
    corrupt = tmp_path / "activations.ipynb"
    corrupt.write_text('{"cells": [', encoding="utf-8")

    with pytest.raises(SelfCheckError) as raised:
        self_check(corrupt, LIMITS)

    message = str(raised.value)
    assert str(corrupt) in message
    assert "not a readable Jupyter notebook" in message
    assert "save it again" in message


def test_selfcheck_missing_notebook_raises(tmp_path: Path):
    missing = tmp_path / "missing.ipynb"

    with pytest.raises(SelfCheckError, match="notebook not found: .*missing.ipynb"):
        self_check(missing, LIMITS)


def test_selfcheck_notebook_without_test_cells_raises(tmp_path: Path):
    plain = tmp_path / "plain.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), plain)

    with pytest.raises(SelfCheckError, match="contains no visible test cells"):
        self_check(plain, LIMITS)


def test_selfcheck_main_returns_2_for_corrupt_notebook(tmp_path, capsys):
    corrupt = tmp_path / "activations.ipynb"
    corrupt.write_text("not a notebook", encoding="utf-8")

    status = main([str(corrupt)])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    assert str(corrupt) in captured.err


@pytest.mark.parametrize(
    ("notebook", "status"),
    [(SOURCE, 0), (example("naive-sigmoid"), 1), (REPO / "README.md", 2)],
)
def test_selfcheck_module_exit_status(notebook: Path, status: int):
    completed = run_module(str(notebook), "--cell-timeout", "60")

    assert completed.returncode == status, completed.stderr
    if status == 2:
        assert "error: " in completed.stderr
    else:
        assert "of 7 visible checks passed." in completed.stdout


def test_selfcheck_module_help():
    completed = run_module("--help")

    assert completed.returncode == 0
    assert "--cell-timeout SECONDS" in completed.stdout
    assert "Exit status" in completed.stdout


def test_selfcheck_module_prints_json():
    completed = run_module(str(example("naive-sigmoid")), "--json")

    assert completed.returncode == 1, completed.stderr
    assert '"grade_id": "sigmoid"' in completed.stdout
    assert '"passed": false' in completed.stdout


# Submission.run_cell ----------------------------------------------------------


def test_run_cell_after_notebook_cells():
    cells = [(0, "value = 41")]
    with Submission(cells, LIMITS) as submission:
        passed = submission.run_cell(1, "assert value + 1 == 42")
        failed = submission.run_cell(2, "x = 1\nassert value == 0, 'value is not 0'")

    assert passed is None
    assert failed is not None
    assert failed.type_name == "AssertionError"
    assert failed.message == "value is not 0"
    assert 'File "<cell 2>", line 2' in failed.traceback


def test_run_cell_timeout_then_fresh_worker():
    limits = Limits(cell_seconds=2.0, submission_seconds=60.0)
    with Submission([(0, "value = 41")], limits) as submission:
        hung = submission.run_cell(1, "while True:\n    pass")
        after = submission.run_cell(2, "assert value == 41")

    assert hung is not None
    assert hung.type_name == "TimeoutError"
    assert hung.message == "the cell did not finish within 2 s"
    assert after is None


def test_run_cell_process_exit():
    with Submission([(0, "import os")], LIMITS) as submission:
        ended = submission.run_cell(1, "os._exit(3)")

    assert ended is not None
    assert ended.type_name == "ProcessExit"
    assert "exited with status 3" in ended.message
