"""Cheating and crashing submissions gain nothing and harm no one else.

An honest student is graded first. Then every submission built by
``examples/build_adversarial.py`` is graded in the same course with
``nbgrader autograde``. Each must score the points its table lists, never
more than the plain ``zeros`` submission. The honest student's gradebook row
and autograded notebook must be unchanged afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from tests.conftest import (
    ASSIGNMENT,
    REPO,
    assert_builder_output_committed,
    make_course,
    nbgrader_environment,
)

ADVERSARIAL = REPO / "examples" / "adversarial"
CASES = json.loads((ADVERSARIAL / "attacks.json").read_text())
MARKER = "minitorch-adversarial-marker"

pytestmark = pytest.mark.slow


def autograde(course: Path) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT],
        cwd=course,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    return completed.stdout + completed.stderr


def submit(course: Path, student: str, notebook: Path) -> None:
    target = course / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True)
    shutil.copy(notebook, target / f"{ASSIGNMENT}.ipynb")


def grades(course: Path, student: str) -> dict[str, tuple]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        return {
            grade.name: (grade.auto_score, grade.manual_score, grade.needs_manual_grade)
            for notebook in submission.notebooks
            for grade in notebook.grades
        }


def autograded_score(course: Path, student: str) -> float:
    return sum(
        score or 0.0
        for name, (score, _, _) in grades(course, student).items()
        if name != "relu_kink_answer"
    )


def marked_processes() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if MARKER.encode() in command:
                pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory):
    """A course graded with the honest student first, then every attack."""
    course = make_course(tmp_path_factory.mktemp("adversarial") / "course")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "generate_assignment",
            ASSIGNMENT,
            "--force",
        ],
        cwd=course,
        env=nbgrader_environment(),
        capture_output=True,
        check=True,
    )
    submit(
        course,
        "honest",
        REPO / "examples" / "submissions" / "correct" / "activations.ipynb",
    )
    autograde(course)
    honest_notebook = (
        course / "autograded" / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    )
    before = (grades(course, "honest"), honest_notebook.read_bytes())

    for name in CASES:
        submit(course, name, ADVERSARIAL / name / "activations.ipynb")
    log = autograde(course)
    after = (grades(course, "honest"), honest_notebook.read_bytes())
    return course, before, after, log


@pytest.mark.parametrize("name", sorted(CASES))
def test_adversarial_case_scores_expected(attacked, name: str):
    course, _, _, _ = attacked

    assert autograded_score(course, name) == CASES[name]["expected_score"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_adversarial_case_gains_nothing(name: str):
    assert CASES[name]["expected_score"] <= CASES["zeros"]["expected_score"]


def test_adversarial_honest_grades_unchanged(attacked):
    _, before, after, _ = attacked

    assert after[0] == before[0]


def test_adversarial_honest_notebook_unchanged(attacked):
    _, before, after, _ = attacked

    assert after[1] == before[1]


def test_adversarial_honest_student_full_marks(attacked):
    course, _, _, _ = attacked

    assert autograded_score(course, "honest") == 59


def test_adversarial_leaves_no_process_behind(attacked):
    deadline = time.monotonic() + 5
    while marked_processes() and time.monotonic() < deadline:
        time.sleep(0.1)

    assert marked_processes() == []


def test_adversarial_log_shows_no_grader_fault(attacked):
    _, _, _, log = attacked

    assert "failed inside the grader" not in log


def test_adversarial_examples_match_their_builder(tmp_path: Path):
    assert_builder_output_committed(
        REPO / "examples" / "build_adversarial.py", ADVERSARIAL, tmp_path
    )


def test_adversarial_leaves_no_worker_cgroup(attacked):
    # Each worker's pids cgroup is removed once its processes are killed. Only
    # groups made since this course was set up count, and only empty ones: a
    # group with processes belongs to a worker of another run that is going on.
    course, _, _, _ = attacked
    started = (course / "nbgrader_config.py").stat().st_mtime
    leftover = [
        group
        for group in Path("/sys/fs/cgroup/pids").glob("minitorch-worker-*")
        if group.stat().st_mtime >= started
        and not (group / "cgroup.procs").read_text().split()
    ]

    assert leftover == []
