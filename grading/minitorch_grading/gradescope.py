"""Grade submissions for Gradescope: results.json files and an autograder zip.

Two ways to use Gradescope's "Programming Assignment" autograder:

* Grade with nbgrader as usual and upload the outcome: :func:`write_results`
  turns the kit's status records (``records.py``) into one ``results.json``
  per submission.
* Let Gradescope grade: :func:`build_autograder_zip` packs the hidden checks,
  the grader and the release notebook (never ``source/``) into an autograder
  zip. Gradescope's container then runs ``python3 -m
  minitorch_grading.gradescope run`` on each submission, which calls
  :func:`grade_notebook_file`. That function grades one notebook the way
  ``nbgrader autograde`` does, with the same preprocessor functions, worker
  limits and isolation, but without nbgrader's gradebook. The release
  notebook's nbgrader metadata replaces the gradebook.

What this module relies on from Gradescope's autograder documentation
(https://gradescope-autograders.readthedocs.io/en/latest/specs/ and
.../submission_metadata/, the same text as ``docs/specs.md``,
``docs/submission_metadata.md`` and ``docs/base_images.md`` in
github.com/gradescope/autograder_samples):

* The zip contains ``setup.sh`` and an executable ``run_autograder`` at its root.
  Gradescope extracts it to ``/autograder/source`` and runs ``setup.sh`` once,
  as root, when it builds the image. The default base image is Ubuntu 22.04.
* For each submission it puts the student's files in
  ``/autograder/submission`` and runs ``run_autograder`` in ``/autograder``.
  The script must write ``/autograder/results/results.json``. Its standard
  output goes to ``/autograder/results/stdout``, shown to instructors only.
* ``results.json`` fields used here: top-level ``score`` (it overrides the
  sum of the tests), ``execution_time`` (seconds), ``output``,
  ``output_format``, ``test_output_format``, ``test_name_format``,
  ``visibility``, ``stdout_visibility`` and ``extra_data``. Each entry of
  ``tests`` has ``name``, ``number``, ``score``, ``max_score``, ``status``
  (``"passed"`` or ``"failed"``), ``output``, ``tags`` and ``visibility``.
  Visibility is one of ``visible``, ``hidden``, ``after_due_date`` and
  ``after_published``. The format ``"text"`` shows text without rendering
  HTML or Markdown; the top-level output would otherwise be ``simple_format``,
  which renders HTML.
* ``/autograder/submission_metadata.json`` contains the submission's ``id`` and
  ``users``, each with an ``email``, ``id`` and ``name`` (several users for a
  group submission).

Seeds: under nbgrader each student's hidden-check inputs are seeded from the
student id (``seeds.py``). On Gradescope the seed key is the submitters'
email addresses from ``submission_metadata.json``, so a student keeps the same
inputs across resubmissions as under nbgrader. Without email addresses it is
the submission id. The HMAC secret travels inside the autograder zip, so it
lives on Gradescope's machines and anyone who can download the autograder can
compute every student's inputs. :data:`GRADESCOPE_SECRET_FILE` is therefore
separate from the secret that nbgrader grading uses.

Isolation is the same code as under nbgrader (``isolation.py``). In a
container without Landlock, namespaces or a pids cgroup, each missing
protection is logged once to the instructor's stdout and grading goes on.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import re
import stat
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat

import minitorch
import minitorch_grading
from minitorch_grading import records
from minitorch_grading.intake import (
    InvalidNotebook,
    ReleasedCell,
    read_submitted_notebook,
    reconcile_cells,
    released_cells_from_notebook,
)
from minitorch_grading.nbgrader_plugin import (
    add_extra_files_reason,
    grade_notebook,
    score_test_cells,
    update_record,
)
from minitorch_grading.notebook_cells import SKIP_TAGS
from minitorch_grading.records import Record
from minitorch_grading.runner import checks_directory
from minitorch_grading.sandbox import Limits
from minitorch_grading.seeds import DEFAULT_SECRET_FILE, load_secret, student_seed

log = logging.getLogger(__name__)

# A secret of its own, because the autograder zip carries it to Gradescope.
GRADESCOPE_SECRET_FILE = DEFAULT_SECRET_FILE.with_name("gradescope-secret")

# Names inside the autograder zip, so also under /autograder/source.
FRAMEWORK_DIRECTORY = "framework"
GRADING_DIRECTORY = "grading"
SECRET_NAME = "seed-secret"
REQUIREMENTS_NAME = "requirements.txt"
RELEASE_DIRECTORY = "release"

# Statuses of a record whose grading has finished, invalid notebooks included.
FINISHED_STATUSES = (
    records.GRADED,
    records.ADJUSTED,
    records.TIMED_OUT,
    records.CRASHED,
    records.INVALID,
    records.ERROR,
)
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")

# Seed key of a submission whose metadata names no user and no submission id.
FALLBACK_SEED_KEY = "gradescope-submission"


# results.json ---------------------------------------------------------------


def _summary(record: Record) -> str:
    """Top-level ``output`` of results.json: the status, score and reasons."""
    lines = [f"Status: {record.status}"]
    if record.status == records.INVALID:
        lines.append("The notebook could not be graded, so the autograded score is 0.")
    elif record.max_score is not None:
        lines.append(
            f"Autograded score: {record.score or 0:g} of {record.max_score:g} points"
        )
    if record.reasons:
        lines.append("")
        lines.extend(f"- {reason}" for reason in record.reasons)
    return "\n".join(lines) + "\n"


def results_json(
    record: Record,
    *,
    execution_time: float | None = None,
    visibility: str = "visible",
) -> dict[str, Any]:
    """Convert a finished status record into Gradescope's results.json structure.

    Each hidden check becomes one test worth its points, named after its grade
    cell and description, with the failure message as its output. The
    top-level score is the record's autograded score (0 for an invalid
    notebook), which Gradescope shows in place of the tests' sum. The two
    differ only when a grade cell's points differ from its checks' points.

    Raises:
        ValueError: ``record`` has not finished grading, or ``visibility`` is
            not one of :data:`VISIBILITIES`.
    """
    if record.status not in FINISHED_STATUSES:
        raise ValueError(
            f"the record of {record.student!r} has status {record.status!r}; only "
            f"finished records ({', '.join(FINISHED_STATUSES)}) have results"
        )
    if visibility not in VISIBILITIES:
        raise ValueError(
            f"visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}"
        )

    tests = []
    cell_numbers: dict[str, int] = {}
    checks_per_cell: dict[str, int] = {}
    for check in record.checks:
        cell_number = cell_numbers.setdefault(check.grade_id, len(cell_numbers) + 1)
        checks_per_cell[check.grade_id] = checks_per_cell.get(check.grade_id, 0) + 1
        test: dict[str, Any] = {
            "name": f"[{check.grade_id}] {check.description}",
            "number": f"{cell_number}.{checks_per_cell[check.grade_id]}",
            "score": float(check.points) if check.passed else 0.0,
            "max_score": float(check.points),
            "status": "passed" if check.passed else "failed",
            "tags": [check.grade_id],
            "visibility": visibility,
        }
        if check.message:
            test["output"] = check.message
        tests.append(test)

    results: dict[str, Any] = {
        "score": float(record.score or 0.0),
        "output": _summary(record),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": visibility,
        # The grader's log names students and hidden-check files.
        "stdout_visibility": "hidden",
        "extra_data": {
            "status": record.status,
            "reasons": list(record.reasons),
            "max_score": record.max_score,
        },
        "tests": tests,
    }
    if execution_time is not None:
        results["execution_time"] = max(0, round(execution_time))
    return results


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=1, ensure_ascii=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_results(course: Path, assignment: str, output_dir: Path) -> list[Path]:
    """Write ``<output_dir>/<student>/results.json`` for each finished record.

    The records are those that ``nbgrader autograde`` left in
    ``<course>/grading_status/<assignment>/``. Records of submissions still
    being graded, or never graded, are skipped with a warning. Returns the
    paths written, sorted by student.
    """
    directory = records.record_path(course, assignment, "_").parent
    written = []
    for path in sorted(directory.glob("*.json")):
        student = path.stem
        record = records.read_record(course, assignment, student)
        if record is None or record.status not in FINISHED_STATUSES:
            status = record.status if record else "missing"
            log.warning(
                "%s: no results.json, because its status is %s", student, status
            )
            continue
        target = Path(output_dir) / student / "results.json"
        _write_json(target, results_json(record))
        written.append(target)
    log.info("wrote %d results.json file(s) to %s", len(written), output_dir)
    return written


# Grading one notebook -------------------------------------------------------


def released_notebook(course: Path, assignment: str) -> Path:
    """Find the release notebook of a one-notebook ``assignment`` in ``course``.

    Raises:
        FileNotFoundError: the release folder contains no notebook.
        ValueError: it contains more than one, which this module cannot grade.
    """
    directory = Path(course) / RELEASE_DIRECTORY / assignment
    notebooks = sorted(directory.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(
            f"no release notebook in {directory}; run `nbgrader generate_assignment "
            f"{assignment}` in the course directory first"
        )
    if len(notebooks) > 1:
        names = ", ".join(path.name for path in notebooks)
        raise ValueError(
            f"{directory} contains {len(notebooks)} notebooks ({names}); Gradescope "
            "grading supports assignments with one notebook"
        )
    return notebooks[0]


def _autograded_points(released: list[ReleasedCell]) -> float:
    """Points of the released autograded test cells (graded code, no solution)."""
    return sum(
        cell.points or 0.0
        for cell in released
        if cell.grade and cell.cell_type == "code" and not cell.solution
    )


def grade_notebook_file(
    notebook: Path,
    assignment: str,
    *,
    seed_key: str,
    limits: Limits | None = None,
    course: Path = Path("."),
    secret_file: Path = DEFAULT_SECRET_FILE,
    skip_tags: Iterable[str] = SKIP_TAGS,
) -> Record:
    """Grade one notebook file outside nbgrader and return its finished record.

    The steps are those of ``nbgrader autograde`` with the kit's preprocessors.
    An unreadable notebook gets status invalid and score 0. Grading metadata is
    repaired against the release notebook in ``<course>/release/``. The code
    cells run in an isolated worker under ``limits``, whose default
    :class:`Limits` has the values of ``nbgrader_config.py``. Each test cell's
    score is scaled to its released points.

    ``seed_key`` seeds the hidden checks' inputs with the secret in
    ``secret_file``. With nbgrader's default secret and a student id as the
    key, the inputs, and so the score, are those of ``nbgrader autograde``.
    """
    record = Record(seed_key, assignment)
    release = released_notebook(course, assignment)
    released = released_cells_from_notebook(nbformat.read(release, as_version=4))

    try:
        nb = read_submitted_notebook(Path(notebook))
    except InvalidNotebook as error:
        log.error("%s: invalid submission: %s", seed_key, error)
        record.add(records.INVALID, str(error))
        record.score = 0.0
        record.max_score = _autograded_points(released)
        record.finish()
        return record

    for note in reconcile_cells(nb, released):
        log.warning("%s: %s", seed_key, note)
        record.add(records.ADJUSTED, note)

    seed = student_seed(load_secret(secret_file), assignment, seed_key)
    log.info("Grading %s of %s with hidden checks", assignment, seed_key)
    results, submission = grade_notebook(
        nb,
        assignment,
        skip_tags=skip_tags,
        limits=limits or Limits(),
        seed=seed,
        label=seed_key,
    )
    scores = score_test_cells(nb, results)
    update_record(
        record,
        results,
        submission,
        sum(cell.score for cell in scores),
        sum(cell.points for cell in scores),
    )
    return record


# Running inside Gradescope's container --------------------------------------


def seed_key_from_metadata(path: Path) -> str | None:
    """Read the seed key of a submission from Gradescope's submission metadata.

    The key is the submitters' email addresses, lower-cased, sorted and joined
    by commas, or ``submission-<id>`` when no user has one. Returns None when
    the file is missing or names neither.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("cannot read the submission metadata %s: %s", path, error)
        return None
    if not isinstance(data, dict):
        log.warning("the submission metadata %s is not a JSON object", path)
        return None
    users = data.get("users")
    emails = sorted(
        user["email"].strip().lower()
        for user in (users if isinstance(users, list) else [])
        if isinstance(user, dict)
        and isinstance(user.get("email"), str)
        and user["email"].strip()
    )
    if emails:
        return ",".join(emails)
    submission_id = data.get("id")
    if isinstance(submission_id, (int, str)) and str(submission_id):
        return f"submission-{submission_id}"
    return None


