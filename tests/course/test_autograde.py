"""End to end: release, collect, `nbgrader autograde`, feedback and export.

One course directory is graded once for the whole module, which takes a few
minutes on two cores. The tests then read its gradebook, notebooks, feedback
and exports.
"""

from __future__ import annotations

import csv
import html
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from minitorch_grading import records
from tests.conftest import (
    ASSIGNMENT,
    REPO,
    assert_builder_output_committed,
    error_outputs,
    make_course,
    nbgrader_environment,
)
from tests.course.test_release import hidden_check_lines, solution_lines

CANVAS = json.loads((REPO / "examples" / "canvas" / "sources.json").read_text())
EXPECTED = json.loads(
    (REPO / "examples" / "submissions" / "expected_scores.json").read_text()
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A course with every bundled submission autograded; returns (course, log)."""
    course = make_course(tmp_path_factory.mktemp("graded") / "course")
    completed = subprocess.run(
        [sys.executable, "-m", "minitorch_grading", "--course", str(course), "demo"],
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
    )
    log = completed.stdout + completed.stderr
    assert completed.returncode == 0, log[-5000:]
    feedback = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT],
        cwd=course,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
    )
    assert feedback.returncode == 0, feedback.stderr[-5000:]
    return course, log + feedback.stdout + feedback.stderr


def autograded_cell_output(course: Path, student: str, grade_id: str) -> str:
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return "".join(o.get("text", "") for o in cell.outputs)
    raise AssertionError(f"{student} has no cell {grade_id}")


def test_autograde_scores_match_expected(graded):
    course, _ = graded
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in EXPECTED:
            submission = gradebook.find_submission(ASSIGNMENT, student)
            scores[student] = sum(
                grade.auto_score or 0.0
                for notebook in submission.notebooks
                for grade in notebook.grades
                if grade.cell.cell_type == "code"
            )

    assert scores == {name: entry["expected_score"] for name, entry in EXPECTED.items()}


def test_autograde_hanging_cell_reported_on_that_cell(graded):
    course, _ = graded
    path = (
        course
        / "autograded"
        / "hanging-class-body"
        / ASSIGNMENT
        / f"{ASSIGNMENT}.ipynb"
    )
    errors = error_outputs(nbformat.read(path, as_version=4))

    assert [error.ename for error in errors] == ["TimeoutError"]
    assert "did not finish within 30 s" in errors[0].evalue


def test_autograde_covers_ten_faulty_submissions():
    faulty = [
        name
        for name, entry in EXPECTED.items()
        if entry["expected_score"] not in (0, 59)
    ]

    assert len(faulty) >= 10


def test_autograde_written_answer_waits_for_manual_grading(graded):
    course, _ = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade(
            "relu_kink_answer", ASSIGNMENT, ASSIGNMENT, "correct"
        )

        assert grade.needs_manual_grade


def test_autograde_demo_prints_score_table(graded):
    _, log = graded

    total = len(EXPECTED) + len(CANVAS)
    assert f"All {total} submissions earned their expected scores." in log
    assert "naive-sigmoid" in log


def test_export_writes_every_student(graded):
    course, _ = graded
    with open(course / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}

    assert set(rows) == set(EXPECTED) | set(CANVAS)
    assert float(rows["untouched-release"]["raw_score"]) == 0.0
    assert (
        float(rows["naive-sigmoid"]["raw_score"])
        == EXPECTED["naive-sigmoid"]["expected_score"]
    )


@pytest.mark.parametrize(
    ("student", "grade_id", "message"),
    [
        ("renamed-class", "gelu", "It defines Gelu: rename it to GELU."),
        ("gelu-exact-erf", "gelu", "Your values match the exact GELU"),
        (
            "python-loop",
            "tanh",
            "Use whole-array numpy operations instead of a Python loop.",
        ),
        (
            "backward-uses-first-input",
            "sigmoid",
            "The result matches the first input instead",
        ),
        ("naive-sigmoid", "sigmoid", "raised a warning: RuntimeWarning: overflow"),
        ("relu-derivative-one-at-zero", "relu", "input x = 0, grad_output = "),
        ("backward-writes-grad-output", "tanh", "Tanh.backward modified grad_output"),
        ("forward-modifies-input", "relu", "ReLU.forward modified its input"),
        ("float32-to-float64", "gelu", "returned dtype float64; the output must keep"),
        (
            "leaky-relu-fixed-slope",
            "leaky_relu",
            "LeakyReLU(negative_slope=0.2).forward",
        ),
        (
            "abstract-forward-returns-none",
            "activation_base",
            "Activation.forward returned a",
        ),
        ("undertrained-network", "spiral_training", "at least 90% is required"),
        (
            "untouched-release",
            "relu",
            'the cell starting "class Activation(Module):" raised NotImplementedError',
        ),
        ("hanging-class-body", "tanh", 'the cell starting "class Tanh(Activation):"'),
        ("plt-in-training", "spiral_training", "plt is defined in a plotting cell"),
        ("backward-without-grad-output", "sigmoid", "multiply it by grad_output"),
        ("parameters-empty-array", "activation_base", "so it must return []."),
    ],
)
def test_autograde_message_explains_mistake(graded, student, grade_id, message):
    course, _ = graded

    assert message in autograded_cell_output(course, student, grade_id)


def test_autograde_stderr_and_warnings_keep_full_marks(graded):
    course, _ = graded
    output = autograded_cell_output(course, "stderr-and-warnings", "relu")

    assert output.startswith("Hidden checks: 10 of 10 points")


def test_feedback_written_for_every_student(graded):
    course, _ = graded

    for student in EXPECTED:
        assert (
            course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        ).is_file()


def test_feedback_contains_no_hidden_check_code(graded):
    course, _ = graded
    lines = hidden_check_lines()
    pages = sorted((course / "feedback").rglob("*.html"))

    assert len(pages) == len(EXPECTED) + len(CANVAS)
    for page in pages:
        text = page.read_text()
        leaked = sorted(line for line in lines if line in text)
        assert leaked == [], page


def test_feedback_lists_every_check_with_points_and_message(graded):
    course, _ = graded
    page = course / "feedback" / "naive-sigmoid" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    text = html.unescape(page.read_text())
    record = records.read_record(course, ASSIGNMENT, "naive-sigmoid")

    for check in record.checks:
        points = "1 point" if check.points == 1 else f"{check.points:g} points"
        assert f"{check.description} ({points})" in text, check.description
    failed = [check for check in record.checks if not check.passed]
    assert failed
    for check in failed:
        assert check.message.splitlines()[0] in text, check.description


def test_feedback_of_stub_contains_no_solution(graded):
    course, _ = graded
    page = course / "feedback" / "untouched-release" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    text = page.read_text()

    leaked = sorted(line for line in solution_lines() if line in text)
    assert leaked == []


def test_grading_log_contains_no_hidden_check_code(graded):
    _, log = graded

    leaked = sorted(line for line in hidden_check_lines() if line in log)
    assert leaked == []


def test_examples_match_their_builder(tmp_path: Path):
    assert_builder_output_committed(
        REPO / "examples" / "build_examples.py",
        REPO / "examples" / "submissions",
        tmp_path,
    )


def test_demo_imports_canvas_students(graded):
    course, _ = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        names = {student.id: student.first_name for student in gradebook.students}

    for student in CANVAS:
        assert (course / "submitted" / student / ASSIGNMENT).is_dir(), student
    assert names["24001"] == "Łukasz"


def test_demo_writes_class_report(graded):
    course, _ = graded
    folder = course / "reports" / ASSIGNMENT

    assert (folder / "report.html").is_file()
    assert (folder / "scores.png").stat().st_size > 10_000


def test_demo_writes_gradescope_results(graded):
    course, _ = graded
    folder = course / "gradescope" / ASSIGNMENT

    for student in [*EXPECTED, *CANVAS]:
        results = json.loads((folder / student / "results.json").read_text())
        assert "score" in results, student
