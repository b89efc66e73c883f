"""Grading status of each submission, kept beside nbgrader's gradebook.

nbgrader's gradebook stores scores but not why a score is what it is, so an
unreadable notebook and an honest zero look the same in its export. The kit
writes one JSON record per submission to
``<course>/grading_status/<assignment>/<student>.json``: a status, the reasons
behind it, and each hidden check's outcome. The record lives outside
``autograded/`` because nbgrader deletes that folder when a submission fails.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUS_DIRECTORY = "grading_status"

# Statuses, from the best outcome to the worst. A submission's status is the
# worst that applies; ``reasons`` lists everything that applied.
GRADED = "graded"
ADJUSTED = "adjusted"  # graded after restoring altered cells or ignoring files
TIMED_OUT = "timed out"  # a cell or the whole submission ran out of time
CRASHED = "crashed"  # the code ended Python, so later checks could not run
INVALID = "invalid"  # no readable notebook: nothing was graded
ERROR = "error"  # grading did not finish; the autograde log has the details
STARTED = "started"  # grading began and has not finished (or was killed)
UNGRADED = "ungraded"  # submitted, and autograde has not run on it
MISSING = "missing"  # no submission
STATUSES = (
    GRADED,
    ADJUSTED,
    TIMED_OUT,
    CRASHED,
    INVALID,
    ERROR,
    STARTED,
    UNGRADED,
    MISSING,
)


def worst(*statuses: str) -> str:
    """Return the worst of ``statuses``, by the order of :data:`STATUSES`."""
    return max(statuses, key=STATUSES.index)


@dataclass
class CheckOutcome:
    """One hidden check's result as a student may see it."""

    grade_id: str
    description: str
    points: float
    passed: bool
    message: str = ""


@dataclass
class Record:
    """Outcome of grading one submission.

    ``status`` stays :data:`STARTED` while grading runs, and :meth:`finish`
    sets it to ``outcome``, the worst status that :meth:`add` was given.
    """

    student: str
    assignment: str
    status: str = STARTED
    outcome: str = GRADED
    reasons: list[str] = field(default_factory=list)
    score: float | None = None
    max_score: float | None = None
    checks: list[CheckOutcome] = field(default_factory=list)
    # Digest of what was graded, set by batch grading once the gradebook has
    # the scores; a later batch skips the submission while it still matches.
    fingerprint: str | None = None

    def add(self, status: str, reason: str) -> None:
        """Note ``reason``, and make ``status`` the outcome if it is worse."""
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.outcome = worst(self.outcome, status)

    def finish(self) -> None:
        """Mark grading as finished with the outcome found so far."""
        self.status = self.outcome

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        checks = [CheckOutcome(**check) for check in data.get("checks", [])]
        return cls(**{**data, "checks": checks})


def record_path(course: Path, assignment: str, student: str) -> Path:
    """Return the path of the record of ``student``'s submission of ``assignment``."""
    return Path(course) / STATUS_DIRECTORY / assignment / f"{student}.json"


def write_record(course: Path, record: Record) -> Path:
    """Write ``record`` atomically, so a killed grader leaves the old one or the new."""
    path = record_path(course, record.assignment, record.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(record.to_json(), stream, indent=1, ensure_ascii=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_record(course: Path, assignment: str, student: str) -> Record | None:
    """Read the record of one submission; None if the kit never graded it."""
    path = record_path(course, assignment, student)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return Record.from_json(data)
