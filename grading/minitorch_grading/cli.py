"""``minitorch-course``: the grading cycle of a course, one subcommand per step.

Each subcommand is a thin layer over the kit's Python API or an nbgrader
command, run in the course directory (the folder with ``nbgrader_config.py``,
the current directory unless ``--course`` names another)::

    minitorch-course release activations
    minitorch-course collect activations --canvas submissions.zip
    minitorch-course grade activations
    minitorch-course feedback activations
    minitorch-course export
    minitorch-course report activations
    minitorch-course check path/to/activations.ipynb
    minitorch-course demo

Exit status: 0 on success, and 1 when the step ran but found problems, such
as a submission whose grading did not finish. A usage error or a command that
could not run exits with 2 and a message that names the next step.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections import Counter
from pathlib import Path

from minitorch_grading import records
from minitorch_grading.course import (
    CourseError,
    collect_folder,
    find_course,
    run_nbgrader,
)
from minitorch_grading.isolation import PYTHON

log = logging.getLogger("minitorch_grading.cli")

DEFAULT_ASSIGNMENT = "activations"


def cmd_release(args: argparse.Namespace, course: Path) -> int:
    command = ["generate_assignment", args.assignment]
    if args.force:
        command.append("--force")
    run_nbgrader(course, *command)
    print(f"Released {course / 'release' / args.assignment}")
    return 0


def cmd_collect(args: argparse.Namespace, course: Path) -> int:
    if args.canvas:
        from minitorch_grading.lms import (
            CanvasImportError,
            import_canvas_zip,
            read_canvas_roster,
        )

        roster = read_canvas_roster(args.roster) if args.roster else None
        try:
            report = import_canvas_zip(
                course, args.assignment, args.canvas, force=args.force, roster=roster
            )
        except CanvasImportError as error:
            raise CourseError(str(error)) from None
        print(report.render())
        return 0
    students = collect_folder(course, args.assignment, args.folder, force=args.force)
    print(f"Collected {len(students)} submission(s) into {course / 'submitted'}")
    return 0


def _status_summary(course: Path, assignment: str) -> tuple[Counter, list[str]]:
    """Count the statuses of the submitted students; list the ones to look at."""
    counts: Counter = Counter()
    attention = []
    for folder in sorted((course / "submitted").glob(f"*/{assignment}")):
        student = folder.parent.name
        record = records.read_record(course, assignment, student)
        status = record.status if record else records.UNGRADED
        if status == records.STARTED:
            status = records.ERROR
        counts[status] += 1
        if status not in (records.GRADED, records.ADJUSTED):
            reasons = "; ".join(record.reasons) if record else "not graded"
            attention.append(f"  {student}: {status}: {reasons}")
    return counts, attention


def cmd_grade(args: argparse.Namespace, course: Path) -> int:
    if args.sequential:
        command = ["autograde", args.assignment]
        if args.student:
            command += ["--student", args.student]
        if args.force:
            command.append("--force")
        # nbgrader exits 1 when a notebook could not be read. The records name
        # those notebooks, so the summary below decides the exit status.
        run_nbgrader(course, *command, allow_failure=True)
    else:
        from minitorch_grading.batch import grade_all

        try:
            report = grade_all(
                course,
                args.assignment,
                workers=args.workers,
                scheduler=args.scheduler,
                regrade=args.force,
                students=[args.student] if args.student else None,
                progress=not args.no_progress,
            )
        except ValueError as error:
            raise CourseError(str(error)) from None
        print(
            f"Graded {len(report.graded)} submission(s) in {report.seconds:.0f} s and "
            f"skipped {len(report.skipped)} unchanged since their last grading "
            "(--force grades them again)."
        )
    counts, attention = _status_summary(course, args.assignment)
    summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    print(f"Status of {sum(counts.values())} submission(s): {summary or 'none'}")
    if attention:
        print("Submissions to look at:")
        print("\n".join(attention))
    if counts[records.ERROR] or counts[records.UNGRADED]:
        print(
            "Grading did not finish for some submissions; the nbgrader log above has "
            "the details. Fix the cause and run the command again with --force."
        )
        return 1
    return 0


def cmd_feedback(args: argparse.Namespace, course: Path) -> int:
    command = ["generate_feedback", args.assignment]
    if args.student:
        command += ["--student", args.student]
    if args.force:
        command.append("--force")
    run_nbgrader(course, *command)
    print(f"Feedback written to {course / 'feedback'}")
    return 0


def cmd_export(args: argparse.Namespace, course: Path) -> int:
    destination = Path(args.to).resolve()
    destination.parent.mkdir(parents=True, exist_ok=True)
    run_nbgrader(course, "export", "--to", str(destination))
    print(f"Grades written to {destination}")
    if args.gradescope or args.autograder_zip:
        from minitorch_grading import gradescope
    if args.gradescope:
        written = gradescope.write_results(course, args.assignment, args.gradescope)
        print(
            f"{len(written)} Gradescope results.json file(s) written to "
            f"{args.gradescope}"
        )
    if args.autograder_zip:
        archive = gradescope.build_autograder_zip(
            course, args.assignment, args.autograder_zip
        )
        print(f"Gradescope autograder written to {archive}")
    return 0


def cmd_report(args: argparse.Namespace, course: Path) -> int:
    from minitorch_grading.report import ReportError, build_report

    output = args.output or course / "reports" / args.assignment
    try:
        page = build_report(course, args.assignment, output)
    except ReportError as error:
        raise CourseError(str(error)) from None
    print(f"Class report written to {page}")
    return 0


def cmd_check(args: argparse.Namespace, course: Path | None) -> int:
    from minitorch_grading import selfcheck

    return selfcheck.main([str(args.notebook)] + (["--json"] if args.json else []))


def cmd_demo(args: argparse.Namespace, course: Path) -> int:
    from minitorch_grading import demo

    return demo.main(["--course", str(course)] + (["-v"] if args.verbose else []))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minitorch-course",
        description="Release, collect, grade, give feedback on and export an "
        "assignment of the minitorch course.",
    )
    parser.add_argument(
        "--course",
        type=Path,
        default=Path.cwd(),
        help="course directory, the one with nbgrader_config.py (default: the "
        "current directory)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug messages"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    def add_assignment(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "assignment",
            nargs="?",
            default=DEFAULT_ASSIGNMENT,
            help=f"assignment name (default: {DEFAULT_ASSIGNMENT})",
        )

    release = add(
        "release",
        cmd_release,
        "Generate the student version in release/ from the notebook in source/.",
    )
    add_assignment(release)
    release.add_argument(
        "--force", action="store_true", help="overwrite an existing release"
    )

    collect = add(
        "collect",
        cmd_collect,
        "Put submissions into submitted/<student>/<assignment>/, from a Canvas "
        "zip or a folder with one subfolder per student.",
    )
    add_assignment(collect)
    source = collect.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--canvas", type=Path, help="Canvas 'Download Submissions' zip file"
    )
    source.add_argument(
        "--folder",
        type=Path,
        help="folder with <student id>/<notebook>.ipynb for each student",
    )
    collect.add_argument(
        "--roster",
        type=Path,
        help="Canvas gradebook export (CSV) that gives first and last names",
    )
    collect.add_argument(
        "--force",
        action="store_true",
        help="replace submissions already in submitted/",
    )

    grade = add(
        "grade",
        cmd_grade,
        "Autograde the collected submissions with the hidden checks, each in an "
        "isolated worker, in parallel across the machine's cores or on a Dask "
        "cluster, and print a summary of their statuses. Already graded "
        "submissions whose files have not changed are skipped, so an interrupted "
        "run can simply be started again.",
    )
    add_assignment(grade)
    grade.add_argument("--student", help="grade only this student id")
    grade.add_argument(
        "--force",
        action="store_true",
        help="grade again what was already graded from the same files",
    )
    grade.add_argument(
        "--workers",
        type=int,
        help="grading processes on this machine (default: one per core)",
    )
    grade.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on a Dask distributed cluster, e.g. tcp://127.0.0.1:8786; its "
        "workers must see the course directory at the same path",
    )
    grade.add_argument(
        "--no-progress", action="store_true", help="do not show a progress bar"
    )
    grade.add_argument(
        "--sequential",
        action="store_true",
        help="run plain `nbgrader autograde`, one submission at a time",
    )

    feedback = add(
        "feedback",
        cmd_feedback,
        "Write an HTML feedback page per student to feedback/.",
    )
    add_assignment(feedback)
    feedback.add_argument("--student", help="only this student id")
    feedback.add_argument(
        "--force", action="store_true", help="overwrite existing feedback"
    )

    export = add(
        "export",
        cmd_export,
        "Write the grades CSV, with a status and a reason for each submission.",
    )
    export.add_argument(
        "--to", default="grades.csv", help="CSV file to write (default: grades.csv)"
    )
    export.add_argument(
        "--assignment",
        default=DEFAULT_ASSIGNMENT,
        help="assignment for the Gradescope outputs (default: "
        f"{DEFAULT_ASSIGNMENT}); the CSV has every assignment",
    )
    export.add_argument(
        "--gradescope",
        type=Path,
        metavar="DIR",
        help="also write DIR/<student>/results.json in Gradescope's autograder format",
    )
    export.add_argument(
        "--autograder-zip",
        type=Path,
        metavar="FILE",
        help="also build a Gradescope autograder zip (setup.sh, run_autograder) "
        "that grades with the same hidden checks and isolation",
    )

    report = add(
        "report",
        cmd_report,
        "Write a class report: an HTML page with plots of the score distribution "
        "and of each hidden check's pass rate, and the most common failure "
        "messages.",
    )
    add_assignment(report)
    report.add_argument(
        "--output",
        type=Path,
        help="folder for report.html and its plots (default: reports/ASSIGNMENT)",
    )

    check = add(
        "check",
        cmd_check,
        "Run a notebook's visible test cells in an isolated worker, as a student's "
        "self-check does, and print a summary. Exits 1 when a check fails and 2 "
        "when the notebook cannot be read. Needs no course directory.",
    )
    check.add_argument("notebook", type=Path, help="the .ipynb file to check")
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    add(
        "demo",
        cmd_demo,
        "Grade the bundled example submissions end to end and compare their "
        "scores with the expected ones.",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # nbgrader starts helper programs such as alembic by name.
    bin_dir = str(Path(PYTHON).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    try:
        if args.handler is cmd_check:
            return cmd_check(args, None)
        course = find_course(args.course)
        return args.handler(args, course)
    except CourseError as error:
        print(f"minitorch-course {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
