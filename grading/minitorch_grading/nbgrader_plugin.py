"""The kit's steps in ``nbgrader autograde``.

* :func:`record_submission_files`, a pre-convert hook, checks each submitted
  file before nbgrader reads it and starts the submission's status record
  (see ``records.py``), so a notebook nbgrader cannot read still gets a reason.
* :class:`ValidateSubmission`, the first sanitizing preprocessor, stops
  grading of an invalid notebook and repairs altered grading metadata before
  nbgrader's own sanitizers see it (see ``intake.py``).
* :class:`GradeWithHiddenChecks` takes the place of nbgrader's ``Execute``.
  Instead of running the notebook in a Jupyter kernel inside the grader's own
  process tree, it sends the notebook's code cells (less its test cells) to a
  worker process and runs the hidden checks against it. Each autograded test
  cell then gets two outputs: a report of its checks on stdout and an
  ``execute_result`` holding the points earned, which nbgrader's
  ``SaveAutoGrades`` reads as partial credit.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path
from typing import Any

from IPython.core.inputtransformer2 import TransformerManager
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Int, List, Unicode

from minitorch_grading import records
from minitorch_grading.intake import (
    InvalidNotebook,
    extra_files,
    read_submitted_notebook,
    reconcile_cells,
    released_cells,
)
from minitorch_grading.records import CheckOutcome, Record
from minitorch_grading.runner import CellResult, grade_cells
from minitorch_grading.sandbox import Limits, Submission
from minitorch_grading.seeds import DEFAULT_SECRET_FILE, load_secret, student_seed

log = logging.getLogger(__name__)

PASS_MARK = "\u2713"
FAIL_MARK = "\u2717"


def _points(value: float) -> str:
    text = f"{value:g}"
    return f"{text} point" if value == 1 else f"{text} points"


def format_report(result: CellResult) -> str:
    """Render the checks of one grade cell as text for the student."""
    lines = [f"Hidden checks: {result.score:g} of {_points(result.max_score)}"]
    for check in result.checks:
        mark = PASS_MARK if check.passed else FAIL_MARK
        lines.append(f"{mark} {check.description} ({_points(check.points)})")
        if not check.passed and check.message:
            for line in check.message.splitlines():
                lines.append(f"    {line}")
    return "\n".join(lines) + "\n"


def is_test_cell(cell: NotebookNode) -> bool:
    """Return whether ``cell`` is an autograded test cell (graded, not a solution)."""
    return (
        cell.cell_type == "code"
        and utils.is_grade(cell)
        and not utils.is_solution(cell)
    )


def submission_code(nb: NotebookNode, skip_tags: set[str]) -> list[tuple[int, str]]:
    """Return the code cells to run, as (cell index, Python source) pairs.

    Test cells are left out because the hidden checks replace them, and so are
    cells tagged with one of ``skip_tags`` (plots and demonstrations). IPython
    syntax such as ``%matplotlib inline`` is turned into plain Python here, by
    IPython's own transformer, so the worker needs no IPython.
    """
    transformer = TransformerManager()
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        if skip_tags & set(cell.get("metadata", {}).get("tags", [])):
            continue
        try:
            source = transformer.transform_cell(cell.source)
        except SyntaxError:
            source = cell.source  # the worker reports the syntax error
        cells.append((index, source))
    return cells


def skipped_names(nb: NotebookNode, skip_tags: set[str]) -> frozenset[str]:
    """Names that the skipped cells define at top level (imports, defs, assignments).

    Submission code that uses one of them works in Jupyter but not when graded,
    so the grader's NameError message points at the skipped cell.
    """
    transformer = TransformerManager()
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not skip_tags & set(cell.get("metadata", {}).get("tags", [])):
            continue
        try:
            tree = ast.parse(transformer.transform_cell(cell.source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update(
                    (alias.asname or alias.name).split(".")[0] for alias in node.names
                )
            elif isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(names)


def _submission_of(notebook: Path) -> tuple[Path, str, str] | None:
    """(course, student, assignment) of a notebook in nbgrader's default layout
    ``<course>/<step>/<student>/<assignment>/<notebook>.ipynb``."""
    parts = Path(notebook).absolute().parents
    if len(parts) < 4:
        return None
    return parts[3], parts[1].name, parts[0].name


def record_submission_files(
    assignment: str, student: str, notebooks: list[str]
) -> None:
    """Start the status record of one submission, before nbgrader reads it.

    nbgrader calls this as ``Autograde.pre_convert_hook`` with the submitted
    notebooks' paths; ``assignment`` and ``student`` are the command line's
    patterns, not this submission's. A notebook that cannot be read is
    recorded as invalid here, because nbgrader fails before any preprocessor
    sees it.
    """
    if not notebooks:
        return
    location = _submission_of(Path(notebooks[0]))
    if location is None:
        log.warning(
            "cannot tell the submission of %s; no status recorded", notebooks[0]
        )
        return
    course, student_id, assignment_id = location
    record = Record(student_id, assignment_id)
    directory = Path(notebooks[0]).parent
    submitted = {Path(name).name for name in notebooks}
    released = {
        path.name for path in (course / "release" / assignment_id).glob("*.ipynb")
    }
    expected = released or submitted
    for name in sorted(expected):
        if name not in submitted:
            found = ", ".join(sorted(submitted))
            record.add(
                records.INVALID,
                f"the submission has no {name} (found: {found}). Submit the notebook "
                "under the name it was released with.",
            )
            continue
        try:
            read_submitted_notebook(directory / name)
        except InvalidNotebook as error:
            record.add(records.INVALID, str(error))
    extras = extra_files(directory, expected)
    if extras:
        shown = ", ".join(extras[:10]) + (", ..." if len(extras) > 10 else "")
        record.add(
            records.ADJUSTED,
            f"{len(extras)} extra file(s) in the submission were ignored, because "
            f"grading runs the notebook alone: {shown}",
        )
    if record.outcome == records.INVALID:
        record.finish()
        log.error("%s: invalid submission: %s", student_id, "; ".join(record.reasons))
    records.write_record(course, record)


def _current_record(course: Path, assignment: str, student: str) -> Record:
    """The record this grading run started, or a new one if it started none."""
    record = records.read_record(course, assignment, student)
    if record is None or record.status != records.STARTED:
        return Record(student, assignment)
    return record


class ValidateSubmission(NbGraderPreprocessor):
    """Stop grading of an invalid notebook and repair its grading metadata.

    It runs first among ``Autograde.sanitize_preprocessors``, on the notebook
    as submitted, and adds what it finds to the submission's status record.
    """

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        info = resources["nbgrader"]
        directory = Path(resources["metadata"]["path"])
        notebook_path = directory / f"{info['notebook']}.ipynb"
        course = _submission_of(notebook_path)
        course_root = course[0] if course else Path.cwd()
        record = _current_record(course_root, info["assignment"], info["student"])

        # nbgrader reads a symbolic link or a notebook with schema errors, so
        # the file is checked again here, also in case the hook is not set.
        try:
            read_submitted_notebook(notebook_path)
        except InvalidNotebook as error:
            record.add(records.INVALID, str(error))
            record.finish()
        if record.status == records.INVALID:
            records.write_record(course_root, record)
            raise InvalidNotebook("; ".join(record.reasons))

        with Gradebook(info["db_url"]) as gradebook:
            released = released_cells(gradebook, info["notebook"], info["assignment"])
        for note in reconcile_cells(nb, released):
            self.log.warning("%s: %s", info["student"], note)
            record.add(records.ADJUSTED, note)
        records.write_record(course_root, record)
        return nb, resources


def update_record(
    record: Record,
    results: dict[str, CellResult],
    submission: Submission,
    score: float,
    max_score: float,
) -> None:
    """Add one submission's grading outcome to its status record and finish it."""
    for index in sorted(submission.fatal_cells):
        error = submission.cell_errors[index]
        status = (
            records.TIMED_OUT if error.type_name == "TimeoutError" else records.CRASHED
        )
        record.add(status, f"{submission.describe_cell(index)}: {error.message}")

    checks = [check for result in results.values() for check in result.checks]
    by_kind: dict[str, int] = {}
    for check in checks:
        if not check.passed:
            by_kind[check.failure] = by_kind.get(check.failure, 0) + 1
    if by_kind.get("timed out"):
        record.add(
            records.TIMED_OUT,
            f"{by_kind['timed out']} hidden check(s) ran out of time",
        )
    if by_kind.get("crashed"):
        record.add(
            records.CRASHED,
            f"{by_kind['crashed']} hidden check(s) failed because the code ended "
            "Python",
        )
    if by_kind.get("grader"):
        record.add(
            records.ERROR,
            f"{by_kind['grader']} hidden check(s) failed inside the grader; the "
            "autograde log has the details",
        )

    record.checks = [
        CheckOutcome(
            grade_id=check.grade_id,
            description=check.description,
            points=check.points,
            passed=check.passed,
            message=check.message,
        )
        for check in checks
    ]
    record.score = score
    record.max_score = max_score
    record.finish()


