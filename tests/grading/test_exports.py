"""Tests for minitorch_grading.exports, through the real ``nbgrader export`` command."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from minitorch_grading import records
from minitorch_grading.exports import COLUMNS, Status, submission_status
from minitorch_grading.records import Record
from tests.conftest import ASSIGNMENT, REPO, nbgrader_environment

NOTEBOOKS = ["activations"]


def finished(student: str, status: str, *reasons: str) -> Record:
    record = Record(student, ASSIGNMENT)
    for reason in reasons:
        record.add(status, reason)
    record.finish()
    return record


def submit(course: Path, student: str, name: str = "activations.ipynb") -> Path:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / name).write_text("{}", encoding="utf-8")
    return folder


# submission_status --------------------------------------------------------------


def test_status_no_record_no_folder_missing(tmp_path: Path) -> None:
    status = submission_status(tmp_path, ASSIGNMENT, "s1", NOTEBOOKS)

    assert status == Status(records.MISSING, "no submission")


def test_status_folder_without_notebook_invalid(tmp_path: Path) -> None:
    submit(tmp_path, "s1", name="activations (1).ipynb")

    status = submission_status(tmp_path, ASSIGNMENT, "s1", NOTEBOOKS)

    assert status.status == records.INVALID
    assert status.reason == "the submission has no activations.ipynb"


def test_status_lists_every_absent_notebook(tmp_path: Path) -> None:
    submit(tmp_path, "s1", name="notes.txt")

    status = submission_status(tmp_path, ASSIGNMENT, "s1", ["part1", "part2"])

    assert status.reason == "the submission has no part1.ipynb, part2.ipynb"


def test_status_notebook_without_record_ungraded(tmp_path: Path) -> None:
    submit(tmp_path, "s1")

    status = submission_status(tmp_path, ASSIGNMENT, "s1", NOTEBOOKS)

    assert status == Status(records.UNGRADED, "submitted but not autograded yet")


def test_status_started_record_is_error(tmp_path: Path) -> None:
    submit(tmp_path, "s1")
    records.write_record(tmp_path, Record("s1", ASSIGNMENT))

    status = submission_status(tmp_path, ASSIGNMENT, "s1", NOTEBOOKS)

    assert status.status == records.ERROR
    assert "did not finish" in status.reason


def test_status_finished_record_joins_reasons(tmp_path: Path) -> None:
    submit(tmp_path, "s1")
    record = finished(
        "s1",
        records.ADJUSTED,
        "cell 'relu' was deleted; it was restored",
        "1 extra file(s) in the submission were ignored",
    )
    records.write_record(tmp_path, record)

    status = submission_status(tmp_path, ASSIGNMENT, "s1", NOTEBOOKS)

    assert status == Status(
        records.ADJUSTED,
        "cell 'relu' was deleted; it was restored; "
        "1 extra file(s) in the submission were ignored",
    )


def test_status_record_wins_over_folder(tmp_path: Path) -> None:
    # A record written by autograde counts even after the folder is removed.
    records.write_record(tmp_path, finished("s1", records.GRADED))

    status = submission_status(tmp_path, ASSIGNMENT, "s1", NOTEBOOKS)

    assert status == Status(records.GRADED, "")


# nbgrader export ------------------------------------------------------------------

COMMA_LAST = 'O"Brien, Jr.'
COMMA_FIRST = 'Ann, "Annie"'
SUBMITTED_AT = datetime(2024, 5, 1, 12, 30)
EXTRA_REASON = "2 extra file(s) in the submission were ignored: a.py, b.py"


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
    )


def give_points(gradebook: Gradebook, student: str, cell: str, points: float) -> None:
    grade = gradebook.find_grade(cell, "activations", ASSIGNMENT, student)
    grade.auto_score = points
    gradebook.db.commit()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Rows of ``nbgrader export`` on a course with one student per status."""
    course = tmp_path_factory.mktemp("course")
    for name in ("source", "release"):
        shutil.copytree(REPO / name, course / name)
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    generated = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert generated.returncode == 0, generated.stderr

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        gradebook.add_student("graded", last_name="Lovelace", first_name="Ada")
        gradebook.add_student("invalid", last_name="Hopper", first_name="Grace")
        gradebook.add_student("adjusted", last_name="Noether", first_name="Emmy")
        gradebook.add_student(
            "quoted", last_name=COMMA_LAST, first_name=COMMA_FIRST, email="a@b.c"
        )
        for student in ("graded", "invalid", "adjusted"):
            gradebook.add_submission(ASSIGNMENT, student, timestamp=SUBMITTED_AT)
        give_points(gradebook, "graded", "relu", 10.0)
        give_points(gradebook, "invalid", "relu", 10.0)
        give_points(gradebook, "adjusted", "tanh", 7.5)

    for student in ("graded", "invalid", "adjusted"):
        submit(course, student)
    submit(course, "unknown", name="activations (1).ipynb")
    records.write_record(course, finished("graded", records.GRADED))
    records.write_record(
        course,
        finished("invalid", records.INVALID, "activations.ipynb is empty (0 bytes)."),
    )
    records.write_record(course, finished("adjusted", records.ADJUSTED, EXTRA_REASON))

    completed = nbgrader(course, "export", "--to", "grades.csv")
    assert completed.returncode == 0, completed.stderr
    with open(course / "grades.csv", newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        rows = {row["student_id"]: row for row in reader}
        rows["<header>"] = dict.fromkeys(reader.fieldnames or [])
    return rows


def test_export_has_status_columns(exported) -> None:
    assert tuple(exported["<header>"]) == COLUMNS


def test_export_one_row_per_student(exported) -> None:
    students = sorted(name for name in exported if name != "<header>")

    assert students == ["adjusted", "graded", "invalid", "quoted", "unknown"]


def test_export_graded_keeps_score(exported) -> None:
    row = exported["graded"]

    assert row["status"] == records.GRADED
    assert row["reason"] == ""
    assert float(row["score"]) == 10.0
    # 59 autograded points and the 2-point written answer.
    assert float(row["max_score"]) == 61.0
    assert row["last_name"] == "Lovelace"


def test_export_invalid_scores_zero(exported) -> None:
    row = exported["invalid"]

    assert row["status"] == records.INVALID
    assert row["reason"] == "activations.ipynb is empty (0 bytes)."
    assert float(row["score"]) == 0.0
    assert float(row["raw_score"]) == 0.0
    assert row["timestamp"].startswith("2024-05-01 12:30:00")


def test_export_reason_with_commas_one_column(exported) -> None:
    row = exported["adjusted"]

    assert row["status"] == records.ADJUSTED
    assert row["reason"] == EXTRA_REASON
    assert float(row["score"]) == 7.5


def test_export_quoted_name_stays_in_column(exported) -> None:
    row = exported["quoted"]

    assert row["last_name"] == COMMA_LAST
    assert row["first_name"] == COMMA_FIRST
    assert row["email"] == "a@b.c"
    assert row["status"] == records.MISSING
    assert float(row["score"]) == 0.0


def test_export_unknown_student_gets_row(exported) -> None:
    row = exported["unknown"]

    assert row["status"] == records.INVALID
    assert row["reason"] == "the submission has no activations.ipynb"
    assert row["last_name"] == ""
    assert row["assignment"] == ASSIGNMENT
