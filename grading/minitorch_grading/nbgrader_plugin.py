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

import logging
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3
from nbgrader.preprocessors import CheckCellMetadata, NbGraderPreprocessor
from traitlets import Float, Int, List, Unicode

from minitorch_grading import records
from minitorch_grading.intake import (
    InvalidNotebook,
    extra_files,
    read_submitted_notebook,
    reconcile_cells,
    released_cells,
)
from minitorch_grading.notebook_cells import (
    SKIP_TAGS,
    is_test_cell,
    skipped_names,
    submission_code,
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


@dataclass
class TestCellScore:
    """Points that one autograded test cell of a notebook earned."""

    index: int  # position of the cell in the notebook
    grade_id: str
    points: float  # the cell's points, from its nbgrader metadata
    score: float  # the score of the cell's checks, scaled to ``points``
    result: CellResult | None  # None when no hidden check counts toward the cell


def grade_notebook(
    nb: NotebookNode,
    assignment: str,
    *,
    skip_tags: Iterable[str] = SKIP_TAGS,
    limits: Limits | None = None,
    seed: int = 0,
    label: str = "submission",
) -> tuple[dict[str, CellResult], Submission]:
    """Run the code cells of ``nb`` in a worker and grade them with the hidden
    checks of ``assignment``.

    Returns the results by grade_id and the submission, as :func:`grade_cells`
    does. Cells tagged with one of ``skip_tags`` are left out. ``label`` names
    the submission in log messages.
    """
    tags = set(skip_tags)
    return grade_cells(
        assignment,
        submission_code(nb, tags),
        skipped=skipped_names(nb, tags),
        limits=limits,
        seed=seed,
        label=label,
    )


def score_test_cells(
    nb: NotebookNode,
    results: dict[str, CellResult],
    logger: logging.Logger | logging.LoggerAdapter = log,
) -> list[TestCellScore]:
    """Score each autograded test cell of ``nb`` from the hidden checks' results.

    A cell earns the passed fraction of its checks' points times the cell's
    own points, so checks that add up to another total are scaled to the cell.
    A cell that no check counts toward scores 0. ``logger`` gets an error for
    each of these two mismatches.
    """
    scores = []
    for index, cell in enumerate(nb.cells):
        if not is_test_cell(cell):
            continue
        grade_id = cell.metadata.nbgrader["grade_id"]
        points = float(cell.metadata.nbgrader.get("points", 0))
        result = results.get(grade_id)
        if result is None:
            logger.error(
                "No hidden checks count toward grade cell %r; it scores 0. Add "
                "checks marked with grade_id=%r.",
                grade_id,
                grade_id,
            )
            scores.append(TestCellScore(index, grade_id, points, 0.0, None))
            continue
        if abs(result.max_score - points) > 1e-9:
            logger.error(
                "Grade cell %r is worth %g points but its checks add up to %g; "
                "scores are scaled to the cell's points.",
                grade_id,
                points,
                result.max_score,
            )
        score = result.score * points / result.max_score if result.max_score else 0.0
        scores.append(TestCellScore(index, grade_id, points, score, result))
    return scores


def add_extra_files_reason(record: Record, directory: Path, expected: set[str]) -> None:
    """Add a reason to ``record`` for files beside the ``expected`` notebooks."""
    extras = extra_files(directory, expected)
    if extras:
        shown = ", ".join(extras[:10]) + (", ..." if len(extras) > 10 else "")
        record.add(
            records.ADJUSTED,
            f"{len(extras)} extra file(s) in the submission were ignored, because "
            f"grading runs the notebook alone: {shown}",
        )


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
    runs on it.
    """
    if not notebooks:
        return
    location = _submission_of(Path(notebooks[0]))
    if location is None:
        log.warning(
            "%s is not in nbgrader's submitted/<student>/<assignment>/ layout; no "
            "status recorded",
            notebooks[0],
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
    add_extra_files_reason(record, directory, expected)
    if record.outcome == records.INVALID:
        record.finish()
        log.error("%s: invalid submission: %s", student_id, "; ".join(record.reasons))
    records.write_record(course, record)


def _current_record(course: Path, assignment: str, student: str) -> Record:
    """Return the record this grading run started, or a new one if it started none."""
    record = records.read_record(course, assignment, student)
    if record is None or record.status != records.STARTED:
        return Record(student, assignment)
    return record


class _CachedSchemaMixin(BaseMetadataValidator):
    """Checks nbgrader metadata with a JSON schema validator built once.

    nbgrader 0.9.6 calls ``jsonschema.validate`` for every cell, which checks
    the schema itself against its meta-schema each time. In a cProfile run of
    the batch converter that was about a quarter of nbgrader's own time.
    This mixin sits between ``MetadataValidatorV3`` and
    ``BaseMetadataValidator`` in the method resolution order, so the version 3
    checks stay nbgrader's.
    """

    _validators: dict[int, Any] = {}

    def validate_cell(self, cell: NotebookNode) -> None:
        metadata = cell.metadata.get("nbgrader")
        if metadata is None or metadata.get("schema_version", 0) != self.schema_version:
            # Missing metadata, and nbgrader's errors for an old or new schema.
            super().validate_cell(cell)
            return
        validator = self._validators.get(self.schema_version)
        if validator is None:
            cls = jsonschema.validators.validator_for(self.schema)
            cls.check_schema(self.schema)
            validator = self._validators[self.schema_version] = cls(self.schema)
        # What jsonschema.validate raises, without checking the schema again.
        error = jsonschema.exceptions.best_match(validator.iter_errors(metadata))
        if error is not None:
            raise error


class _CachedSchemaValidator(MetadataValidatorV3, _CachedSchemaMixin):
    """nbgrader's metadata validator with the schema check done once."""


class CheckCellMetadataCachedSchema(CheckCellMetadata):
    """nbgrader's ``CheckCellMetadata``, with the same errors, in less time."""

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        try:
            _CachedSchemaValidator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            message = (
                "Notebook failed to validate; the nbgrader metadata may be corrupted."
            )
            self.log.error(message)
            raise ValidationError(message) from None
        return nb, resources


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

        release_path = (
            course_root / "release" / info["assignment"] / f"{info['notebook']}.ipynb"
        )
        release_nb = None
        if release_path.is_file():
            release_nb = nbformat.read(release_path, as_version=4)
        else:
            self.log.warning(
                "%s not found, so restored cells get no tags", release_path
            )
        with Gradebook(info["db_url"]) as gradebook:
            released = released_cells(
                gradebook, info["notebook"], info["assignment"], release_nb
            )
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
    checks = [check for result in results.values() for check in result.checks]
    for index in sorted(submission.fatal_cells):
        error = submission.cell_errors[index]
        status = (
            records.TIMED_OUT if error.type_name == "TimeoutError" else records.CRASHED
        )
        # A cell left out after it hung or ended Python costs nothing when every
        # check still passes, so it is only noted then.
        if all(check.passed for check in checks):
            status = records.GRADED
        record.add(status, f"{submission.describe_cell(index)}: {error.message}")

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
        default_value=list(SKIP_TAGS),
        help=(
            "Cells carrying any of these tags are not run when grading. Students' "
            "self-check (minitorch.selfcheck) always skips 'plot' and 'self-check'."
        ),
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

        scores = score_test_cells(nb, results, self.log)
        for cell_score in scores:
            cell = nb.cells[cell_score.index]
            if cell_score.result is None:
                cell.outputs = [
                    new_output(
                        "error",
                        ename="GradingError",
                        evalue=f"no hidden checks exist for {cell_score.grade_id}",
                        traceback=[],
                    )
                ]
                continue
            cell.outputs = [
                new_output(
                    "stream", name="stdout", text=format_report(cell_score.result)
                ),
                new_output(
                    "execute_result",
                    data={"text/plain": f"{cell_score.score:g}"},
                    execution_count=None,
                ),
            ]
        total = sum(cell_score.score for cell_score in scores)
        total_points = sum(cell_score.points for cell_score in scores)

        location = _submission_of(
            Path(resources["metadata"]["path"]) / f"{info.get('notebook', '')}.ipynb"
        )
        course = location[0] if location else Path.cwd()
        record = _current_record(course, assignment, student)
        update_record(record, results, submission, total, total_points)
        records.write_record(course, record)
        return nb, resources
