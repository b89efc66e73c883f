"""Damaged notebooks get a recorded reason and an export status, and the batch goes on.

Every case built by ``examples/build_bad_notebooks.py`` is submitted beside an
honest student and graded in one ``nbgrader autograde`` run. The grades CSV
from ``nbgrader export`` must show each case's status, score and reason.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minitorch_grading import records
from tests.conftest import (
    ASSIGNMENT,
    REPO,
    assert_builder_output_committed,
    make_course,
    nbgrader_environment,
)

BAD = REPO / "examples" / "bad_notebooks"
CASES = json.loads((BAD / "cases.json").read_text())
HONEST = REPO / "examples" / "submissions" / "correct" / "activations.ipynb"


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
    )


def submit_case(course: Path, name: str) -> None:
    target = course / "submitted" / name / ASSIGNMENT
    target.mkdir(parents=True)
    case = CASES[name]
    if "symlink_to" in case:
        os.symlink(course / case["symlink_to"], target / f"{ASSIGNMENT}.ipynb")
    else:
        shutil.copytree(BAD / name, target, dirs_exist_ok=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    """A course with every bad notebook and an honest student, graded and exported."""
    course = make_course(tmp_path_factory.mktemp("bad") / "course")
    generated = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert generated.returncode == 0, generated.stderr[-3000:]
    honest = course / "submitted" / "honest" / ASSIGNMENT
    honest.mkdir(parents=True)
    shutil.copy(HONEST, honest / f"{ASSIGNMENT}.ipynb")
    for name in CASES:
        submit_case(course, name)

    autograded = nbgrader(course, "autograde", ASSIGNMENT)
    exported = nbgrader(course, "export")
    assert exported.returncode == 0, exported.stderr[-3000:]
    with open(course / "grades.csv", newline="", encoding="utf-8") as stream:
        rows = {row["student_id"]: row for row in csv.DictReader(stream)}
    return course, autograded, rows


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_notebook_status(graded, name: str):
    _, _, rows = graded

    assert rows[name]["status"] == CASES[name]["expected_status"], rows[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_notebook_score(graded, name: str):
    _, _, rows = graded

    assert float(rows[name]["score"]) == CASES[name]["expected_score"], rows[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_notebook_reason(graded, name: str):
    _, _, rows = graded

    assert CASES[name]["reason_contains"] in rows[name]["reason"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_notebook_record_finished(graded, name: str):
    course, _, _ = graded

    record = records.read_record(course, ASSIGNMENT, name)

    assert record is not None
    assert record.status == CASES[name]["expected_status"]


@pytest.mark.slow
def test_bad_notebooks_honest_student_graded(graded):
    _, _, rows = graded

    assert rows["honest"]["status"] == "graded"
    assert float(rows["honest"]["score"]) == 59.0
    assert rows["honest"]["reason"] == ""


@pytest.mark.slow
def test_bad_notebooks_batch_went_on(graded):
    _, autograded, rows = graded
    invalid = [
        name for name, case in CASES.items() if case["expected_status"] == "invalid"
    ]

    # nbgrader exits 1 because some submissions could not be read.
    assert autograded.returncode == 1
    assert set(rows) == {"honest", *CASES}
    for name in invalid:
        assert f"for student '{name}'" in autograded.stderr


@pytest.mark.slow
def test_bad_notebooks_invalid_not_autograded(graded):
    course, _, _ = graded

    for name, case in CASES.items():
        notebook = course / "autograded" / name / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert notebook.exists() == (case["expected_status"] != "invalid"), name


@pytest.mark.slow
def test_bad_notebooks_source_not_graded_through_link(graded):
    course, _, rows = graded

    assert float(rows["symlink"]["raw_score"]) == 0.0
    assert not (course / "autograded" / "symlink").exists() or not any(
        (course / "autograded" / "symlink").rglob("*.ipynb")
    )


def test_bad_notebooks_match_their_builder(tmp_path: Path):
    assert_builder_output_committed(
        REPO / "examples" / "build_bad_notebooks.py", BAD, tmp_path
    )
