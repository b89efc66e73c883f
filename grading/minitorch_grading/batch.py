"""Grade every submission of an assignment in parallel, and resume after a kill.

:func:`grade_all` gives each submission the gradebook rows, autograded notebook
and status record that ``nbgrader autograde`` gives it with the course's
``nbgrader_config.py``. The work is split in two:

* A task per submission, in a pool of local processes or on a Dask cluster,
  reads the submitted notebook, repairs its grading metadata as
  ``ValidateSubmission`` does, runs its code in a sandboxed worker and runs
  the hidden checks. Tasks touch neither the gradebook nor the status records,
  and they return JSON text only.
* This process runs nbgrader's own ``Autograde`` converter on each submission
  whose task finished, as ``nbgrader autograde ASSIGNMENT --student ID --force``
  would, with ``GradeWithHiddenChecks`` replaced by a step that applies the
  task's results. So nbgrader itself writes the gradebook, from one process.

The replacement step compares the code nbgrader would send to the worker with
the code the task ran. Where they differ, or the task failed, it grades the
submission itself, as ``GradeWithHiddenChecks`` would.

A submission counts as graded once its record is finished and carries the
fingerprint of its files, the grader's code, the course configuration and the
released cells. The fingerprint is written after nbgrader has stored the
scores, so a batch killed at any point grades again exactly the submissions
it had not finished.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import glob
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import AutogradeApp
from nbgrader.converters import Autograde
from nbgrader.converters.base import NbGraderException
from traitlets.utils.importstring import import_item

from minitorch_grading import records
from minitorch_grading.intake import (
    InvalidNotebook,
    ReleasedCell,
    read_submitted_notebook,
    reconcile_cells,
    released_cells,
)
from minitorch_grading.isolation import PYTHON
from minitorch_grading.nbgrader_plugin import (
    GradeWithHiddenChecks,
    skipped_names,
    submission_code,
)
from minitorch_grading.runner import CellResult, CheckResult, grade_cells
from minitorch_grading.sandbox import Limits, StudentError, Submission
from minitorch_grading.seeds import load_secret, student_seed

log = logging.getLogger(__name__)

PACKAGE_DIRECTORY = Path(__file__).resolve().parent

# Record statuses that mean grading ran to its end.
FINISHED_STATUSES = frozenset(
    {
        records.GRADED,
        records.ADJUSTED,
        records.TIMED_OUT,
        records.CRASHED,
        records.INVALID,
        records.ERROR,
    }
)


@dataclass
class SubmissionOutcome:
    """Result of grading one submission in a batch."""

    student: str
    status: str
    score: float | None
    max_score: float | None
    seconds: float
    skipped: bool = False  # already graded from the same inputs


@dataclass
class BatchReport:
    """Outcomes of one :func:`grade_all` run, in student order."""

    assignment: str
    outcomes: list[SubmissionOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def graded(self) -> list[str]:
        """Students whose submission this run graded."""
        return [outcome.student for outcome in self.outcomes if not outcome.skipped]

    @property
    def skipped(self) -> list[str]:
        """Students whose submission was already graded from the same inputs."""
        return [outcome.student for outcome in self.outcomes if outcome.skipped]


# Tasks -------------------------------------------------------------------


def code_digest(cells: list[tuple[int, str]], skipped: frozenset[str]) -> str:
    """Digest of the code a worker runs and the names of skipped cells."""
    text = json.dumps([[list(cell) for cell in cells], sorted(skipped)])
    return hashlib.sha256(text.encode()).hexdigest()


class _CapturedLog(logging.Handler):
    """Keeps the grading package's warnings and errors to send back with a result."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.entries: list[list[Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append([record.levelno, record.name, record.getMessage()])