class GradeWithHiddenChecks(NbGraderPreprocessor):
    """Grade test cells with the hidden checks run against an isolated worker."""

    assignment = Unicode(
        "",
        help=(
            "Name of the hidden-check folder to use; empty means the assignment's name."
        ),
    ).tag(config=True)
    skip_tags = List(
        Unicode(),
        default_value=["plot"],
        help="Cells carrying any of these tags are not run when grading.",
    ).tag(config=True)
    call_timeout = Float(
        5.0, help="Seconds one call into submission code may take."
    ).tag(config=True)
    cell_timeout = Float(
        30.0, help="Seconds one of the notebook's own code cells may take to run."
    ).tag(config=True)
    submission_timeout = Float(
        300.0, help="Seconds all work on one submission may take, restarts included."
    ).tag(config=True)
    secret_file = Unicode(
        str(DEFAULT_SECRET_FILE),
        help=(
            "File with the secret that seeds each student's hidden-check inputs; "
            "created on first use. Keep it outside the course directory."
        ),
    ).tag(config=True)
    memory_limit = Int(
        4 << 30, help="Address-space limit of the worker process, in bytes."
    ).tag(config=True)

    def _limits(self) -> Limits:
        return Limits(
            call_seconds=self.call_timeout,
            cell_seconds=self.cell_timeout,
            submission_seconds=self.submission_timeout,
            memory_bytes=self.memory_limit,
        )

    def grade(
        self,
        assignment: str,
        student: str,
        notebook: str,
        cells: list[tuple[int, str]],
        skipped: frozenset[str],
    ) -> tuple[dict[str, CellResult], Submission]:
        """Run ``cells`` in a worker and the hidden checks of ``assignment``."""
        seed = student_seed(load_secret(Path(self.secret_file)), assignment, student)
        self.log.info("Grading %s of %s with hidden checks", assignment, student)
        return grade_cells(
            assignment,
            cells,
            skipped=skipped,
            limits=self._limits(),
            seed=seed,
            label=student,
        )

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        info = resources.get("nbgrader", {})
        assignment = self.assignment or info.get("assignment", "")
        student = info.get("student", "?")
        results, submission = self.grade(
            assignment,
            student,
            info.get("notebook", ""),
            submission_code(nb, set(self.skip_tags)),
            skipped_names(nb, set(self.skip_tags)),
        )

        for index, error in submission.cell_errors.items():
            nb.cells[index].outputs = [
                new_output(
                    "error",
                    ename=error.type_name,
                    evalue=error.message,
                    traceback=error.traceback.splitlines(),
                )
            ]
            self.log.info(
                "%s: %s raised %s",
                student,
                submission.describe_cell(index),
                error.type_name,
            )

        total = 0.0
        total_points = 0.0
        for cell in nb.cells:
            if not is_test_cell(cell):
                continue
            grade_id = cell.metadata.nbgrader["grade_id"]
            result = results.get(grade_id)
            total_points += float(cell.metadata.nbgrader.get("points", 0))
            if result is None:
                self.log.error(
                    "No hidden checks count toward grade cell %r; it scores 0. Add "
                    "checks marked with grade_id=%r.",
                    grade_id,
                    grade_id,
                )
                cell.outputs = [
                    new_output(
                        "error",
                        ename="GradingError",
                        evalue=f"no hidden checks exist for {grade_id}",
                        traceback=[],
                    )
                ]
                continue

            points = float(cell.metadata.nbgrader.get("points", 0))
            if abs(result.max_score - points) > 1e-9:
                self.log.error(
                    "Grade cell %r is worth %g points but its checks add up to %g; "
                    "scores are scaled to the cell's points.",
                    grade_id,
                    points,
                    result.max_score,
                )
            score = (
                result.score * points / result.max_score if result.max_score else 0.0
            )
            total += score
            cell.outputs = [
                new_output("stream", name="stdout", text=format_report(result)),
                new_output(
                    "execute_result",
                    data={"text/plain": f"{score:g}"},
                    execution_count=None,
                ),
            ]

        location = _submission_of(
            Path(resources["metadata"]["path"]) / f"{info.get('notebook', '')}.ipynb"
        )
        course = location[0] if location else Path.cwd()
        record = _current_record(course, assignment, student)
        update_record(record, results, submission, total, total_points)
        records.write_record(course, record)
        return nb, resources