def find_submitted_notebook(submission: Path, name: str) -> tuple[Path, str | None]:
    """Choose the notebook to grade in a Gradescope submission folder.

    Returns ``submission/<name>`` if that exists. Otherwise, if the folder
    contains exactly one other notebook, that one, because Gradescope keeps the
    names that students upload, such as ``activations (1).ipynb``. Otherwise
    returns the expected path, which :func:`grade_notebook_file` reports as
    not submitted. The second item is a reason for the record, or None.
    """
    expected = Path(submission) / name
    if expected.exists() or expected.is_symlink():
        return expected, None
    found = sorted(
        path
        for path in Path(submission).rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.relative_to(submission).parts
    )
    if len(found) == 1:
        relative = found[0].relative_to(submission).as_posix()
        return found[0], f"graded {relative}, because the submission has no {name}"
    if found:
        shown = ", ".join(path.relative_to(submission).as_posix() for path in found)
        return expected, (
            f"the submission has several notebooks and none is named {name}: "
            f"{shown}. Submit one notebook named {name}."
        )
    return expected, None


def grade_submission(
    submission: Path,
    *,
    source: Path,
    assignment: str,
    metadata: Path | None = None,
    secret_file: Path | None = None,
) -> Record:
    """Grade the notebook in a Gradescope submission folder; return its record.

    ``source`` is the unpacked autograder zip (``/autograder/source``), laid
    out like a course directory. ``metadata`` defaults to
    ``submission_metadata.json`` beside the submission folder and
    ``secret_file`` to the secret inside ``source``.
    """
    submission = Path(submission)
    metadata = metadata or submission.parent / "submission_metadata.json"
    seed_key = seed_key_from_metadata(metadata)
    if seed_key is None:
        log.warning(
            "%s names no user email or submission id; every such submission gets "
            "the inputs of seed key %r",
            metadata,
            FALLBACK_SEED_KEY,
        )
        seed_key = FALLBACK_SEED_KEY

    name = released_notebook(source, assignment).name
    notebook, note = find_submitted_notebook(submission, name)
    record = grade_notebook_file(
        notebook,
        assignment,
        seed_key=seed_key,
        course=source,
        secret_file=secret_file or Path(source) / SECRET_NAME,
    )
    if note:
        invalid = record.status == records.INVALID
        record.add(records.INVALID if invalid else records.ADJUSTED, note)
    if notebook.parent == submission and record.status != records.INVALID:
        add_extra_files_reason(record, submission, {notebook.name})
    record.finish()
    return record