@contextlib.contextmanager
def _capture_log() -> Iterator[_CapturedLog]:
    logger = logging.getLogger("minitorch_grading")
    handler = _CapturedLog()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _grade_notebook(spec: dict[str, Any], notebook: dict[str, Any]) -> dict[str, Any]:
    try:
        nb = read_submitted_notebook(Path(notebook["path"]))
    except InvalidNotebook as error:
        return {"invalid": str(error)}
    # JSON turns the tags tuple into a list; ReleasedCell compares tuples.
    released = [
        ReleasedCell(
            **{**cell, "tags": None if cell["tags"] is None else tuple(cell["tags"])}
        )
        for cell in notebook["released"]
    ]
    reconcile_cells(nb, released)

    skip_tags = set(spec["skip_tags"])
    cells = submission_code(nb, skip_tags)
    skipped = skipped_names(nb, skip_tags)
    results, submission = grade_cells(
        spec["checks"],
        cells,
        skipped=skipped,
        limits=Limits(**spec["limits"]),
        seed=spec["seed"],
        label=spec["student"],
    )
    return {
        "code": code_digest(cells, skipped),
        "results": {
            grade_id: [dataclasses.asdict(check) for check in result.checks]
            for grade_id, result in results.items()
        },
        "cell_errors": {
            str(index): {
                "type": error.type_name,
                "message": error.message,
                "traceback": error.traceback,
            }
            for index, error in submission.cell_errors.items()
        },
        "fatal_cells": sorted(submission.fatal_cells),
    }


def grade_submission(spec_json: str) -> str:
    """Grade the notebooks of one submission without the gradebook; return JSON.

    ``spec_json`` is the JSON that :func:`grade_all` builds: the student, the
    seed, the worker's limits and, for each notebook, its path and released
    cells. This runs in a pool process or on a Dask worker, which starts the
    sandboxed worker itself, so only JSON text goes in and out. The grading
    package's warnings and errors come back in the result instead of going to
    this process's log.

    NOTE: a Dask worker runs this in one of its threads, and the sandbox
    starts the worker with ``subprocess.Popen(preexec_fn=...)``, which Python
    documents as unsafe in a process with threads: the child can deadlock
    before exec. The pool processes of local mode run no other threads.
    """
    spec = json.loads(spec_json)
    started = time.monotonic()
    with _capture_log() as captured:
        notebooks = {
            notebook["name"]: _grade_notebook(spec, notebook)
            for notebook in spec["notebooks"]
        }
    return json.dumps(
        {
            "notebooks": notebooks,
            "log": captured.entries,
            "seconds": time.monotonic() - started,
        }
    )


def results_from_json(
    outcome: dict[str, Any],
    cells: list[tuple[int, str]],
    skipped: frozenset[str],
    limits: Limits,
) -> tuple[dict[str, CellResult], Submission]:
    """Rebuild what :func:`~minitorch_grading.runner.grade_cells` returned in a task.

    The returned submission never started a worker. It carries the cells and
    the errors they raised, which is all the report and the record use.
    """
    submission = Submission(cells, limits, skipped_names=skipped)
    submission.cell_errors = {
        int(index): StudentError(error["type"], error["message"], error["traceback"])
        for index, error in outcome["cell_errors"].items()
    }
    submission.fatal_cells = {int(index) for index in outcome["fatal_cells"]}
    results = {
        grade_id: CellResult(grade_id, [CheckResult(**check) for check in checks])
        for grade_id, checks in outcome["results"].items()
    }
    return results, submission


# This process: nbgrader ----------------------------------------------------


class ApplyTaskResults(GradeWithHiddenChecks):
    """``GradeWithHiddenChecks`` that uses a task's results when its code matches.

    ``outcomes`` maps (student, notebook) to a notebook's entry in the JSON of
    :func:`grade_submission`. The configuration of ``GradeWithHiddenChecks``
    applies to this class too.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcomes: dict[tuple[str, str], dict[str, Any]] = {}

    def grade(
        self,
        assignment: str,
        student: str,
        notebook: str,
        cells: list[tuple[int, str]],
        skipped: frozenset[str],
    ) -> tuple[dict[str, CellResult], Submission]:
        outcome = self.outcomes.get((student, notebook))
        if outcome is None or "results" not in outcome:
            log.warning(
                "%s: no batch result for notebook %s; grading it in this process",
                student,
                notebook,
            )
            return super().grade(assignment, student, notebook, cells, skipped)
        if outcome["code"] != code_digest(cells, skipped):
            log.warning(
                "%s: the batch task ran different code than nbgrader's sanitized "
                "notebook %s contains; grading it again in this process",
                student,
                notebook,
            )
            return super().grade(assignment, student, notebook, cells, skipped)
        return results_from_json(outcome, cells, skipped, self._limits())


class BatchAutograde(Autograde):
    """nbgrader's ``Autograde`` with :class:`ApplyTaskResults` in place of
    ``GradeWithHiddenChecks``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.grader = ApplyTaskResults(parent=self)

    def _init_preprocessors(self) -> None:
        # The same steps as Autograde._init_preprocessors, with one swapped.
        self.exporter._preprocessors = []
        if self._sanitizing:
            preprocessors = self.sanitize_preprocessors
        else:
            preprocessors = self.autograde_preprocessors
        for preprocessor in preprocessors:
            if isinstance(preprocessor, str):
                preprocessor = import_item(preprocessor)
            if isinstance(preprocessor, type) and issubclass(
                preprocessor, GradeWithHiddenChecks
            ):
                preprocessor = self.grader
            self.exporter.register_preprocessor(preprocessor)


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _autograde_app(course: Path, assignment: str) -> AutogradeApp:
    """Create an ``nbgrader autograde`` application configured as if run in
    ``course``."""
    app = AutogradeApp()
    # nbgrader reads nbgrader_config.py from the working directory as well as
    # from the course root, so the configuration matches only when run there.
    with _working_directory(course):
        app.initialize(["--log-level=WARN"], root=str(course))
    # nbgrader filters by level in its handler, which a progress bar replaces.
    app.log.setLevel(logging.WARNING)
    app.coursedir.assignment_id = assignment
    app.coursedir.student_id = "*"
    return app


