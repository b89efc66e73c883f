"""Class report of one autograded assignment: what the class did not understand.

:func:`build_report` reads the kit's status records (``records.py``) of every
submission and writes a folder with ``report.html`` and its PNG plots. The
report shows the score distribution with the count of each status, the pass
rate of each hidden check, the most common failure messages of each check and
a summary of each task (grade cell).

Besides student ids, scores, statuses and their reasons, the report shows only
what students see in their feedback: check descriptions, points and failure
messages. It never reads the hidden checks' code, the references or the seeds.
Students control message text through their exceptions, so every string is
HTML-escaped.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from minitorch_grading import records
from minitorch_grading.exports import submission_status
from minitorch_grading.records import Record
from minitorch_grading.report_plots import plot_pass_rates, plot_scores

REPORT_FILE = "report.html"
SCORES_PLOT = "scores.png"
PASS_RATES_PLOT = "check_pass_rates.png"

# Failure patterns listed per check, and example students listed per pattern.
TOP_MESSAGES = 3
EXAMPLE_STUDENTS = 3

# A number as Python or numpy prints it (3, -0.5, 1e-05, 2.4e+10), also at the
# end of a sentence, but not the digits inside a name such as float32.
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?!\w|\.\w)"
)
_SPECIAL_VALUE = re.compile(r"(?<![\w.])[-+]?(?:inf|nan)\b")
# A shape or index once its numbers are "#": (#, #), (#,), [#], or an empty ()
# or [], which is a scalar's. It follows a space or starts the line, unlike
# the arguments of a call such as sqrt(#).
_NUMBER_TUPLE = re.compile(r"(?<![^\s])\((?:(?:#, )*#,?)?\)")
_NUMBER_LIST = re.compile(r"(?<![^\s])\[(?:(?:#, )*#)?\]")
NUMBER_PLACEHOLDER = "#"


class ReportError(Exception):
    """No submission of the assignment has been autograded yet.

    The message names the missing records and the command that writes them.
    """


def normalize_message(message: str) -> str:
    """Reduce a failure message to a pattern that is the same for every student.

    Hidden checks draw different inputs for each student, so only the first
    line is kept, each number (also inf and nan) becomes ``#``, and each shape
    or index, such as ``(3, 5)`` or ``[]``, becomes ``(…)`` or ``[…]``.
    """
    lines = message.strip().splitlines()
    first = lines[0].strip() if lines else ""
    first = _SPECIAL_VALUE.sub(NUMBER_PLACEHOLDER, first)
    first = _NUMBER.sub(NUMBER_PLACEHOLDER, first)
    first = _NUMBER_TUPLE.sub("(…)", first)
    first = _NUMBER_LIST.sub("[…]", first)
    return " ".join(first.split())


@dataclass
class Submission:
    """One student's status and, once graded, the record behind it."""

    student: str
    status: str
    reason: str
    record: Record | None = None

    @property
    def scored(self) -> bool:
        return (
            self.record is not None
            and self.record.status != records.STARTED
            and self.record.score is not None
        )


@dataclass
class FailurePattern:
    """Failure messages of one check that share a normalized pattern."""

    pattern: str
    students: list[str] = field(default_factory=list)
    example: str = ""

    @property
    def count(self) -> int:
        return len(self.students)


@dataclass
class CheckSummary:
    """Outcomes of one hidden check over the scored submissions that ran it."""

    grade_id: str
    description: str
    points: float
    passed: int = 0
    total: int = 0
    failures: dict[str, FailurePattern] = field(default_factory=dict)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def top_failures(self) -> list[FailurePattern]:
        ordered = sorted(
            self.failures.values(), key=lambda item: (-item.count, item.pattern)
        )
        return ordered[:TOP_MESSAGES]


@dataclass
class TaskSummary:
    """Points of one task (an autograded grade cell) over the scored submissions."""

    grade_id: str
    points: float
    earned: list[float] = field(default_factory=list)

    @property
    def mean_earned(self) -> float:
        return statistics.fmean(self.earned) if self.earned else 0.0

    @property
    def full_marks(self) -> int:
        return sum(1 for value in self.earned if value >= self.points - 1e-9)

    @property
    def full_marks_share(self) -> float:
        return self.full_marks / len(self.earned) if self.earned else 0.0


def _notebook_names(course: Path, assignment: str, gradebook_path: Path) -> list[str]:
    released = sorted(
        path.stem for path in (course / "release" / assignment).glob("*.ipynb")
    )
    if released or not gradebook_path.is_file():
        return released
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{gradebook_path}") as gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            return []
        return [notebook.name for notebook in found.notebooks]


def _gradebook_students(gradebook_path: Path) -> set[str]:
    if not gradebook_path.is_file():
        return set()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{gradebook_path}") as gradebook:
        return {student.id for student in gradebook.students}


def collect_submissions(course: Path, assignment: str) -> list[Submission]:
    """List each student's submission status, with the record behind it if any.

    Students come from ``gradebook.db`` (nbgrader's default location in the
    course), ``submitted/*/<assignment>`` and the status records, so a student
    in the gradebook who submitted nothing is listed as missing.
    """
    course = Path(course)
    gradebook_path = course / "gradebook.db"
    students = _gradebook_students(gradebook_path)
    students.update(
        folder.parent.name for folder in (course / "submitted").glob(f"*/{assignment}")
    )
    status_folder = course / records.STATUS_DIRECTORY / assignment
    students.update(path.stem for path in status_folder.glob("*.json"))

    notebooks = _notebook_names(course, assignment, gradebook_path)
    submissions = []
    for student in sorted(students):
        status = submission_status(course, assignment, student, notebooks)
        record = records.read_record(course, assignment, student)
        submissions.append(Submission(student, status.status, status.reason, record))
    return submissions