def run(
    submission: Path,
    results: Path,
    *,
    source: Path | None = None,
    assignment: str | None = None,
    metadata: Path | None = None,
    secret_file: Path | None = None,
) -> int:
    """Grade a Gradescope submission and write its results.json; return the
    exit status.

    Any failure of the grader still writes a results.json, with status error,
    score 0 and the traceback in the log, and returns 1.
    """
    # NOTE: Gradescope's specification does not say how it treats a non-zero
    # exit status when results.json exists.
    started = time.monotonic()
    source = Path(source) if source else Path(submission).parent / "source"
    status = 0
    try:
        if assignment is None:
            assignment = _only_assignment(source)
        record = grade_submission(
            submission,
            source=source,
            assignment=assignment,
            metadata=metadata,
            secret_file=secret_file,
        )
    except Exception:  # the student must still get a results.json
        log.exception("grading %s failed", submission)
        record = Record("?", assignment or "?")
        record.add(
            records.ERROR,
            "the autograder failed on this submission; your instructor has the "
            "details. Resubmitting the same notebook will not help.",
        )
        record.score = 0.0
        record.finish()
        status = 1
    data = results_json(record, execution_time=time.monotonic() - started)
    _write_json(Path(results), data)
    log.info(
        "wrote %s: status %s, score %g",
        results,
        record.status,
        data["score"],
    )
    return status