def _uses_hidden_checks(converter: Autograde) -> bool:
    for preprocessor in converter.autograde_preprocessors:
        if isinstance(preprocessor, str):
            preprocessor = import_item(preprocessor)
        if isinstance(preprocessor, type) and issubclass(
            preprocessor, GradeWithHiddenChecks
        ):
            return True
    return False


def _released_notebooks(
    db_url: str, course_id: str, assignment: str, course: Path
) -> dict[str, list[dict[str, Any]]]:
    """Released cells of each notebook of ``assignment``, as plain data.

    Tags come from ``release/`` as in ``ValidateSubmission``, so both restore
    the same cells and tags.
    """
    with Gradebook(db_url, course_id) as gradebook:
        try:
            record = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(
                f"the gradebook has no assignment {assignment!r}; run `nbgrader "
                f"generate_assignment {assignment}` in the course directory first"
            ) from None
        released = {}
        for notebook in record.notebooks:
            path = course / "release" / assignment / f"{notebook.name}.ipynb"
            release_nb = nbformat.read(path, as_version=4) if path.is_file() else None
            released[notebook.name] = [
                dataclasses.asdict(cell)
                for cell in released_cells(
                    gradebook, notebook.name, assignment, release_nb
                )
            ]
        return released


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def grader_version() -> str:
    """Digest of the grading package's Python files, hidden checks included."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIRECTORY.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIRECTORY).as_posix().encode() + b"\0")
        digest.update(_file_digest(path).encode())
    return digest.hexdigest()


def submission_fingerprint(directory: Path, context: str) -> str:
    """Digest of every file in a submission folder, with ``context`` mixed in.

    Symbolic links count by their target's name and are never followed, so a
    link to a device or to another student's folder is not read.
    """
    digest = hashlib.sha256(context.encode() + b"\0")
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink():
            digest.update(f"link {relative} {os.readlink(path)}\0".encode())
        elif path.is_file():
            digest.update(f"file {relative} {_file_digest(path)}\0".encode())
    return digest.hexdigest()


def _grading_context(
    course: Path, grader: GradeWithHiddenChecks, released: dict[str, Any]
) -> str:
    """Everything besides a submission's files that its grade depends on."""
    config = course / "nbgrader_config.py"
    return json.dumps(
        {
            "grader": grader_version(),
            "config": _file_digest(config) if config.is_file() else None,
            "checks": grader.assignment,
            "limits": dataclasses.asdict(grader._limits()),
            "skip_tags": list(grader.skip_tags),
            "released": released,
        },
        sort_keys=True,
    )


def _is_graded(course: Path, assignment: str, student: str, fingerprint: str) -> bool:
    record = records.read_record(course, assignment, student)
    return (
        record is not None
        and record.status in FINISHED_STATUSES
        and record.fingerprint == fingerprint
    )


