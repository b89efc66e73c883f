"""Batch grading gives what `nbgrader autograde` gives, and resumes after a kill.

The slow tests grade a handful of bundled submissions: one course with
`nbgrader autograde`, a copy of it with `grade_all`, and then compare the
gradebooks, the autograded notebooks and the status records.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from minitorch_grading import batch, records
from tests.conftest import ASSIGNMENT, REPO, make_course, nbgrader_environment

EXAMPLES = REPO / "examples"
EXPECTED = {
    **{
        name: entry["expected_score"]
        for name, entry in json.loads(
            (EXAMPLES / "submissions" / "expected_scores.json").read_text()
        ).items()
    },
    **{
        name: entry["expected_score"]
        for name, entry in json.loads(
            (EXAMPLES / "adversarial" / "attacks.json").read_text()
        ).items()
    },
}

# Student id -> bundled notebook: full marks, typical mistakes, the untouched
# stub, a submission that ends Python in a check, and an unreadable file.
SUBMISSIONS = {
    "correct": EXAMPLES / "submissions" / "correct",
    "relu-derivative-one-at-zero": EXAMPLES
    / "submissions"
    / "relu-derivative-one-at-zero",
    "renamed-class": EXAMPLES / "submissions" / "renamed-class",
    "untouched-release": EXAMPLES / "submissions" / "untouched-release",
    "zeros": EXAMPLES / "adversarial" / "zeros",
    "exit-in-forward": EXAMPLES / "adversarial" / "exit-in-forward",
    "truncated-json": EXAMPLES / "bad_notebooks" / "truncated-json",
}
DUE = "2030-01-01 12:00:00"


def run_nbgrader(course: Path, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
    )
    log = completed.stdout + completed.stderr
    assert completed.returncode in (0, 1), log[-5000:]
    return log


def submit(course: Path, student: str, source: Path, timestamp: str) -> None:
    target = course / "submitted" / student / ASSIGNMENT
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy(source / f"{ASSIGNMENT}.ipynb", target / f"{ASSIGNMENT}.ipynb")
    (target / "timestamp.txt").write_text(timestamp + "\n")


def copy_course(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def gradebook_rows(course: Path) -> dict[str, dict]:
    """Everything autograding stores for each student, from the gradebook."""
    rows = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for submission in gradebook.find_assignment(ASSIGNMENT).submissions:
            notebooks = {}
            for notebook in submission.notebooks:
                notebooks[notebook.name] = {
                    "grades": {
                        grade.name: (
                            grade.auto_score,
                            grade.manual_score,
                            grade.needs_manual_grade,
                        )
                        for grade in notebook.grades
                    },
                    "comments": {
                        comment.name: comment.auto_comment
                        for comment in notebook.comments
                    },
                    "late_penalty": notebook.late_submission_penalty,
                }
            rows[submission.student.id] = {
                "timestamp": submission.timestamp,
                "seconds_late": submission.total_seconds_late,
                "notebooks": notebooks,
            }
    return rows


def autograded_score(rows: dict, student: str) -> float:
    return sum(
        score or 0.0
        for name, (score, _, _) in rows[student]["notebooks"][ASSIGNMENT][
            "grades"
        ].items()
        if name != "relu_kink_answer"
    )


def record_fields(course: Path, student: str) -> dict:
    record = records.read_record(course, ASSIGNMENT, student)
    assert record is not None, student
    data = record.to_json()
    data.pop("fingerprint")
    return data


def autograded_notebook(course: Path, student: str) -> bytes | None:
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    return path.read_bytes() if path.exists() else None


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course with the assignment released, a due date and no submissions."""
    course = make_course(tmp_path_factory.mktemp("released") / "course")
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_assignment(ASSIGNMENT, duedate=DUE)
    return course


@pytest.fixture(scope="module")
def graded_both_ways(
    released: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, batch.BatchReport]:
    """(course graded by nbgrader autograde, copy graded by grade_all, report)."""
    base = tmp_path_factory.mktemp("both")
    stock = copy_course(released, base / "stock")
    for index, (student, source) in enumerate(SUBMISSIONS.items()):
        # One submission is a day late, the others on time.
        day = 2 if index == 1 else 1
        timestamp = f"2030-01-0{day} 1{index}:00:00.000000 UTC"
        submit(stock, student, source, timestamp)
    parallel = copy_course(stock, base / "parallel")

    run_nbgrader(stock, "autograde", ASSIGNMENT)
    report = batch.grade_all(parallel, ASSIGNMENT, workers=2, progress=False)
    return stock, parallel, report


