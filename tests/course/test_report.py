"""The class report: score distribution, check pass rates and failure messages.

The slow tests grade a small class with the real ``nbgrader autograde`` (several
bundled submissions with different mistakes, an unreadable notebook, a notebook
with extra files and a student who submitted nothing) and read the report it
gives. The fast tests use status records written directly.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from minitorch_grading import records
from minitorch_grading.records import CheckOutcome, Record
from minitorch_grading.report import (
    PASS_RATES_PLOT,
    SCORES_PLOT,
    ReportError,
    build_report,
    normalize_message,
)
from tests.conftest import ASSIGNMENT, REPO, make_course, nbgrader_environment

SUBMISSIONS = REPO / "examples" / "submissions"
BAD = REPO / "examples" / "bad_notebooks"
GRADED_STUDENTS = (
    "correct",
    "untouched-release",
    "sigmoid-of-sigmoid",
    "gelu-exact-erf",
    "renamed-class",
    "relu-derivative-one-at-zero",
    "backward-without-grad-output",
)
BAD_STUDENTS = ("truncated-json", "extra-files")
ABSENT_STUDENT = "absent"


class TableParser(HTMLParser):
    """Text of each cell of each row of each ``<table id=...>`` in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read_tables(html: str) -> dict[str, list[list[str]]]:
    parser = TableParser()
    parser.feed(html)
    return parser.tables


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory):
    """A course graded by nbgrader, and the report built from it."""
    base = tmp_path_factory.mktemp("report")
    course = make_course(base / "course")
    secret = base / "secret"
    generated = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert generated.returncode == 0, generated.stderr[-3000:]
    added = nbgrader(course, "db", "student", "add", ABSENT_STUDENT)
    assert added.returncode == 0, added.stderr[-3000:]
    for student in GRADED_STUDENTS:
        target = course / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        shutil.copy(SUBMISSIONS / student / f"{ASSIGNMENT}.ipynb", target)
    for student in BAD_STUDENTS:
        shutil.copytree(BAD / student, course / "submitted" / student / ASSIGNMENT)

    nbgrader(
        course, "autograde", ASSIGNMENT, f"--GradeWithHiddenChecks.secret_file={secret}"
    )
    report = build_report(course, ASSIGNMENT, base / "report")
    loaded = {
        student: records.read_record(course, ASSIGNMENT, student)
        for student in (*GRADED_STUDENTS, *BAD_STUDENTS)
    }
    return course, report, loaded, secret


def scored_records(loaded: dict[str, Record | None]) -> list[Record]:
    return [
        record
        for record in loaded.values()
        if record is not None and record.score is not None
    ]


@pytest.mark.slow
def test_report_html_written(graded_class):
    _, report, _, _ = graded_class

    assert report.name == "report.html"
    assert report.is_file()


@pytest.mark.slow
def test_report_names_every_check(graded_class):
    _, report, loaded, _ = graded_class
    rows = read_tables(report.read_text(encoding="utf-8"))["check-pass-rates"][1:]
    named = {(row[0], row[1]) for row in rows}

    for record in scored_records(loaded):
        for check in record.checks:
            assert (check.grade_id, check.description) in named


@pytest.mark.slow
@pytest.mark.parametrize("name", [SCORES_PLOT, PASS_RATES_PLOT])
def test_report_plot_is_valid_png(graded_class, name: str):
    _, report, _, _ = graded_class
    path = report.parent / name

    assert path.is_file()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
    assert 800 <= width <= 3000
    assert 300 <= height <= 6000
    assert 10_000 <= path.stat().st_size <= 5_000_000
    assert f'src="{name}"' in report.read_text(encoding="utf-8")