def _windowed(
    specs: Iterator[tuple[str, str]],
    window: int,
    submit: Callable[[str], Any],
    wait_first: Callable[[list[Any]], Any],
    cancel: Callable[[list[Any]], None],
) -> Iterator[tuple[str, str | None]]:
    """Run specs with at most ``window`` tasks submitted at a time.

    ``submit`` starts a task and returns its future. ``wait_first`` returns
    the futures that are done once at least one is. Only the specs in flight
    are held, so their memory does not grow with the number of submissions.
    """
    pending: dict[Any, str] = {}

    def fill() -> None:
        for student, spec in itertools.islice(specs, window - len(pending)):
            pending[submit(spec)] = student

    try:
        fill()
        while pending:
            finished = [
                (pending.pop(future), future) for future in wait_first(list(pending))
            ]
            # Refill first, so that the workers keep busy while this process
            # runs nbgrader on the finished submissions.
            fill()
            for student, future in finished:
                yield student, _task_result(student, future)
    finally:
        cancel(list(pending))


@contextlib.contextmanager
def _task_runner(workers: int, scheduler: str | None) -> Iterator[Any]:
    """Yield a function that runs :func:`grade_submission` on an iterator of
    (student, spec) and yields (student, result JSON or None) as each task
    finishes."""
    if scheduler is None:
        # Spawned, not forked, because this process may run threads (tqdm's
        # monitor) whose locks a forked child would copy in an unknown state.
        context = multiprocessing.get_context("spawn")
        # The pool may start processes while the converter has changed the
        # working directory, where a relative sys.executable names nothing.
        context.set_executable(PYTHON)
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=context
        ) as pool:

            def run_local(
                specs: Iterator[tuple[str, str]],
            ) -> Iterator[tuple[str, str | None]]:
                return _windowed(
                    specs,
                    2 * workers,
                    submit=lambda spec: pool.submit(grade_submission, spec),
                    wait_first=lambda futures: (
                        concurrent.futures.wait(
                            futures, return_when=concurrent.futures.FIRST_COMPLETED
                        ).done
                    ),
                    cancel=lambda futures: [future.cancel() for future in futures],
                )

            yield run_local
        return

    import distributed

    with distributed.Client(scheduler) as client:
        threads = sum(client.nthreads().values()) or 1

        def run_dask(
            specs: Iterator[tuple[str, str]],
        ) -> Iterator[tuple[str, str | None]]:
            return _windowed(
                specs,
                2 * threads,
                submit=lambda spec: client.submit(grade_submission, spec, pure=False),
                wait_first=lambda futures: (
                    distributed.wait(futures, return_when="FIRST_COMPLETED").done
                ),
                cancel=client.cancel,
            )

        yield run_dask


def _task_result(student: str, future: Any) -> str | None:
    try:
        result = future.result()
    except Exception:
        log.exception("%s: the grading task failed", student)
        return None
    if not isinstance(result, str):
        log.error(
            "%s: the grading task returned a %s instead of JSON text",
            student,
            type(result).__name__,
        )
        return None
    return result


def _submitted_students(app: AutogradeApp, assignment: str) -> dict[str, Path]:
    """Student id and folder of each submission of ``assignment``."""
    coursedir = app.coursedir
    pattern = coursedir.format_path(coursedir.submitted_directory, "*", assignment)
    submissions = {}
    for directory in sorted(glob.glob(pattern)):
        path = Path(directory)
        if path.is_dir():
            submissions[path.parent.name] = path
    return submissions


def _outcome(
    course: Path, assignment: str, student: str, seconds: float, skipped: bool
) -> SubmissionOutcome:
    record = records.read_record(course, assignment, student)
    if record is None:
        return SubmissionOutcome(
            student, records.UNGRADED, None, None, seconds, skipped
        )
    return SubmissionOutcome(
        student, record.status, record.score, record.max_score, seconds, skipped
    )


