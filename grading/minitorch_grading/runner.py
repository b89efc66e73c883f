"""Grade one submission: run its code in a worker and the hidden checks here.

The hidden checks are pytest modules (see ``checks/``). Each test carries a
``check`` marker with the nbgrader ``grade_id`` it counts toward, its points
and a description for students. :func:`grade_cells` runs them in this process
against a :class:`~minitorch_grading.sandbox.Submission` and returns what each
grade cell earned, with one message per check.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from minitorch_grading import check_fixtures
from minitorch_grading.contract import CheckFailed
from minitorch_grading.sandbox import (
    Limits,
    StudentError,
    Submission,
    WorkerCrashed,
    WorkerFailure,
    WorkerProtocolError,
    WorkerTimeout,
)

log = logging.getLogger(__name__)

CHECKS_ROOT = Path(__file__).parent / "checks"


@dataclass
class CheckResult:
    """Outcome of one hidden check."""

    grade_id: str
    description: str
    points: float
    passed: bool
    message: str = ""
    failure: str = ""  # one of FAILURE_KINDS when the check did not pass


# Why a check failed: a wrong result, an exception from the submission, a
# call that ran out of time, a worker that died, unreadable data from the
# worker, or a fault in the grader itself.
FAILURE_KINDS = ("wrong", "raised", "timed out", "crashed", "protocol", "grader")


@dataclass
class CellResult:
    """Points a grade cell earned, with the results of its checks."""

    grade_id: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(check.points for check in self.checks if check.passed)

    @property
    def max_score(self) -> float:
        return sum(check.points for check in self.checks)


def checks_directory(assignment: str) -> Path:
    """Folder of the hidden checks of ``assignment``."""
    path = CHECKS_ROOT / assignment
    if not path.is_dir():
        known = sorted(
            p.name for p in CHECKS_ROOT.iterdir() if p.is_dir() and p.name[0] != "_"
        )
        raise FileNotFoundError(
            f"no hidden checks for assignment {assignment!r} in {CHECKS_ROOT}; "
            f"known assignments: {', '.join(known) or 'none'}"
        )
    return path


def failure_kind(error: BaseException) -> str:
    """Classify an exception from a check as one of :data:`FAILURE_KINDS`."""
    if isinstance(error, CheckFailed):
        return "wrong"
    if isinstance(error, StudentError):
        return "raised"
    if isinstance(error, WorkerTimeout):
        return "timed out"
    if isinstance(error, WorkerCrashed):
        return "crashed"
    if isinstance(error, WorkerFailure):
        return "protocol"
    return "grader"


def _message_for(error: BaseException) -> str:
    """Turn an exception from a check into a message fit for the student."""
    if isinstance(error, CheckFailed):
        return str(error)
    if isinstance(error, StudentError):
        text = f"Your code raised {error.type_name}"
        if error.message:
            text += f": {error.message}"
        return text
    if isinstance(error, WorkerTimeout):
        return f"Your code {error}."
    if isinstance(error, WorkerCrashed):
        return f"Your code stopped Python: {error}."
    if isinstance(error, WorkerProtocolError):
        return f"Your code returned data the grader cannot read ({error})."
    if isinstance(error, WorkerFailure):
        return f"The grader could not run your code ({error})."
    # A fault in the grader: the details go to the instructor's log only.
    return "The grader failed on this check; your instructor has the details."


def _register_marker(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "check(grade_id, points, description): a graded hidden check"
    )


class _Plugin:
    """pytest plugin that supplies the fixtures and records each check."""

    def __init__(self, submission: Submission, seed: int) -> None:
        self._submission = submission
        self._seed = seed
        self.results: list[CheckResult] = []
        self.collection_errors: list[str] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        _register_marker(config)
        config.stash[check_fixtures.SUBMISSION_KEY] = self._submission
        config.stash[check_fixtures.SEED_KEY] = self._seed

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext}")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo
    ) -> Any:
        outcome = yield
        report = outcome.get_result()
        marker = item.get_closest_marker("check")
        if marker is None:
            return
        if report.when == "call" or (report.when == "setup" and report.failed):
            passed = report.passed
            message = ""
            failure = ""
            if call.excinfo is not None:
                message = _message_for(call.excinfo.value)
                failure = failure_kind(call.excinfo.value)
                if not isinstance(call.excinfo.value, VERDICTS):
                    log.error(
                        "hidden check %s failed inside the grader:\n%s",
                        item.nodeid,
                        report.longreprtext,
                    )
            self.results.append(
                CheckResult(
                    grade_id=marker.kwargs["grade_id"],
                    description=marker.kwargs["description"],
                    points=float(marker.kwargs["points"]),
                    passed=passed,
                    message=message,
                    failure=failure,
                )
            )


# Exceptions that are a verdict on the submission rather than a fault in a check.
VERDICTS = (CheckFailed, StudentError, WorkerFailure)


class _BriefFailureReports:
    """pytest plugin that reports a verdict without pytest's annotated traceback.

    pytest renders every failure with the source of each traceback entry,
    parsing the whole module for each one. On a 2-core machine that costs
    about 40 ms per failed check, 2 s for a submission that fails all 57,
    and the grader never shows it: a check's message comes from the exception
    alone. Grader faults still get pytest's full report for the log.
    """

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo
    ) -> pytest.TestReport | None:
        if call.excinfo is None or not isinstance(call.excinfo.value, VERDICTS):
            return None
        return pytest.TestReport(
            item.nodeid,
            item.location,
            dict.fromkeys(item.keywords, 1),
            "failed",
            f"{call.excinfo.typename}: {call.excinfo.value}",
            call.when,
            duration=call.duration,
            start=call.start,
            stop=call.stop,
            user_properties=item.user_properties,
        )


@dataclass(frozen=True)
class CheckInfo:
    """A hidden check as collected, before it runs."""

    grade_id: str
    description: str
    points: float


class _CollectPlugin:
    def __init__(self) -> None:
        self.checks: list[CheckInfo] = []
        self.unmarked: list[str] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        _register_marker(config)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker("check")
            if marker is None:
                self.unmarked.append(item.nodeid)
                continue
            self.checks.append(
                CheckInfo(
                    grade_id=marker.kwargs["grade_id"],
                    description=marker.kwargs["description"],
                    points=float(marker.kwargs["points"]),
                )
            )


def _pytest_args(directory: Path) -> list[str]:
    return [
        str(directory),
        "-p", "no:cacheprovider",
        "-p", "no:terminal",
        "-p", "no:warnings",
        # Grader faults are logged; pytest must not capture those records.
        "-p", "no:logging",
        # Student code runs in the worker, so these find nothing here, and
        # at the end of each session they call gc.collect() several times:
        # about a third of a second per submission.
        "-p", "no:unraisableexception",
        "-p", "no:threadexception",
        "--import-mode=importlib",
        "--rootdir", str(directory),
        "-c", os.devnull,
    ]  # fmt: skip


def collect_checks(assignment: str) -> list[CheckInfo]:
    """List the hidden checks of ``assignment`` without running them.

    Raises:
        RuntimeError: a check module fails to import, or a test lacks the
            ``check`` marker and so would count toward no grade cell.
    """
    plugin = _CollectPlugin()
    exit_code = pytest.main(
        [*_pytest_args(checks_directory(assignment)), "--collect-only"],
        plugins=[plugin],
    )
    if exit_code != pytest.ExitCode.OK:
        raise RuntimeError(
            f"collecting the hidden checks of {assignment!r} failed "
            f"(pytest exit code {int(exit_code)})"
        )
    if plugin.unmarked:
        raise RuntimeError(
            "hidden checks without a check(grade_id, points, description) marker: "
            + ", ".join(plugin.unmarked)
        )
    return plugin.checks


def run_checks(
    assignment: str, submission: Submission, *, seed: int = 0
) -> list[CheckResult]:
    """Run every hidden check of ``assignment`` against ``submission``."""
    plugin = _Plugin(submission, seed)
    directory = checks_directory(assignment)
    args = _pytest_args(directory)
    exit_code = pytest.main(
        args, plugins=[plugin, _BriefFailureReports(), check_fixtures]
    )
    if plugin.collection_errors or exit_code not in (
        pytest.ExitCode.OK,
        pytest.ExitCode.TESTS_FAILED,
    ):
        details = "\n".join(plugin.collection_errors)
        raise RuntimeError(
            f"the hidden checks of {assignment!r} did not run (pytest exit code "
            f"{int(exit_code)}).\n{details}"
        )
    return plugin.results


def grade_cells(
    assignment: str,
    cells: list[tuple[int, str]],
    *,
    limits: Limits | None = None,
    seed: int = 0,
    label: str = "submission",
    skipped: frozenset[str] = frozenset(),
) -> tuple[dict[str, CellResult], Submission]:
    """Run ``cells`` in a worker and grade them; return results by grade_id.

    The worker is stopped before this returns. The returned submission still
    reports the errors its cells raised when they ran. ``label`` names the
    submission in log messages, for example by its student id. ``skipped``
    lists names defined only in cells that were left out, for hints.
    """
    submission = Submission(cells, limits or Limits(), skipped_names=skipped)
    try:
        try:
            submission.start()
        except WorkerFailure as error:
            log.warning("%s: the notebook's code could not be run: %s", label, error)
        results = run_checks(assignment, submission, seed=seed)
    finally:
        submission.close()

    by_cell: dict[str, CellResult] = {}
    for result in results:
        by_cell.setdefault(result.grade_id, CellResult(result.grade_id)).checks.append(
            result
        )
    return by_cell, submission