@pytest.mark.slow
def test_batch_gradebook_matches_nbgrader(graded_both_ways):
    stock, parallel, _ = graded_both_ways

    expected = gradebook_rows(stock)
    actual = gradebook_rows(parallel)
    assert sorted(actual) == sorted(SUBMISSIONS)
    for student in SUBMISSIONS:
        assert actual[student] == expected[student], student


@pytest.mark.slow
def test_batch_scores_match_expected(graded_both_ways):
    _, parallel, _ = graded_both_ways
    rows = gradebook_rows(parallel)

    for student in SUBMISSIONS:
        if student in EXPECTED:
            assert autograded_score(rows, student) == EXPECTED[student], student
    assert rows["relu-derivative-one-at-zero"]["seconds_late"] > 0


@pytest.mark.slow
def test_batch_records_match_nbgrader(graded_both_ways):
    stock, parallel, _ = graded_both_ways

    for student in SUBMISSIONS:
        assert record_fields(parallel, student) == record_fields(stock, student)
    assert record_fields(parallel, "truncated-json")["status"] == records.INVALID
    assert record_fields(parallel, "exit-in-forward")["status"] == records.CRASHED


@pytest.mark.slow
def test_batch_notebooks_match_nbgrader(graded_both_ways):
    stock, parallel, _ = graded_both_ways

    for student in SUBMISSIONS:
        assert autograded_notebook(parallel, student) == autograded_notebook(
            stock, student
        ), student


@pytest.mark.slow
def test_batch_report_lists_every_student(graded_both_ways):
    _, _, report = graded_both_ways
    by_student = {outcome.student: outcome for outcome in report.outcomes}

    assert report.graded == sorted(SUBMISSIONS)
    assert report.skipped == []
    assert by_student["correct"].status == records.GRADED
    assert by_student["correct"].score == 59.0
    assert by_student["truncated-json"].status == records.INVALID


@pytest.mark.slow
def test_batch_rerun_skips_unchanged(graded_both_ways, tmp_path: Path):
    _, parallel, _ = graded_both_ways
    course = copy_course(parallel, tmp_path / "course")
    before = gradebook_rows(course)
    submit(
        course,
        "untouched-release",
        EXAMPLES / "submissions" / "renamed-class",
        "2030-01-01 10:00:00.000000 UTC",
    )

    report = batch.grade_all(course, ASSIGNMENT, workers=1, progress=False)

    after = gradebook_rows(course)
    assert report.graded == ["untouched-release"]
    assert sorted(report.skipped) == sorted(set(SUBMISSIONS) - {"untouched-release"})
    assert autograded_score(after, "untouched-release") == EXPECTED["renamed-class"]
    for student in set(SUBMISSIONS) - {"untouched-release"}:
        assert after[student] == before[student], student