def _only_assignment(source: Path) -> str:
    release = Path(source) / RELEASE_DIRECTORY
    names = sorted(path.name for path in release.iterdir() if path.is_dir())
    if len(names) != 1:
        raise ValueError(
            f"{release} contains {len(names)} assignments ({', '.join(names)}); pass "
            "--assignment"
        )
    return names[0]


# The autograder zip ---------------------------------------------------------

# NOTE: setup.sh is untested on Gradescope's images. The tests run
# run_autograder in a local copy of the /autograder layout, but not setup.sh,
# because it installs system packages.
SETUP_SCRIPT = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# The framework goes into a virtual environment (Ubuntu 24.04's Python rejects
# system-wide pip installs), because a worker confined by Landlock can import
# packages only from the Python installation. The grader stays uninstalled in
# /autograder/source/{grading} (see run_autograder), outside the paths that a
# confined worker may read, so a submission cannot read the hidden checks.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --no-cache-dir \\
    -r /autograder/source/{requirements} /autograder/source/{framework}
# As root, the worker runs submissions as an unprivileged user where it can.
# That user must read the Python installation and the worker script, and
# only root may read the secret.
chmod a+rx /autograder /autograder/source
chmod -R a+rX /autograder/source/{grading} /autograder/venv
chmod 0600 /autograder/source/{secret}
"""

RUN_SCRIPT = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission, as root, in /autograder.
set -euo pipefail
export PATH="/autograder/venv/bin:$PATH"
export PYTHONPATH=/autograder/source/{grading}
export MPLBACKEND=Agg
exec python3 -m minitorch_grading.gradescope run --assignment {assignment} \\
    --submission /autograder/submission --results /autograder/results/results.json
"""


