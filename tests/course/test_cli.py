"""The ``minitorch-course`` command, run as a program on real courses."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ASSIGNMENT, REPO, make_course, nbgrader_environment

SUBCOMMANDS = (
    "release",
    "collect",
    "grade",
    "feedback",
    "export",
    "report",
    "check",
    "demo",
)
EXAMPLES = REPO / "examples" / "submissions"
EXPECTED = json.loads((EXAMPLES / "expected_scores.json").read_text())


def course_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "minitorch_grading", *args],
        cwd=cwd,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
    )


def test_cli_help_lists_subcommands(tmp_path: Path):
    completed = course_command("--help", cwd=tmp_path)

    assert completed.returncode == 0
    for name in SUBCOMMANDS:
        assert name in completed.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_cli_subcommand_help(tmp_path: Path, name: str):
    completed = course_command(name, "--help", cwd=tmp_path)

    assert completed.returncode == 0
    assert f"minitorch-course {name}" in completed.stdout
    assert "-h, --help" in completed.stdout


def test_cli_every_option_has_help():
    from minitorch_grading.cli import build_parser

    parser = build_parser()
    subparsers = next(
        action for action in parser._actions if action.dest == "command"
    ).choices
    for name, subparser in subparsers.items():
        for action in subparser._actions:
            assert action.help, f"{name} {action.dest} has no help text"


def test_cli_rejects_folder_without_config(tmp_path: Path):
    completed = course_command("grade", cwd=tmp_path)

    assert completed.returncode == 2
    assert "not a course directory" in completed.stderr
    assert "nbgrader_config.py" in completed.stderr
    assert not (tmp_path / "gradebook.db").exists()


def test_cli_requires_subcommand(tmp_path: Path):
    completed = course_command(cwd=tmp_path)

    assert completed.returncode == 2
    assert "COMMAND" in completed.stderr


def test_cli_collect_missing_folder(course: Path):
    completed = course_command(
        "collect", "--folder", str(course / "no-such-folder"), cwd=course
    )

    assert completed.returncode == 2
    assert "no-such-folder" in completed.stderr
    assert "is not a folder" in completed.stderr


def test_cli_collect_before_release(tmp_path: Path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course)

    completed = course_command("collect", "--folder", str(EXAMPLES), cwd=course)

    assert completed.returncode == 2
    assert "minitorch-course release" in completed.stderr


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory):
    """A course taken through release, collect, grade, feedback and export."""
    course = make_course(tmp_path_factory.mktemp("cli") / "course")
    picked = tmp_path_factory.mktemp("picked")
    for name in ("correct", "naive-sigmoid"):
        shutil.copytree(EXAMPLES / name, picked / name)
    (picked / "broken").mkdir()
    (picked / "broken" / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [')

    steps = {
        "release": course_command("release", "--force", cwd=course),
        "collect": course_command("collect", "--folder", str(picked), cwd=course),
        "grade": course_command("grade", cwd=course),
        "feedback": course_command("feedback", cwd=course),
        "export": course_command(
            "export",
            "--to",
            "out/grades.csv",
            "--gradescope",
            "out/gradescope",
            "--autograder-zip",
            "out/autograder.zip",
            cwd=course,
        ),
        "report": course_command("report", cwd=course),
    }
    return course, steps


@pytest.mark.slow
@pytest.mark.parametrize(
    "step", ["release", "collect", "grade", "feedback", "export", "report"]
)
def test_cli_cycle_step_succeeds(cycle, step: str):
    _, steps = cycle

    assert steps[step].returncode == 0, steps[step].stderr[-3000:]


@pytest.mark.slow
def test_cli_grade_prints_status_summary(cycle):
    _, steps = cycle
    output = steps["grade"].stdout

    assert "Graded 3 submission(s)" in output
    assert "Status of 3 submission(s)" in output
    assert "2 graded" in output
    assert "1 invalid" in output
    assert "broken: invalid: activations.ipynb is not valid JSON" in output


@pytest.mark.slow
def test_cli_feedback_written(cycle):
    course, _ = cycle

    for student in ("correct", "naive-sigmoid"):
        pages = list((course / "feedback" / student / ASSIGNMENT).glob("*.html"))
        assert len(pages) == 1, student


@pytest.mark.slow
def test_cli_export_scores_and_statuses(cycle):
    course, _ = cycle
    with open(course / "out" / "grades.csv", newline="", encoding="utf-8") as stream:
        rows = {row["student_id"]: row for row in csv.DictReader(stream)}

    assert float(rows["correct"]["score"]) == EXPECTED["correct"]["expected_score"]
    assert (
        float(rows["naive-sigmoid"]["score"])
        == EXPECTED["naive-sigmoid"]["expected_score"]
    )
    assert rows["broken"]["status"] == "invalid"
    assert rows["correct"]["status"] == "graded"


@pytest.mark.slow
def test_cli_collect_keeps_existing_without_force(cycle, tmp_path: Path):
    course, _ = cycle
    replacement = tmp_path / "again" / "correct"
    replacement.mkdir(parents=True)
    (replacement / f"{ASSIGNMENT}.ipynb").write_text("{}")

    completed = course_command(
        "collect", "--folder", str(tmp_path / "again"), cwd=course
    )

    assert completed.returncode == 0
    assert "Collected 0 submission(s)" in completed.stdout
    submitted = course / "submitted" / "correct" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert submitted.read_text() != "{}"


@pytest.mark.slow
def test_cli_collect_canvas_zip(course: Path):
    assert course_command("release", "--force", cwd=course).returncode == 0

    completed = course_command(
        "collect",
        "--canvas",
        str(REPO / "examples" / "canvas" / "activations-submissions.zip"),
        "--roster",
        str(REPO / "examples" / "canvas" / "roster.csv"),
        cwd=course,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    submitted = sorted(p.parent.name for p in (course / "submitted").glob("*/*"))
    assert len(submitted) >= 4


@pytest.mark.slow
def test_cli_check_passes_solution_anywhere(tmp_path: Path):
    completed = course_command(
        "check", str(EXAMPLES / "correct" / f"{ASSIGNMENT}.ipynb"), cwd=tmp_path
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr[-2000:]
    assert not (tmp_path / "gradebook.db").exists()


def test_cli_check_with_interpreter_found_through_relative_path():
    # Run as `python` found through the relative PATH entry "bin", as after
    # PATH=.venv/bin:$PATH, so that sys.executable is a relative path that
    # names nothing from any other working directory.
    interpreter = Path(sys.executable)
    env = nbgrader_environment()
    env["PATH"] = interpreter.parent.name + os.pathsep + env["PATH"]
    completed = subprocess.run(
        [
            interpreter.name,
            "-c",
            "import sys; print(sys.executable, file=sys.stderr); "
            "from minitorch_grading.cli import main; sys.exit(main())",
            "check",
            str(EXAMPLES / "correct" / f"{ASSIGNMENT}.ipynb"),
        ],
        cwd=interpreter.parent.parent,
        env=env,
        capture_output=True,
        text=True,
    )

    assert not Path(completed.stderr.splitlines()[0]).is_absolute()
    assert completed.returncode == 0, completed.stdout + completed.stderr[-2000:]
    assert "7 of 7 visible checks passed" in completed.stdout


@pytest.mark.slow
def test_cli_check_fails_stub(tmp_path: Path):
    completed = course_command(
        "check",
        str(EXAMPLES / "untouched-release" / f"{ASSIGNMENT}.ipynb"),
        cwd=tmp_path,
    )

    assert completed.returncode == 1


def test_cli_check_unreadable_notebook(tmp_path: Path):
    broken = tmp_path / f"{ASSIGNMENT}.ipynb"
    broken.write_text("{")

    completed = course_command("check", str(broken), cwd=tmp_path)

    assert completed.returncode == 2
    assert str(broken) in completed.stderr or broken.name in completed.stderr


@pytest.mark.slow
def test_cli_report_written(cycle):
    course, _ = cycle
    folder = course / "reports" / ASSIGNMENT

    assert (folder / "report.html").is_file()
    assert sorted(path.name for path in folder.glob("*.png")) == [
        "check_pass_rates.png",
        "scores.png",
    ]


def test_cli_report_before_grading(course: Path):
    completed = course_command("report", cwd=course)

    assert completed.returncode == 2
    assert "nbgrader autograde" in completed.stderr


@pytest.mark.slow
def test_cli_export_gradescope_results(cycle):
    course, _ = cycle
    results = json.loads(
        (course / "out" / "gradescope" / "correct" / "results.json").read_text()
    )

    assert results["score"] == EXPECTED["correct"]["expected_score"]
    assert all(test["status"] == "passed" for test in results["tests"])


@pytest.mark.slow
def test_cli_export_autograder_zip(cycle):
    course, _ = cycle

    with zipfile.ZipFile(course / "out" / "autograder.zip") as archive:
        names = set(archive.namelist())

    assert "setup.sh" in names
    assert "run_autograder" in names
    assert not any(name.startswith("source/") for name in names)


@pytest.mark.slow
def test_cli_grade_again_skips_unchanged(cycle):
    course, _ = cycle

    completed = course_command("grade", "--no-progress", cwd=course)

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Graded 0 submission(s)" in completed.stdout
    assert "skipped 3 unchanged" in completed.stdout
