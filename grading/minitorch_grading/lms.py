"""Import a Canvas "Download Submissions" zip into nbgrader's ``submitted/`` folder.

``import_canvas_zip`` reads the zip, picks each student's latest notebook and
hands those notebooks to ``nbgrader zip_collect`` with ``CanvasCollectorPlugin``,
which files them under ``submitted/<student id>/<assignment>/`` with a
``timestamp.txt``. It then adds the students to the gradebook and returns an
``ImportReport``.

What the import relies on, read from ``app/models/content_zipper.rb`` and
``Attachment.make_unique_filename`` in the Canvas LMS source:

- Each uploaded file is stored as ``{name}_{user id}_{attachment id}_{file name}``,
  or ``{name}_LATE_{user id}_{attachment id}_{file name}`` when Canvas counts the
  submission late. ``{name}`` is the student's sortable name ("Last, First").
  Canvas lowercases the whole prefix, ``LATE`` included, and removes every
  character that is not a letter, digit or underscore, so "Ñúñez, Łukasz" becomes
  ``ñúñezłukasz``. The second number is the id of the uploaded file, not of the
  submission. With anonymous grading the name and its underscore are left out.
  Older Canvas versions turned the removed characters into ``-`` and wrote
  ``-late_`` for a late submission. The pattern accepts both forms, in any case.
- When a student uploads a file whose name they already used, Canvas adds
  ``-1``, ``-2`` ... before the extension, so a resubmitted ``activations.ipynb``
  arrives as ``activations-1.ipynb``.
- Text entries and URLs arrive as ``{prefix}_text.html`` and ``{prefix}_link.html``.
  They carry no attachment id, so they are reported as unmatched files.
- Canvas does not record the submission time in the file name. The zip entry's
  modification time is the only time in the zip, so it becomes the submission
  time: the latest attempt's entry time is written to ``timestamp.txt``, from
  which nbgrader computes lateness against the assignment's due date. Zip entry
  times carry no time zone. They are read as UTC unless the ``zip_timezone``
  argument sets another zone.

NOTE: the Canvas versions read do not set entry times, and rubyzip's ``Entry``
then defaults to ``DOSTime.now``, the server's local time when it wrote the zip.
A real Canvas zip may therefore carry the download time, which makes every
submission late for nbgrader when the zip was downloaded after the due date.
The report warns whenever nbgrader's lateness disagrees with the LATE marker.

A zip normally contains only the latest submission of each student. When it has
several notebooks of one student, they are taken as attempts, ordered by entry
time, then by attachment id (Canvas numbers uploads in order), then by the
``-N`` suffix. Only the latest is collected.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import subprocess
import tempfile
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.plugins import FileNameCollectorPlugin
from nbgrader.utils import parse_utc
from traitlets import Unicode
from traitlets.config.loader import PyFileConfigLoader

from minitorch_grading.isolation import PYTHON

log = logging.getLogger(__name__)

# Applied to the base name of each file. The name is optional because anonymous
# grading leaves it out. It is matched lazily, so an underscore inside a name is
# kept in the name. Canvas removes "_<digits>_" from names so that the ids can be
# found, so a name never contains that pattern.
CANVAS_NAMED_REGEXP = (
    r"(?i)^(?:(?P<name>.*?)[_-])??"
    r"(?:(?P<late>late)_)?"
    r"(?P<student_id>\d+)_"
    r"(?P<attachment_id>\d+)_"
    r"(?P<file_id>.+)$"
)
CANVAS_FILE_NAME = re.compile(CANVAS_NAMED_REGEXP)
RESUBMISSION_SUFFIX = re.compile(r"-(?P<number>[1-9][0-9]*)$")

# Bit 11 of a zip entry's flags: its name is UTF-8 (APPNOTE.TXT 4.4.4).
ZIP_UTF8_FLAG = 0x800


class CanvasImportError(Exception):
    """A Canvas zip or course directory that the import cannot use."""


def original_file_name(file_id: str) -> tuple[str, int]:
    """Split Canvas's resubmission suffix off a file name.

    Returns the name without the suffix and the resubmission number, which is 0
    for a first upload: ``activations-2.ipynb`` gives
    ``("activations.ipynb", 2)``.
    """
    stem, extension = os.path.splitext(file_id)
    match = RESUBMISSION_SUFFIX.search(stem)
    if match is None:
        return file_id, 0
    return stem[: match.start()] + extension, int(match["number"])


class CanvasCollectorPlugin(FileNameCollectorPlugin):
    """``nbgrader zip_collect`` collector for files named by Canvas.

    It matches ``named_regexp`` against the file's base name, because
    ``FileNameCollectorPlugin`` matches from the start of the absolute path. It
    renames the notebook to ``notebook`` (or drops Canvas's ``-N`` suffix when
    ``notebook`` is empty) and takes the submission time from ``timestamps_file``,
    because a Canvas file name has no time in it.
    """

    named_regexp = Unicode(CANVAS_NAMED_REGEXP).tag(config=True)

    notebook = Unicode(
        "",
        help="File name every collected notebook gets, such as activations.ipynb. "
        "When empty, a notebook keeps its Canvas name without the -N suffix.",
    ).tag(config=True)

    timestamps_file = Unicode(
        "",
        help="JSON file that maps each file's base name to its submission time "
        "(ISO 8601). Files missing from it are collected without a time.",
    ).tag(config=True)

    def collect(self, submitted_file: str) -> dict | None:
        base_name = os.path.basename(submitted_file)
        info = super().collect(base_name)
        if info is None:
            return None
        if self.notebook:
            info["file_id"] = self.notebook
        else:
            info["file_id"] = original_file_name(info["file_id"])[0]
        if self.timestamps_file:
            with open(self.timestamps_file, encoding="utf-8") as file:
                timestamps = json.load(file)
            if base_name in timestamps:
                info["timestamp"] = timestamps[base_name]
        return info


@dataclass(frozen=True)
class Attempt:
    """One notebook of a student in the zip."""

    zip_name: str  # entry name in the zip, with any mis-decoded UTF-8 repaired
    file_name: str  # the name the student uploaded, as Canvas stored it
    attachment_id: int
    resubmission: int  # Canvas's -N suffix, 0 for a first upload
    submitted_at: datetime  # zip entry time, timezone-aware UTC
    late: bool  # Canvas's LATE marker
    entry_name: str = field(default="", repr=False)  # name as the zip stores it


# Actions the import takes on a student's latest attempt.
IMPORTED = "imported"
REPLACED = "replaced an older submission"
UNCHANGED = "already imported"
KEPT_NEWER = "kept the newer submission already in submitted/"
KEPT_UNDATED = "kept the submission in submitted/, which has no valid timestamp.txt"


@dataclass
class StudentImport:
    """Zip contents and import outcome of one student."""

    student_id: str
    name: str  # the name as it appears in the Canvas file name
    first_name: str | None = None  # from the roster, when one was given
    last_name: str | None = None
    attempts: list[Attempt] = field(default_factory=list)  # oldest first
    other_files: list[str] = field(default_factory=list)  # not notebooks
    action: str = ""  # IMPORTED, REPLACED, UNCHANGED, KEPT_NEWER or KEPT_UNDATED

    @property
    def used(self) -> Attempt | None:
        """The latest attempt, the one collected (None without notebooks)."""
        return self.attempts[-1] if self.attempts else None

    @property
    def late(self) -> bool:
        """Whether Canvas marked the latest attempt late."""
        return self.used is not None and self.used.late

    @property
    def display_name(self) -> str:
        """The name as "Last, First", Canvas's sortable form."""
        if self.first_name or self.last_name:
            return ", ".join(part for part in (self.last_name, self.first_name) if part)
        return self.name or "(no name: anonymous grading)"