@pytest.mark.slow
def test_report_pass_rates_match_records(graded_class):
    _, report, loaded, _ = graded_class
    expected: dict[tuple[str, str], list[int]] = {}
    for record in scored_records(loaded):
        for check in record.checks:
            counts = expected.setdefault((check.grade_id, check.description), [0, 0])
            counts[0] += int(check.passed)
            counts[1] += 1

    rows = read_tables(report.read_text(encoding="utf-8"))["check-pass-rates"][1:]
    row_of = {(row[0], row[1]): row for row in rows}

    assert set(row_of) == set(expected)
    for key, (passed, total) in expected.items():
        row = row_of[key]
        assert int(row[3]) == passed, key
        assert int(row[4]) == total, key
        assert row[5] == f"{100 * passed / total:.0f}%", key


@pytest.mark.slow
def test_report_pass_rates_hardest_task_first(graded_class):
    _, report, _, _ = graded_class
    rows = read_tables(report.read_text(encoding="utf-8"))["check-pass-rates"][1:]
    rates: dict[str, list[float]] = {}
    for row in rows:
        rates.setdefault(row[0], []).append(int(row[3]) / int(row[4]))
    task_means = [sum(values) / len(values) for values in rates.values()]

    assert task_means == sorted(task_means)
    for task, values in rates.items():
        assert values == sorted(values), task


@pytest.mark.slow
def test_report_counts_each_status(graded_class):
    _, report, _, _ = graded_class
    rows = read_tables(report.read_text(encoding="utf-8"))["statuses"][1:]
    counts = {row[0]: int(row[1]) for row in rows}

    assert counts == {
        records.GRADED: len(GRADED_STUDENTS),
        records.ADJUSTED: 1,
        records.INVALID: 1,
        records.MISSING: 1,
    }


@pytest.mark.slow
def test_report_lists_students_not_simply_graded(graded_class):
    _, report, _, _ = graded_class
    rows = read_tables(report.read_text(encoding="utf-8"))["attention"][1:]
    statuses = {row[0]: row[1] for row in rows}

    assert statuses == {
        "extra-files": records.ADJUSTED,
        "truncated-json": records.INVALID,
        ABSENT_STUDENT: records.MISSING,
    }


@pytest.mark.slow
def test_report_task_summary_matches_records(graded_class):
    _, report, loaded, _ = graded_class
    scored = scored_records(loaded)
    points: dict[str, float] = {}
    for check in scored[0].checks:
        points[check.grade_id] = points.get(check.grade_id, 0.0) + check.points

    rows = read_tables(report.read_text(encoding="utf-8"))["tasks"][1:]
    row_of = {row[0]: row for row in rows}

    assert set(row_of) == set(points)
    for grade_id, possible in points.items():
        earned = [
            sum(c.points for c in record.checks if c.grade_id == grade_id and c.passed)
            for record in scored
        ]
        full = sum(1 for value in earned if value == possible)
        assert float(row_of[grade_id][1]) == possible
        # The mean is shown with two decimals.
        assert float(row_of[grade_id][2]) == pytest.approx(
            sum(earned) / len(earned), abs=0.0051
        )
        assert row_of[grade_id][3].endswith(f"({full}/{len(earned)})")


@pytest.mark.slow
def test_report_groups_failure_messages(graded_class):
    _, report, loaded, _ = graded_class
    rows = read_tables(report.read_text(encoding="utf-8"))["failures"][1:]
    # Only the first row of each check starts with the check's cell, so the
    # pattern is the third cell from the end of every row.
    patterns = {row[-3] for row in rows}

    renamed = loaded["renamed-class"]
    message = next(c.message for c in renamed.checks if c.grade_id == "gelu")
    assert normalize_message(message) in patterns


@pytest.mark.slow
def test_report_hides_secret_and_check_code(graded_class):
    _, report, _, secret = graded_class
    html = report.read_text(encoding="utf-8")

    assert secret.read_text().strip() not in html
    assert "def test_" not in html
    assert "minitorch_grading.reference" not in html


def write_record(course: Path, student: str, checks: list[CheckOutcome]) -> None:
    record = Record(student, ASSIGNMENT, reasons=[])
    record.checks = checks
    record.max_score = sum(check.points for check in checks)
    record.score = sum(check.points for check in checks if check.passed)
    record.finish()
    records.write_record(course, record)


