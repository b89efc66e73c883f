"""The course directory and the nbgrader commands run in it.

A course directory is the folder with ``nbgrader_config.py``; nbgrader keeps
``gradebook.db``, ``submitted/``, ``autograded/`` and ``feedback/`` beside it.
Commands that run outside one would make nbgrader create an empty gradebook,
so :func:`find_course` rejects such a folder first.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from minitorch_grading.isolation import PYTHON

log = logging.getLogger(__name__)

CONFIG_FILE = "nbgrader_config.py"
COURSE_ID = "minitorch-activations"  # c.CourseDirectory.course_id of the kit's config


class CourseError(Exception):
    """A course command failed; the message names the next step."""


def find_course(path: Path) -> Path:
    """Return ``path`` resolved if it is a course directory, else raise CourseError."""
    course = Path(path).resolve()
    if not course.is_dir():
        raise CourseError(
            f"{course} is not a directory. Pass --course with the course directory."
        )
    if not (course / CONFIG_FILE).is_file():
        raise CourseError(
            f"{course} is not a course directory: it has no {CONFIG_FILE}. Run the "
            "command from the course directory or pass --course with its path."
        )
    return course


def nbgrader_environment() -> dict[str, str]:
    """Environment for nbgrader, with this interpreter's bin directory first on
    PATH because nbgrader starts helper programs such as alembic by name."""
    env = dict(os.environ)
    env["PATH"] = str(Path(PYTHON).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_nbgrader(course: Path, *args: str, allow_failure: bool = False) -> int:
    """Run ``nbgrader ARGS`` in ``course`` and return its exit status.

    Raises:
        CourseError: nbgrader failed and ``allow_failure`` is false.
    """
    command = [PYTHON, "-m", "nbgrader", *args]
    log.info("running nbgrader %s", " ".join(args))
    completed = subprocess.run(command, cwd=course, env=nbgrader_environment())
    if completed.returncode != 0 and not allow_failure:
        raise CourseError(
            f"nbgrader {' '.join(args)} failed with exit status "
            f"{completed.returncode}; its log above says why."
        )
    return completed.returncode


def released_notebooks(course: Path, assignment: str) -> list[str]:
    """File names of the notebooks in ``release/<assignment>/``.

    Raises:
        CourseError: the assignment has not been released.
    """
    release = course / "release" / assignment
    names = sorted(path.name for path in release.glob("*.ipynb"))
    if not names:
        raise CourseError(
            f"release/{assignment}/ has no notebook. Run `minitorch-course release "
            f"{assignment}` first."
        )
    return names


def collect_folder(
    course: Path, assignment: str, folder: Path, *, force: bool = False
) -> list[str]:
    """Copy ``folder/<student id>/<notebook>.ipynb`` files into ``submitted/``.

    Each student folder becomes ``submitted/<student id>/<assignment>/`` with a
    ``timestamp.txt`` taken from the newest notebook's modification time. A
    student already in ``submitted/`` is kept unless ``force`` is set. Returns
    the ids of the students collected.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"{folder} is not a folder of student submissions.")
    notebooks = released_notebooks(course, assignment)
    collected = []
    for student_folder in sorted(path for path in folder.iterdir() if path.is_dir()):
        found = [student_folder / name for name in notebooks]
        found = [path for path in found if path.is_file()]
        if not found:
            log.warning(
                "%s has none of %s; skipped", student_folder, ", ".join(notebooks)
            )
            continue
        target = course / "submitted" / student_folder.name / assignment
        if target.exists() and not force:
            log.info("%s is already collected; pass --force to replace it", target)
            continue
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for path in found:
            shutil.copy(path, target / path.name)
        newest = max(path.stat().st_mtime for path in found)
        stamp = datetime.fromtimestamp(newest, timezone.utc)
        (target / "timestamp.txt").write_text(
            stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z") + "\n"
        )
        collected.append(student_folder.name)
    log.info("collected %d submissions into %s", len(collected), course / "submitted")
    return collected