def _requirements() -> str:
    """Runtime requirements of the grader and the framework, as installed here."""
    own = {"minitorch-grading", "minitorch-framework"}
    lines = [
        "# Runtime dependencies of minitorch-grading and minitorch-framework, from",
        "# their installed metadata. setup.sh installs the framework from",
        f"# {FRAMEWORK_DIRECTORY}/; the grader runs from {GRADING_DIRECTORY}/.",
    ]
    for distribution in sorted(own):
        for requirement in importlib.metadata.requires(distribution) or []:
            specifier, _, marker = requirement.partition(";")
            if "extra" in marker:
                continue
            name = re.match(r"[A-Za-z0-9._-]+", specifier.strip()).group()
            if re.sub(r"[._]", "-", name).lower() in own:
                continue
            lines.append(requirement.strip())
    return "\n".join(lines) + "\n"


def _tree_files(directory: Path, prefix: str) -> list[tuple[str, Path]]:
    """Files under ``directory`` except caches, as (name in the zip, path) pairs."""
    files = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if not path.is_file() or path.suffix in (".pyc", ".pyo"):
            continue
        if "__pycache__" in relative.parts:
            continue
        files.append((f"{prefix}/{relative.as_posix()}", path))
    return files


def _framework_project() -> Path:
    """Find the imported framework's project folder (pyproject.toml, minitorch/).

    Raises:
        FileNotFoundError: minitorch is not imported from a source checkout.
    """
    project = Path(minitorch.__file__).resolve().parent.parent
    if not (project / "pyproject.toml").is_file():
        raise FileNotFoundError(
            f"minitorch is imported from {project}, which has no pyproject.toml; "
            "build the autograder zip where the framework is installed from its "
            "source folder (pip install -e ./framework)"
        )
    return project


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    # A fixed time keeps the zip identical when nothing in it changed.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3  # Unix, so that unzip applies the mode bits
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_autograder_zip(
    course: Path,
    assignment: str,
    output: Path,
    *,
    secret_file: Path = GRADESCOPE_SECRET_FILE,
) -> Path:
    """Write a Gradescope autograder zip for ``assignment`` to ``output``.

    The zip contains:

    * ``setup.sh`` and ``run_autograder``, mode 0755;
    * ``requirements.txt``, the dependencies;
    * ``framework/``, the project of the imported framework;
    * ``grading/``, the imported ``minitorch_grading`` with the hidden checks;
    * ``release/<assignment>/``, copied from ``<course>/release/``;
    * ``seed-secret``, mode 0600, from ``secret_file`` (created on first use).

    Nothing from ``<course>/source/`` goes in, so the zip contains no solution
    notebook.
    """
    course = Path(course)
    release = released_notebook(course, assignment)
    checks_directory(assignment)  # raises if the hidden checks are missing
    secret = load_secret(secret_file)
    framework = _framework_project()
    grading = Path(minitorch_grading.__file__).resolve().parent

    setup = SETUP_SCRIPT.format(
        requirements=REQUIREMENTS_NAME,
        framework=FRAMEWORK_DIRECTORY,
        grading=GRADING_DIRECTORY,
        secret=SECRET_NAME,
    )
    run_script = RUN_SCRIPT.format(grading=GRADING_DIRECTORY, assignment=assignment)
    entries: list[tuple[str, bytes, int]] = [
        ("setup.sh", setup.encode(), 0o755),
        ("run_autograder", run_script.encode(), 0o755),
        (REQUIREMENTS_NAME, _requirements().encode(), 0o644),
        (SECRET_NAME, secret + b"\n", 0o600),
    ]
    files = [
        *_tree_files(release.parent, f"{RELEASE_DIRECTORY}/{assignment}"),
        (f"{FRAMEWORK_DIRECTORY}/pyproject.toml", framework / "pyproject.toml"),
        *_tree_files(framework / "minitorch", f"{FRAMEWORK_DIRECTORY}/minitorch"),
        *_tree_files(grading, f"{GRADING_DIRECTORY}/minitorch_grading"),
    ]
    for name, path in files:
        if ".ipynb_checkpoints" not in Path(name).parts:
            entries.append((name, path.read_bytes(), 0o644))

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=output.parent, suffix=".zip.tmp")
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w") as archive:
            for name, data, mode in entries:
                _add(archive, name, data, mode)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.info("wrote the autograder zip %s (%d files)", output, len(entries))
    return output