def summarize_checks(submissions: list[Submission]) -> list[CheckSummary]:
    """Count the passes and group the failure messages of each check.

    Returns one summary per check, hardest task and check first.

    Tasks are ordered by their mean pass rate and checks within a task by their
    own, lowest first, with the order of the records breaking ties.
    """
    checks: dict[tuple[str, str], CheckSummary] = {}
    for submission in submissions:
        if not submission.scored:
            continue
        for outcome in submission.record.checks:
            key = (outcome.grade_id, outcome.description)
            summary = checks.setdefault(
                key, CheckSummary(outcome.grade_id, outcome.description, outcome.points)
            )
            summary.total += 1
            if outcome.passed:
                summary.passed += 1
                continue
            pattern = normalize_message(outcome.message) or "(no message)"
            failure = summary.failures.setdefault(
                pattern, FailurePattern(pattern, example=outcome.message.strip())
            )
            failure.students.append(submission.student)

    first_seen = {key: index for index, key in enumerate(checks)}
    by_task: dict[str, list[CheckSummary]] = {}
    for summary in checks.values():
        by_task.setdefault(summary.grade_id, []).append(summary)
    task_rate = {
        task: statistics.fmean(item.pass_rate for item in items)
        for task, items in by_task.items()
    }
    task_order = {task: index for index, task in enumerate(by_task)}
    return sorted(
        checks.values(),
        key=lambda item: (
            task_rate[item.grade_id],
            task_order[item.grade_id],
            item.pass_rate,
            first_seen[(item.grade_id, item.description)],
        ),
    )


def summarize_tasks(
    submissions: list[Submission], checks: list[CheckSummary]
) -> list[TaskSummary]:
    """Sum the points possible and earned in each task, in the order of ``checks``."""
    tasks: dict[str, TaskSummary] = {}
    for check in checks:
        task = tasks.setdefault(check.grade_id, TaskSummary(check.grade_id, 0.0))
        task.points += check.points
    for submission in submissions:
        if not submission.scored:
            continue
        earned: dict[str, float] = {}
        for outcome in submission.record.checks:
            earned.setdefault(outcome.grade_id, 0.0)
            if outcome.passed:
                earned[outcome.grade_id] += outcome.points
        for grade_id, points in earned.items():
            tasks[grade_id].earned.append(points)
    return list(tasks.values())


def _no_scores_error(
    course: Path, assignment: str, submissions: list[Submission]
) -> ReportError:
    folder = course / records.STATUS_DIRECTORY / assignment
    counts = Counter(submission.status for submission in submissions)
    found = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    return ReportError(
        f"no graded submissions of {assignment!r} in {course}: {folder} has no "
        f"finished status record with a score (students found: {found or 'none'}). "
        f"Put submissions in submitted/<student>/{assignment}/ and run "
        f"`nbgrader autograde {assignment}` in {course} with the kit's "
        "nbgrader_config.py, which writes those records."
    )


def build_report(course: Path, assignment: str, output: Path) -> Path:
    """Write the class report of ``assignment`` to the folder ``output``.

    Creates ``output`` if needed and overwrites the report's files in it.
    Returns the path of ``report.html``. Raises :class:`ReportError` when no
    submission of the assignment has been autograded.
    """
    course = Path(course).resolve()
    output = Path(output)
    submissions = collect_submissions(course, assignment)
    scored = [submission for submission in submissions if submission.scored]
    if not scored:
        raise _no_scores_error(course, assignment, submissions)

    checks = summarize_checks(submissions)
    tasks = summarize_tasks(submissions, checks)
    scores = [submission.record.score for submission in scored]
    max_scores = {submission.record.max_score for submission in scored}
    max_score = max(
        (value for value in max_scores if value is not None), default=max(scores)
    )
    status_counts = Counter(submission.status for submission in submissions)
    statuses = [
        (status, status_counts[status])
        for status in records.STATUSES
        if status_counts[status]
    ]

    output.mkdir(parents=True, exist_ok=True)
    plot_scores(scores, max_score, statuses, output / SCORES_PLOT, assignment)
    plot_pass_rates(checks, output / PASS_RATES_PLOT, assignment, len(scored))

    environment = Environment(
        loader=PackageLoader("minitorch_grading", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = environment.get_template("report.html").render(
        assignment=assignment,
        course=course,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        submissions=submissions,
        scored_count=len(scored),
        max_score=max_score,
        max_scores_differ=len(max_scores) > 1,
        mean=statistics.fmean(scores),
        median=statistics.median(scores),
        statuses=statuses,
        attention=[item for item in submissions if item.status != records.GRADED],
        checks=checks,
        failing_checks=[check for check in checks if check.failures],
        tasks=tasks,
        example_students=EXAMPLE_STUDENTS,
        scores_plot=SCORES_PLOT,
        pass_rates_plot=PASS_RATES_PLOT,
    )
    path = output / REPORT_FILE
    path.write_text(html, encoding="utf-8")
    return path