@dataclass
class ImportReport:
    """The outcome of one ``import_canvas_zip`` call."""

    assignment: str
    zip_path: Path
    students: list[StudentImport]  # sorted by student id
    unmatched: list[str]  # zip entries that match no Canvas file name
    warnings: list[str]

    def student(self, student_id: str) -> StudentImport:
        """Return the entry of ``student_id``; raise KeyError if the zip has none."""
        for entry in self.students:
            if entry.student_id == student_id:
                return entry
        raise KeyError(student_id)

    @property
    def collected(self) -> list[str]:
        """Ids of the students whose notebook was copied into submitted/."""
        return [
            entry.student_id
            for entry in self.students
            if entry.action in (IMPORTED, REPLACED)
        ]

    def render(self) -> str:
        """Format the report as text for the instructor."""
        lines = [f"Canvas import of {self.zip_path.name} into {self.assignment}:"]
        for entry in self.students:
            lines.append(f"{entry.student_id} {entry.display_name}")
            for number, attempt in enumerate(entry.attempts, start=1):
                marks = []
                if attempt is entry.used:
                    marks.append("used")
                if attempt.late:
                    marks.append("LATE")
                time = attempt.submitted_at.strftime("%Y-%m-%d %H:%M:%S %Z")
                suffix = f" ({', '.join(marks)})" if marks else ""
                lines.append(f"  attempt {number}: {attempt.file_name}, {time}{suffix}")
            if not entry.attempts:
                lines.append("  no notebook")
            for name in entry.other_files:
                lines.append(f"  not a notebook, not collected: {name}")
            if entry.action:
                lines.append(f"  {entry.action}")
        if self.unmatched:
            lines.append("Files that match no Canvas file name, not collected:")
            lines.extend(f"  {name}" for name in self.unmatched)
        if any(entry.action in (KEPT_NEWER, KEPT_UNDATED) for entry in self.students):
            lines.append("Import again with force=True to replace kept submissions.")
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  {warning}" for warning in self.warnings)
        collected = len(self.collected)
        lines.append(
            f"{collected} of {len(self.students)} students collected, "
            f"{len(self.unmatched)} unmatched files."
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def repaired_entry_name(info: zipfile.ZipInfo) -> str:
    """Return the entry's name in Unicode NFC.

    Python decodes names without the UTF-8 flag as code page 437. rubyzip sets
    the flag only when ``Zip.unicode_names`` is on but writes UTF-8 names either
    way, so such a name is re-encoded and decoded as UTF-8 when that succeeds.
    """
    name = info.filename
    if not info.flag_bits & ZIP_UTF8_FLAG:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return unicodedata.normalize("NFC", name)


def read_canvas_roster(csv_path: Path) -> dict[str, tuple[str, str]]:
    """Read first and last names from a Canvas gradebook export.

    Returns a map from Canvas user id (the ``ID`` column) to (first name, last
    name), split from the ``Student`` column, which contains "Last, First". Rows
    without a numeric id, such as "Points Possible", are skipped.
    """
    roster = {}
    with open(csv_path, encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        missing = {"Student", "ID"} - set(reader.fieldnames or ())
        if missing:
            raise CanvasImportError(
                f"{csv_path} is not a Canvas gradebook export: the columns "
                f"{sorted(missing)} are missing. Export the gradebook from "
                "Canvas (Grades, Export) and pass that file."
            )
        for row in reader:
            student_id = (row["ID"] or "").strip()
            if not student_id.isdigit():
                continue
            last, _, first = (row["Student"] or "").partition(",")
            roster[student_id] = (first.strip(), last.strip())
    return roster


def open_canvas_zip(zip_path: Path) -> zipfile.ZipFile:
    """Open ``zip_path`` and check every entry's CRC; raise CanvasImportError."""
    if not zip_path.exists():
        raise CanvasImportError(
            f"Canvas zip not found: {zip_path}. Download the submissions from the "
            "assignment's page in Canvas (Download Submissions) and pass the path "
            "of the saved zip."
        )
    if not zip_path.is_file():
        raise CanvasImportError(f"{zip_path} is not a file; pass the Canvas zip.")
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as error:
        raise CanvasImportError(
            f"{zip_path} is not a valid zip file ({error}). An interrupted "
            "download leaves a truncated file: download it from Canvas again."
        ) from error
    try:
        corrupt = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
        archive.close()
        raise CanvasImportError(
            f"{zip_path} is damaged and cannot be read ({error}). Download it "
            "from Canvas again."
        ) from error
    if corrupt is not None:
        archive.close()
        raise CanvasImportError(
            f"{zip_path} is damaged: the entry {corrupt!r} fails its CRC check. "
            "Download the zip from Canvas again."
        )
    return archive


def scan_zip(
    archive: zipfile.ZipFile, zip_timezone: tzinfo
) -> tuple[dict[str, StudentImport], list[str]]:
    """Group the zip's entries by student; return them and the unmatched names."""
    students: dict[str, StudentImport] = {}
    unmatched = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        zip_name = repaired_entry_name(info)
        base_name = zip_name.rsplit("/", 1)[-1]
        match = CANVAS_FILE_NAME.match(base_name)
        if match is None:
            unmatched.append(zip_name)
            continue
        student_id = match["student_id"]
        entry = students.setdefault(
            student_id, StudentImport(student_id, match["name"] or "")
        )
        if not base_name.endswith(".ipynb"):
            entry.other_files.append(zip_name)
            continue
        submitted_at = datetime(*info.date_time, tzinfo=zip_timezone)
        entry.attempts.append(
            Attempt(
                zip_name=zip_name,
                file_name=match["file_id"],
                attachment_id=int(match["attachment_id"]),
                resubmission=original_file_name(match["file_id"])[1],
                submitted_at=submitted_at.astimezone(timezone.utc),
                late=match["late"] is not None,
                entry_name=info.filename,
            )
        )
    for entry in students.values():
        entry.attempts.sort(
            key=lambda a: (a.submitted_at, a.attachment_id, a.resubmission)
        )
    return students, sorted(unmatched)


def load_course_directory(course: Path) -> CourseDirectory:
    """Return nbgrader's view of ``course``, with its nbgrader_config.py applied."""
    config_file = course / "nbgrader_config.py"
    if config_file.is_file():
        config = PyFileConfigLoader(config_file.name, path=str(course)).load_config()
    else:
        config = None
    return CourseDirectory(config=config, root=str(course))


def released_notebooks(coursedir: CourseDirectory, assignment: str) -> list[str]:
    release = Path(coursedir.format_path(coursedir.release_directory, ".", assignment))
    return sorted(path.name for path in release.glob("*.ipynb"))


def existing_timestamp(submitted: Path) -> datetime | None:
    """Return the UTC time in ``submitted/timestamp.txt``, or None."""
    path = submitted / "timestamp.txt"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    try:
        return parse_utc(text).replace(tzinfo=timezone.utc) if text else None
    except (ValueError, OverflowError):
        return None


def choose_action(
    entry: StudentImport,
    submitted: Path,
    notebook_name: str,
    archive: zipfile.ZipFile,
    force: bool,
) -> str:
    """Decide whether the latest attempt replaces the contents of submitted/."""
    if not submitted.exists() or not any(submitted.iterdir()):
        return IMPORTED
    if force:
        return REPLACED
    existing = existing_timestamp(submitted)
    if existing is None:
        return KEPT_UNDATED
    used = entry.used
    if existing > used.submitted_at:
        return KEPT_NEWER
    if existing == used.submitted_at:
        notebook = submitted / notebook_name
        if notebook.is_file() and notebook.read_bytes() == archive.read(
            used.entry_name
        ):
            return UNCHANGED
    return REPLACED


def run_zip_collect(
    course: Path,
    assignment: str,
    archive: zipfile.ZipFile,
    chosen: list[Attempt],
    notebook: str,
    workspace: Path,
) -> None:
    """Collect the ``chosen`` attempts into submitted/ with ``nbgrader zip_collect``.

    The chosen entries are copied into a fresh zip, with UTF-8 names, in the
    archive folder of a temporary download directory. Students left out of it
    keep their submitted/ folder, so ``--force`` clears only the folders that
    the import replaces.
    """
    archive_dir = workspace / "downloaded" / assignment / "archive"
    archive_dir.mkdir(parents=True)
    timestamps = {}
    with zipfile.ZipFile(archive_dir / "canvas.zip", "w") as staged:
        for attempt in chosen:
            base_name = attempt.zip_name.rsplit("/", 1)[-1]
            info = zipfile.ZipInfo(base_name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16  # nbgrader's extractor applies it
            staged.writestr(info, archive.read(attempt.entry_name))
            timestamps[base_name] = attempt.submitted_at.isoformat()
    timestamps_file = workspace / "timestamps.json"
    timestamps_file.write_text(json.dumps(timestamps), encoding="utf-8")

    structure = str(workspace / "{downloaded}" / "{assignment_id}" / "{collect_step}")
    command = [
        PYTHON,
        "-m",
        "nbgrader",
        "zip_collect",
        assignment,
        "--force",
        f"--collector={CanvasCollectorPlugin.__module__}.CanvasCollectorPlugin",
        f"--ZipCollectApp.collect_directory_structure={structure}",
        f"--CanvasCollectorPlugin.notebook={notebook}",
        f"--CanvasCollectorPlugin.timestamps_file={timestamps_file}",
    ]
    env = dict(os.environ)
    # nbgrader starts helper programs such as alembic by name.
    env["PATH"] = str(Path(PYTHON).parent) + os.pathsep + env.get("PATH", "")
    log.info("running nbgrader zip_collect %s for %d students", assignment, len(chosen))
    completed = subprocess.run(
        command, cwd=course, env=env, capture_output=True, text=True
    )
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr)[-4000:]
        raise CanvasImportError(
            f"nbgrader zip_collect {assignment} failed with status "
            f"{completed.returncode} in {course}:\n{output}"
        )
    log.debug("nbgrader zip_collect output:\n%s", completed.stderr)


def update_gradebook(
    coursedir: CourseDirectory,
    assignment: str,
    students: list[StudentImport],
    roster: Mapping[str, tuple[str, str]],
) -> list[str]:
    """Add or update each student in the gradebook; return lateness warnings."""
    warnings = []
    try:
        gradebook = Gradebook(coursedir.db_url, coursedir.course_id)
    except FileNotFoundError as error:
        # nbgrader runs `alembic` by name when it creates a gradebook.
        raise CanvasImportError(
            f"nbgrader could not create the gradebook {coursedir.db_url}: "
            f"{error.filename} not found. Put the bin directory of the Python "
            "environment that has nbgrader first on PATH."
        ) from error
    with gradebook:
        try:
            due = gradebook.find_assignment(assignment).duedate
        except MissingEntry:
            due = None
        for entry in students:
            if entry.student_id in roster:
                first, last = roster[entry.student_id]
                entry.first_name, entry.last_name = first or None, last or None
                gradebook.update_or_create_student(
                    entry.student_id, first_name=first, last_name=last
                )
            else:
                update_name_from_file(gradebook, entry)
            if due is None or entry.used is None:
                continue
            # NOTE: nbgrader adds a student's extension to the due date; this
            # check compares with the assignment's due date only.
            submitted = entry.used.submitted_at.replace(tzinfo=None)
            late_for_nbgrader = submitted > due
            if late_for_nbgrader != entry.late:
                canvas = "late" if entry.late else "on time"
                nbgrader = "late" if late_for_nbgrader else "on time"
                warnings.append(
                    f"{entry.student_id}: Canvas marks the submission {canvas}, "
                    f"but its zip time {submitted} UTC against the due date {due} "
                    f"UTC makes it {nbgrader} for nbgrader. Check the zip's time "
                    "zone (zip_timezone) or correct timestamp.txt."
                )
    return warnings


def update_name_from_file(gradebook: Gradebook, entry: StudentImport) -> None:
    """Create the student, naming them from the file only when they have no name.

    Canvas joins last and first name without a separator, so the file name
    cannot tell them apart. The joined name goes into last_name, which nbgrader
    shows first, and a name already in the gradebook is kept.
    """
    try:
        student = gradebook.find_student(entry.student_id)
    except MissingEntry:
        student = None
    if student is not None and (student.first_name or student.last_name):
        entry.first_name, entry.last_name = student.first_name, student.last_name
        return
    gradebook.update_or_create_student(entry.student_id, last_name=entry.name or None)


def import_canvas_zip(
    course: Path,
    assignment: str,
    zip_path: Path,
    *,
    force: bool = False,
    roster: Mapping[str, tuple[str, str]] | None = None,
    zip_timezone: tzinfo = timezone.utc,
) -> ImportReport:
    """Collect a Canvas submissions zip into ``course``'s submitted/ folder.

    ``course`` is the nbgrader course directory and ``assignment`` the nbgrader
    assignment, whose release folder names the notebook. Each student's latest
    notebook is collected as that notebook by ``nbgrader zip_collect``. A
    submission already in submitted/ that is newer, or has no valid timestamp, is
    kept unless ``force`` is true. ``roster`` maps Canvas user ids to (first name,
    last name), as ``read_canvas_roster`` returns. ``zip_timezone`` is the zone
    of the zip's entry times.

    Raises CanvasImportError for a missing or damaged zip, a course without a
    release of ``assignment``, or a failing ``nbgrader zip_collect``.
    """
    course = Path(course).resolve()
    zip_path = Path(zip_path).resolve()
    roster = dict(roster or {})
    if not course.is_dir():
        raise CanvasImportError(
            f"course directory not found: {course}. Pass the folder that contains "
            "nbgrader_config.py."
        )
    coursedir = load_course_directory(course)
    notebooks = released_notebooks(coursedir, assignment)
    if not notebooks:
        release = coursedir.format_path(coursedir.release_directory, ".", assignment)
        raise CanvasImportError(
            f"no released notebook of assignment {assignment!r} in {release}. Run "
            f"`nbgrader generate_assignment {assignment}` first, so the import "
            "knows the notebook's name."
        )
    warnings = []
    notebook = notebooks[0] if len(notebooks) == 1 else ""
    if not notebook:
        warnings.append(
            f"{assignment} releases {len(notebooks)} notebooks, so notebooks keep "
            "their Canvas names (without the -N suffix) and are not renamed."
        )

    with open_canvas_zip(zip_path) as archive:
        students, unmatched = scan_zip(archive, zip_timezone)
        chosen = []
        for entry in students.values():
            if entry.used is None:
                continue
            submitted = Path(
                coursedir.format_path(
                    coursedir.submitted_directory, entry.student_id, assignment
                )
            )
            target_name = notebook or original_file_name(entry.used.file_name)[0]
            entry.action = choose_action(entry, submitted, target_name, archive, force)
            if entry.action in (IMPORTED, REPLACED):
                chosen.append(entry.used)
        if chosen:
            with tempfile.TemporaryDirectory(prefix="canvas-import-") as workspace:
                run_zip_collect(
                    course, assignment, archive, chosen, notebook, Path(workspace)
                )
        for entry in students.values():
            if entry.action not in (IMPORTED, REPLACED):
                continue
            target_name = notebook or original_file_name(entry.used.file_name)[0]
            collected = Path(
                coursedir.format_path(
                    coursedir.submitted_directory, entry.student_id, assignment
                )
            )
            if not (collected / target_name).is_file():
                raise CanvasImportError(
                    f"nbgrader zip_collect exited without error but did not "
                    f"collect {entry.used.zip_name} into {collected / target_name}. "
                    "Rerun with logging at DEBUG level to see its output."
                )

    ordered = sorted(students.values(), key=lambda entry: int(entry.student_id))
    for entry in ordered:
        if entry.used is None:
            warnings.append(
                f"{entry.student_id}: no notebook in the zip, only "
                f"{', '.join(entry.other_files)}"
            )
    warnings += update_gradebook(coursedir, assignment, ordered, roster)
    report = ImportReport(assignment, zip_path, ordered, unmatched, warnings)
    log.info(
        "imported %d of %d students from %s",
        len(report.collected),
        len(ordered),
        zip_path,
    )
    return report