def wait_for_fingerprint(directory: Path, process: subprocess.Popen) -> list[str]:
    """Poll the status records until one is finished; return whose are."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, "the batch ended before it could be killed"
        finished = []
        for path in directory.glob("*.json"):
            try:
                data = json.loads(path.read_text())
            except (json.JSONDecodeError, OSError):
                continue  # replaced while being read
            if data.get("fingerprint"):
                finished.append(data["student"])
        if finished:
            return finished
        time.sleep(0.2)
    raise AssertionError("no submission finished within 300 s")


@pytest.mark.slow
def test_batch_resumes_after_sigkill(released: Path, tmp_path: Path):
    course = copy_course(released, tmp_path / "course")
    students = ["untouched-release", "renamed-class", "correct"]
    for student in students:
        submit(course, student, SUBMISSIONS[student], "2030-01-01 10:00:00 UTC")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from minitorch_grading.batch import grade_all\n"
        "if __name__ == '__main__':\n"
        "    grade_all(Path(sys.argv[1]), 'activations', workers=1, progress=False)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(course)],
        env=nbgrader_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        finished = wait_for_fingerprint(
            course / records.STATUS_DIRECTORY / ASSIGNMENT, process
        )
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    report = batch.grade_all(course, ASSIGNMENT, workers=2, progress=False)

    assert finished
    assert sorted(report.skipped) == sorted(finished)
    assert sorted(report.graded) == sorted(set(students) - set(finished))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submitted = [
            submission.student.id
            for submission in gradebook.find_assignment(ASSIGNMENT).submissions
        ]
    assert sorted(submitted) == sorted(students)
    rows = gradebook_rows(course)
    for student in students:
        assert autograded_score(rows, student) == EXPECTED[student], student
        record = records.read_record(course, ASSIGNMENT, student)
        assert record.status == records.GRADED, student
        assert record.fingerprint, student


@pytest.mark.slow
def test_batch_on_dask_matches_local(graded_both_ways, tmp_path: Path):
    distributed = pytest.importorskip("distributed")
    _, parallel, _ = graded_both_ways
    students = ["correct", "renamed-class", "exit-in-forward"]
    course = copy_course(parallel, tmp_path / "course")
    shutil.rmtree(course / "autograded")
    shutil.rmtree(course / records.STATUS_DIRECTORY)
    for student in set(SUBMISSIONS) - set(students):
        shutil.rmtree(course / "submitted" / student)

    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        report = batch.grade_all(
            course, ASSIGNMENT, scheduler=cluster.scheduler_address, progress=False
        )

    assert report.graded == sorted(students)
    for student in students:
        assert record_fields(course, student) == record_fields(parallel, student)
        assert autograded_notebook(course, student) == autograded_notebook(
            parallel, student
        )


def test_fingerprint_same_for_same_files(tmp_path: Path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "activations.ipynb").write_text("{}")

    first = batch.submission_fingerprint(tmp_path / "one", "context")
    second = batch.submission_fingerprint(tmp_path / "two", "context")

    assert first == second
    assert batch.submission_fingerprint(tmp_path / "one", "other") != first


def test_fingerprint_changes_with_content(tmp_path: Path):
    notebook = tmp_path / "activations.ipynb"
    notebook.write_text("{}")
    before = batch.submission_fingerprint(tmp_path, "context")

    notebook.write_text("{ }")

    assert batch.submission_fingerprint(tmp_path, "context") != before


def test_fingerprint_never_follows_links(tmp_path: Path):
    (tmp_path / "activations.ipynb").write_text("{}")
    (tmp_path / "endless").symlink_to("/dev/zero")

    fingerprint = batch.submission_fingerprint(tmp_path, "context")

    (tmp_path / "endless").unlink()
    (tmp_path / "endless").symlink_to("/dev/null")
    assert batch.submission_fingerprint(tmp_path, "context") != fingerprint


def test_grade_submission_reports_invalid_notebook():
    spec = {
        "student": "truncated-json",
        "checks": ASSIGNMENT,
        "seed": 1,
        "skip_tags": ["plot"],
        "limits": {},
        "notebooks": [
            {
                "name": ASSIGNMENT,
                "path": str(SUBMISSIONS["truncated-json"] / f"{ASSIGNMENT}.ipynb"),
                "released": [],
            }
        ],
    }

    result = json.loads(batch.grade_submission(json.dumps(spec)))

    assert "is not valid JSON" in result["notebooks"][ASSIGNMENT]["invalid"]


def test_grade_all_rejects_unreleased_assignment(course: Path):
    submit(course, "correct", SUBMISSIONS["correct"], "2030-01-01 10:00:00 UTC")

    with pytest.raises(ValueError, match="generate_assignment"):
        batch.grade_all(course, ASSIGNMENT, progress=False)


def test_windowed_keeps_at_most_window_in_flight():
    import concurrent.futures

    in_flight: set[str] = set()
    max_in_flight = 0

    def submit(spec: str) -> concurrent.futures.Future:
        nonlocal max_in_flight
        in_flight.add(spec)
        max_in_flight = max(max_in_flight, len(in_flight))
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_result(spec.upper())
        return future

    def wait_first(futures: list) -> list:
        # One at a time, in submission order.
        first = futures[0]
        in_flight.discard(first.result().lower())
        return [first]

    specs = ((f"s{number}", f"spec{number}") for number in range(10))

    results = list(
        batch._windowed(specs, 3, submit, wait_first, cancel=lambda futures: None)
    )

    assert results == [(f"s{number}", f"SPEC{number}") for number in range(10)]
    assert max_in_flight == 3


def test_windowed_cancels_pending_when_closed():
    import concurrent.futures

    submitted: list[concurrent.futures.Future] = []
    cancelled: list[concurrent.futures.Future] = []

    def submit(spec: str) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_result(spec)
        submitted.append(future)
        return future

    specs = iter([("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")])
    results = batch._windowed(
        specs, 2, submit, lambda futures: futures[:1], cancel=cancelled.extend
    )

    assert next(results) == ("a", "1")
    results.close()

    # "b" was in flight and "c" had been submitted to refill the window.
    assert cancelled == submitted[1:3]
    assert next(specs) == ("d", "4")
