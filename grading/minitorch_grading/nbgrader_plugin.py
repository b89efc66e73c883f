"""nbgrader preprocessor that grades a notebook with the hidden checks.

It takes the place of nbgrader's ``Execute`` preprocessor in ``nbgrader
autograde``. Instead of running the notebook in a Jupyter kernel inside the
grader's own process tree, it sends the notebook's code cells (less its test
cells) to a worker process and runs the hidden checks against it. Each
autograded test cell then gets two outputs: a report of its checks on stdout
and an ``execute_result`` holding the points earned, which nbgrader's
``SaveAutoGrades`` reads as partial credit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Int, List, Unicode

from minitorch_grading.notebook_cells import (
    SKIP_TAGS,
    is_test_cell,
    skipped_names,
    submission_code,
)
from minitorch_grading.runner import CellResult, grade_cells
from minitorch_grading.sandbox import Limits
from minitorch_grading.seeds import DEFAULT_SECRET_FILE, load_secret, student_seed

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

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        info = resources.get("nbgrader", {})
        assignment = self.assignment or info.get("assignment", "")
        student = info.get("student", "?")
        seed = student_seed(load_secret(Path(self.secret_file)), assignment, student)

        self.log.info("Grading %s of %s with hidden checks", assignment, student)
        results, submission = grade_cells(
            assignment,
            submission_code(nb, set(self.skip_tags)),
            skipped=skipped_names(nb, set(self.skip_tags)),
            limits=self._limits(),
            seed=seed,
            label=student,
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

        for cell in nb.cells:
            if not is_test_cell(cell):
                continue
            grade_id = cell.metadata.nbgrader["grade_id"]
            result = results.get(grade_id)
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
            cell.outputs = [
                new_output("stream", name="stdout", text=format_report(result)),
                new_output(
                    "execute_result",
                    data={"text/plain": f"{score:g}"},
                    execution_count=None,
                ),
            ]
        return nb, resources