def test_report_escapes_student_text(tmp_path: Path):
    course = tmp_path / "course"
    hostile = '<script>alert("x")</script>'
    student = "<img src=x onerror=alert(1)>"
    write_record(
        course,
        student,
        [
            CheckOutcome("relu", "ReLU: forward <b>works</b> & costs $5", 1.0, False,
                         f"ReLU.forward raised ValueError: {hostile}"),
            CheckOutcome("relu", "ReLU: backward", 1.0, True),
        ],
    )  # fmt: skip

    report = build_report(course, ASSIGNMENT, tmp_path / "report")
    html = report.read_text(encoding="utf-8")

    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>works</b>" not in html
    assert "&lt;b&gt;works&lt;/b&gt; &amp; costs $5" in html


def test_report_without_records_explains_what_to_run(tmp_path: Path):
    course = make_course(tmp_path / "course")

    with pytest.raises(ReportError) as raised:
        build_report(course, ASSIGNMENT, tmp_path / "report")

    message = str(raised.value)
    assert "no graded submissions of 'activations'" in message
    assert str(course / "grading_status" / ASSIGNMENT) in message
    assert "nbgrader autograde activations" in message
    assert not (tmp_path / "report").exists()


def test_report_with_only_invalid_submission_fails(tmp_path: Path):
    course = tmp_path / "course"
    record = Record("broken", ASSIGNMENT)
    record.add(records.INVALID, "activations.ipynb is empty")
    record.finish()
    records.write_record(course, record)

    with pytest.raises(ReportError, match="students found: 1 invalid"):
        build_report(course, ASSIGNMENT, tmp_path / "report")


@pytest.mark.parametrize(
    ("message", "pattern"),
    [
        (
            "ReLU.backward after forward on a float64 input of shape (3, 5): 15 of 15 "
            "elements differ (tolerance: absolute 1e-12, relative 1e-07). Worst "
            "element at index [1, 1], input x = -0.8048205389: expected 0, "
            "received 0.2135172062.",
            "ReLU.backward after forward on a float64 input of shape (…): # of # "
            "elements differ (tolerance: absolute #, relative #). Worst element at "
            "index […], input x = #: expected #, received #.",
        ),
        (
            "Tanh.forward on a float32 input of shape (): expected -0, received nan",
            "Tanh.forward on a float32 input of shape (…): expected #, received #",
        ),
        ("shape (7,) at index [6]; got -inf", "shape (…) at index […]; got #"),
        (
            "The trained model classifies 50.7% of held-out points correctly.",
            "The trained model classifies #% of held-out points correctly.",
        ),
        ("no overflow at x = ±1000 and 2.4e+10", "no overflow at x = ±# and #"),
        (
            "train_spiral_classifier(X, y) raised NameError: name 'Tanh' is not "
            'defined\n  File "<cell 29>", line 4\nNameError',
            "train_spiral_classifier(X, y) raised NameError: name 'Tanh' is not "
            "defined",
        ),
        ("0.5 x (1 + erf(x / sqrt(2)))", "# x (# + erf(x / sqrt(#)))"),
        ("float32 and int64 stay, as do v1.2 and x2", "float32 and int64 stay, "
         "as do v1.2 and x2"),
        ("  spaced   out\t text  ", "spaced out text"),
        ("", ""),
    ],
)  # fmt: skip
def test_normalize_message(message: str, pattern: str):
    assert normalize_message(message) == pattern


def test_normalize_message_groups_students_inputs():
    first = (
        "Sigmoid.backward after two forward calls must use the input of the "
        "latest call: 12 of 12 elements differ. Worst element at index [2, 0], "
        "input x = 2.026218141: expected 0.01675648897, received 0.1029105311."
    )
    second = first.replace("[2, 0]", "[0, 3]").replace("2.026218141", "-4.8")

    assert normalize_message(first) == normalize_message(second)