# Command line ---------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m minitorch_grading.gradescope",
        description="Grade a submission inside Gradescope's autograder container.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run",
        help="grade the notebook in a submission folder and write results.json",
        description=(
            "Grade the notebook in a Gradescope submission folder and write "
            "results.json. run_autograder calls this with Gradescope's paths."
        ),
    )
    run_parser.add_argument(
        "--submission",
        type=Path,
        required=True,
        help="folder with the student's files (Gradescope: /autograder/submission)",
    )
    run_parser.add_argument(
        "--results",
        type=Path,
        required=True,
        help="results file to write (Gradescope: /autograder/results/results.json)",
    )
    run_parser.add_argument(
        "--source",
        type=Path,
        help="the unpacked autograder zip (default: 'source' beside --submission)",
    )
    run_parser.add_argument(
        "--assignment",
        help="assignment name (default: the only folder in <source>/release)",
    )
    run_parser.add_argument(
        "--metadata",
        type=Path,
        help=(
            "Gradescope's submission metadata, which names the student (default: "
            "submission_metadata.json beside --submission)"
        ),
    )
    run_parser.add_argument(
        "--secret-file",
        type=Path,
        help=f"secret that seeds the hidden checks (default: <source>/{SECRET_NAME})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    # Gradescope shows run_autograder's stdout to instructors only.
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return run(
        arguments.submission,
        arguments.results,
        source=arguments.source,
        assignment=arguments.assignment,
        metadata=arguments.metadata,
        secret_file=arguments.secret_file,
    )


if __name__ == "__main__":
    sys.exit(main())
