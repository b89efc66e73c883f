"""Run the whole grading cycle on the bundled example submissions.

Releases the assignment, copies each bundled submission into ``submitted/``
as nbgrader's ``collect`` would, imports the sample Canvas zip, autogrades
everything with ``nbgrader autograde``, prints a score table beside the
expected scores, and writes the grades CSV, Gradescope's results.json files
and the class report.
Run it from the course directory (the one with ``nbgrader_config.py``)::

    python -m minitorch_grading.demo

Exits with status 1 when any submission's score differs from its expected
score.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.api import Gradebook

from minitorch_grading import gradescope, records
from minitorch_grading.isolation import PYTHON
from minitorch_grading.lms import import_canvas_zip, read_canvas_roster
from minitorch_grading.report import build_report

log = logging.getLogger(__name__)

ASSIGNMENT = "activations"
CANVAS_ZIP = "activations-submissions.zip"
COURSE_ID = "minitorch-activations"  # c.CourseDirectory.course_id in nbgrader_config.py


def run_nbgrader(course: Path, *args: str) -> None:
    """Run one nbgrader command in ``course``; raise if it fails."""
    command = [PYTHON, "-m", "nbgrader", *args]
    log.info("running %s", " ".join(["nbgrader", *args]))
    completed = subprocess.run(command, cwd=course)
    if completed.returncode != 0:
        raise SystemExit(
            f"nbgrader {' '.join(args)} failed with status {completed.returncode}"
        )


def collect(course: Path, examples: Path) -> list[str]:
    """Copy each bundled submission to submitted/<name>/<assignment>/."""
    students = []
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    for notebook in sorted(examples.glob(f"*/{ASSIGNMENT}.ipynb")):
        student = notebook.parent.name
        target = course / "submitted" / student / ASSIGNMENT
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copy(notebook, target / notebook.name)
        (target / "timestamp.txt").write_text(stamp + "\n")
        students.append(student)
    log.info("collected %d submissions into %s", len(students), course / "submitted")
    return students


def import_canvas(course: Path, canvas: Path, expected: dict[str, dict]) -> list[str]:
    """Import the sample Canvas zip; add its students' expected scores.

    ``sources.json`` names the bundled submission each Canvas student's latest
    notebook was made from, and so its expected score.
    """
    report = import_canvas_zip(
        course,
        ASSIGNMENT,
        canvas / CANVAS_ZIP,
        force=True,
        roster=read_canvas_roster(canvas / "roster.csv"),
    )
    print(report.render())
    sources = json.loads((canvas / "sources.json").read_text())
    for student, source in sources.items():
        expected[student] = {
            **expected.get(source, {}),
            "mistake": f"Canvas import of {source}",
        }
    return sorted(sources)


def autograded_scores(
    course: Path, students: list[str]
) -> dict[str, tuple[float, float]]:
    """Autograded score and maximum of each student, read from the gradebook."""
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gradebook:
        for student in students:
            submission = gradebook.find_submission(ASSIGNMENT, student)
            earned = 0.0
            possible = 0.0
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    # The written question waits for manual grading, so count test
                    # cells only.
                    if grade.cell.cell_type == "code":
                        earned += grade.auto_score or 0.0
                        possible += grade.max_score
            scores[student] = (earned, possible)
    return scores


def print_table(
    expected: dict[str, dict],
    scores: dict[str, tuple[float, float]],
    statuses: dict[str, str],
) -> int:
    """Print the score table; return how many scores differ from the expected ones."""
    width = max(len(name) for name in scores)
    print()
    print(
        f"{'submission':<{width}}  {'score':>11}  {'expected':>8}  {'status':<9}  "
        "mistake"
    )
    mismatches = 0
    for name, (earned, possible) in sorted(scores.items()):
        want = expected.get(name, {}).get("expected_score")
        flag = ""
        if want is None or abs(want - earned) > 1e-9:
            flag = "  <-- differs"
            mismatches += 1
        shown = "?" if want is None else f"{want:g}"
        mistake = expected.get(name, {}).get("mistake", "")
        print(
            f"{name:<{width}}  {earned:>5g} / {possible:<3g}  {shown:>8}  "
            f"{statuses.get(name, '?'):<9}  {mistake}{flag}"
        )
    print()
    return mismatches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--course",
        type=Path,
        default=Path.cwd(),
        help="course directory containing nbgrader_config.py "
        "(default: the current directory)",
    )
    parser.add_argument(
        "--examples",
        type=Path,
        default=None,
        help="folder of bundled submissions (default: COURSE/examples/submissions)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug messages"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )

    course = args.course.resolve()
    if not (course / "nbgrader_config.py").is_file():
        parser.error(
            f"{course} has no nbgrader_config.py; pass --course with the "
            "course directory"
        )
    examples = (args.examples or course / "examples" / "submissions").resolve()
    expected_path = examples / "expected_scores.json"
    if not expected_path.is_file():
        parser.error(f"{expected_path} not found; run examples/build_examples.py first")
    expected = json.loads(expected_path.read_text())

    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    students = collect(course, examples)
    canvas = course / "examples" / "canvas"
    if (canvas / CANVAS_ZIP).is_file():
        students += import_canvas(course, canvas, expected)
    run_nbgrader(course, "autograde", ASSIGNMENT, "--force")
    scores = autograded_scores(course, students)
    statuses = {}
    for student in students:
        record = records.read_record(course, ASSIGNMENT, student)
        statuses[student] = record.status if record else "?"
    mismatches = print_table(expected, scores, statuses)
    run_nbgrader(course, "export", "--to", str(course / "grades.csv"))
    print(f"Grades written to {course / 'grades.csv'}, with a status per submission")
    written_to = course / "gradescope" / ASSIGNMENT
    written = gradescope.write_results(course, ASSIGNMENT, written_to)
    print(f"Gradescope results.json of {len(written)} submissions in {written_to}")
    page = build_report(course, ASSIGNMENT, course / "reports" / ASSIGNMENT)
    print(f"Class report written to {page}")
    if mismatches:
        print(f"{mismatches} submission(s) scored differently from the expected score.")
        return 1
    print(f"All {len(scores)} submissions earned their expected scores.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