def grade_all(
    course: Path,
    assignment: str,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    regrade: bool = False,
    students: list[str] | None = None,
    progress: bool = True,
) -> BatchReport:
    """Autograde every submission of ``assignment`` in ``course``, in parallel.

    Args:
        course: the nbgrader course directory, with ``nbgrader_config.py``.
        assignment: the assignment's name, as ``nbgrader autograde`` takes it.
        workers: local grading processes; the default is ``os.cpu_count()``.
            Ignored when ``scheduler`` is given.
        scheduler: address of a Dask distributed scheduler, such as
            ``tcp://127.0.0.1:8786``, to grade on its workers instead. They
            must see the course directory at the same path.
        regrade: grade again the submissions that were already graded from
            the same files, grader and configuration.
        students: grade only these student ids (default: every submission).
        progress: show a progress bar on stderr.

    NOTE: local grading processes are spawned, so a script that calls this
    must do so under ``if __name__ == "__main__":``, as multiprocessing
    requires.

    Raises:
        ValueError: the assignment is not in the gradebook, the course's
            configuration does not grade with ``GradeWithHiddenChecks``, or
            ``students`` names a student without a submission.
    """
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    started = time.monotonic()
    course = Path(course).resolve()
    app = _autograde_app(course, assignment)
    converter = BatchAutograde(coursedir=app.coursedir, parent=app)
    converter.force = True
    if not _uses_hidden_checks(converter):
        raise ValueError(
            f"{course / 'nbgrader_config.py'} does not list GradeWithHiddenChecks in "
            "Autograde.autograde_preprocessors, so batch grading cannot reproduce it"
        )
    grader = converter.grader
    checks = grader.assignment or assignment

    submissions = _submitted_students(app, assignment)
    if students is not None:
        unknown = sorted(set(students) - set(submissions))
        if unknown:
            raise ValueError(
                f"no submission of {assignment!r} in {course} for: {', '.join(unknown)}"
            )
        submissions = {name: submissions[name] for name in sorted(set(students))}

    released = _released_notebooks(
        app.coursedir.db_url, app.coursedir.course_id, assignment, course
    )
    context = _grading_context(course, grader, released)
    secret = load_secret(Path(grader.secret_file))
    report = BatchReport(assignment)

    fingerprints = {}
    to_grade = []
    for student, directory in submissions.items():
        fingerprints[student] = submission_fingerprint(directory, context)
        if not regrade and _is_graded(
            course, assignment, student, fingerprints[student]
        ):
            report.outcomes.append(_outcome(course, assignment, student, 0.0, True))
        else:
            to_grade.append(student)

    def specs() -> Iterator[tuple[str, str]]:
        # Built as tasks are submitted, so that only those in flight are held.
        for student in to_grade:
            directory = submissions[student]
            yield (
                student,
                json.dumps(
                    {
                        "student": student,
                        "checks": checks,
                        "seed": student_seed(secret, checks, student),
                        "skip_tags": list(grader.skip_tags),
                        "limits": dataclasses.asdict(grader._limits()),
                        "notebooks": [
                            {"name": name, "path": str(path), "released": cells}
                            for name, cells in released.items()
                            if (path := directory / f"{name}.ipynb").exists()
                        ],
                    }
                ),
            )

    if report.skipped:
        log.info(
            "%d of %d submissions are already graded from the same inputs; "
            "pass regrade=True to grade them again",
            len(report.skipped),
            len(submissions),
        )

    workers = workers or os.cpu_count() or 1
    bar = tqdm(
        total=len(to_grade),
        desc=f"grading {assignment}",
        unit="submission",
        file=sys.stderr,
        disable=not progress,
    )
    with (
        bar,
        logging_redirect_tqdm(loggers=[logging.getLogger(), app.log]),
        _task_runner(workers, scheduler) as run_tasks,
    ):
        for student, result in run_tasks(specs()):
            task_seconds = 0.0
            grader.outcomes.clear()
            if result is not None:
                data = json.loads(result)
                task_seconds = float(data["seconds"])
                for level, name, message in data["log"]:
                    logging.getLogger(name).log(level, "%s: %s", student, message)
                for notebook, outcome in data["notebooks"].items():
                    grader.outcomes[(student, notebook)] = outcome

            converting = time.monotonic()
            app.coursedir.student_id = student
            try:
                converter.start()
            except NbGraderException:
                pass  # nbgrader has logged why; the record has the status
            seconds = task_seconds + time.monotonic() - converting

            record = records.read_record(course, assignment, student)
            if record is not None and record.status in FINISHED_STATUSES:
                record.fingerprint = fingerprints[student]
                records.write_record(course, record)
            outcome = _outcome(course, assignment, student, seconds, False)
            report.outcomes.append(outcome)
            log.info(
                "%s: %s, %s of %s points, %.1f s",
                student,
                outcome.status,
                "-" if outcome.score is None else f"{outcome.score:g}",
                "-" if outcome.max_score is None else f"{outcome.max_score:g}",
                seconds,
            )
            bar.update()

    app.coursedir.student_id = "*"
    report.outcomes.sort(key=lambda outcome: outcome.student)
    report.seconds = time.monotonic() - started
    return report
