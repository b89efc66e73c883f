"""Grade exports that tell an honest zero from a submission that was not graded.

:class:`StatusCsvExport` is an nbgrader export plugin. It writes the columns of
nbgrader 0.9.6's ``CsvExportPlugin`` plus ``status`` and ``reason`` from the
kit's status records (``records.py``), through the ``csv`` module so that
names with commas or quotes stay in their column. Select it in
``nbgrader_config.py`` with::

    c.ExportApp.plugin_class = "minitorch_grading.exports.StatusCsvExport"
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

from minitorch_grading import records

COLUMNS = (
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
    "status",
    "reason",
)


@dataclass(frozen=True)
class Status:
    """Status and reason of one student's submission of one assignment."""

    status: str
    reason: str


def submission_status(
    course: Path, assignment: str, student: str, notebooks: list[str]
) -> Status:
    """Work out the status of a submission from its record and its folder.

    ``notebooks`` are the notebook names the assignment expects, without
    ``.ipynb``.
    """
    record = records.read_record(course, assignment, student)
    folder = course / "submitted" / student / assignment
    if record is None:
        if not folder.is_dir():
            return Status(records.MISSING, "no submission")
        absent = [name for name in notebooks if not (folder / f"{name}.ipynb").exists()]
        if absent:
            names = ", ".join(f"{name}.ipynb" for name in absent)
            return Status(records.INVALID, f"the submission has no {names}")
        return Status(records.UNGRADED, "submitted but not autograded yet")
    if record.status == records.STARTED:
        return Status(
            records.ERROR,
            "grading did not finish; the autograde log has the details",
        )
    return Status(record.status, "; ".join(record.reasons))


class StatusCsvExport(ExportPlugin):
    """nbgrader's CSV export with a status and a reason for each submission."""

    def _course(self) -> Path:
        coursedir = getattr(self.parent, "coursedir", None)
        return Path(coursedir.root) if coursedir is not None else Path.cwd()

    def export(self, gradebook: Gradebook) -> None:
        destination = self.to or "grades.csv"
        course = self._course()
        selected_students = {str(item) for item in self.student}
        selected_assignments = {str(item) for item in self.assignment}
        self.log.info("Exporting grades with status to %s", destination)

        rows = []
        for assignment in gradebook.assignments:
            if selected_assignments and assignment.name not in selected_assignments:
                continue
            notebooks = [notebook.name for notebook in assignment.notebooks]
            students = {student.id: student for student in gradebook.students}
            submitted = course / "submitted"
            # A folder without a notebook never reaches nbgrader's gradebook.
            for folder in sorted(submitted.glob(f"*/{assignment.name}")):
                students.setdefault(folder.parent.name, None)
            for student_id in sorted(students):
                if selected_students and student_id not in selected_students:
                    continue
                rows.append(
                    self._row(
                        gradebook, course, assignment, student_id,
                        students[student_id], notebooks,
                    )
                )  # fmt: skip

        with open(destination, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        self.log.info(
            "Exported %d rows: %s",
            len(rows),
            ", ".join(f"{count} {status}" for status, count in sorted(counts.items())),
        )

    def _row(
        self,
        gradebook: Gradebook,
        course: Path,
        assignment: Any,
        student_id: str,
        student: Any,
        notebooks: list[str],
    ) -> dict[str, Any]:
        status = submission_status(course, assignment.name, student_id, notebooks)
        row: dict[str, Any] = {
            "assignment": assignment.name,
            "duedate": assignment.duedate or "",
            "student_id": student_id,
            "last_name": (student.last_name if student else None) or "",
            "first_name": (student.first_name if student else None) or "",
            "email": (student.email if student else None) or "",
            "max_score": assignment.max_score,
            "status": status.status,
            "reason": status.reason,
            "timestamp": "",
            "raw_score": 0.0,
            "late_submission_penalty": 0.0,
            "score": 0.0,
        }
        try:
            submission = gradebook.find_submission(assignment.name, student_id)
        except MissingEntry:
            return row
        row["timestamp"] = submission.timestamp or ""
        # The gradebook keeps the scores of an earlier run when a re-submitted
        # notebook cannot be read, so an invalid submission is exported as 0.
        if status.status not in (records.INVALID, records.MISSING):
            penalty = submission.late_submission_penalty or 0.0
            row["raw_score"] = submission.score
            row["late_submission_penalty"] = penalty
            row["score"] = max(0.0, submission.score - penalty)
        return row
