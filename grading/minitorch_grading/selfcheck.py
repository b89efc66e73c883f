"""Run a notebook's visible test cells in the grader's worker and report them.

``nbgrader validate`` exits with status 0 even when test cells fail. This
module runs a notebook the way ``nbgrader autograde`` runs it: its code cells
in an isolated worker (``sandbox.Submission``), without test cells and without
cells carrying one of ``notebook_cells.SKIP_TAGS``. It then runs each visible
test cell, the ones in the notebook students receive, in the same worker. A
test cell passes when it runs without an error. Only the notebook's own test
cells run, so nothing here imports the hidden checks or the references.

Usage::

    python -m minitorch_grading.selfcheck submitted/alice/activations/activations.ipynb

Exit status: 0 when every visible check passed, 1 when a check failed or one of
the notebook's own cells raised an error, 2 when the notebook could not be read.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager
from nbformat import NotebookNode

from minitorch.selfcheck import (
    CellError,
    CheckResult,
    SelfCheckError,
    SelfCheckReport,
    failing_line,
)
from minitorch_grading.notebook_cells import (
    SKIP_TAGS,
    is_test_cell,
    skipped_names,
    submission_code,
)
from minitorch_grading.sandbox import Limits, Submission

__all__ = ["SelfCheckError", "SelfCheckReport", "main", "read_notebook", "self_check"]

EXIT_UNREADABLE = 2


def read_notebook(path: Path) -> NotebookNode:
    """Read a notebook with nbformat, raising SelfCheckError when it cannot."""
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError as error:
        raise SelfCheckError(
            f"notebook not found: {path}. Pass the path of a saved .ipynb file."
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise SelfCheckError(
            f"could not read the notebook {path}: {error}. Check that the path "
            "names a readable .ipynb file."
        ) from error
    except (ValueError, KeyError, AttributeError, TypeError) as error:
        # nbformat raises NotJSONError (a ValueError) for invalid JSON, and the
        # others for JSON that is not shaped like a notebook.
        raise SelfCheckError(
            f"{path} is not a readable Jupyter notebook ({error}). Open it in "
            "Jupyter and save it again, or restore it from a backup."
        ) from error


def self_check(notebook: Path, limits: Limits | None = None) -> SelfCheckReport:
    """Run the notebook's code cells, then each visible test cell, in a worker.

    Raises SelfCheckError when the notebook cannot be read or has no visible
    test cells.
    """
    path = Path(notebook)
    nb = read_notebook(path)
    tests = [(index, cell) for index, cell in enumerate(nb.cells) if is_test_cell(cell)]
    if not tests:
        raise SelfCheckError(
            f"{path} contains no visible test cells (code cells that nbgrader marks "
            "as graded). Check that the path names the assignment's notebook."
        )

    skip_tags = set(SKIP_TAGS)
    transformer = TransformerManager()
    report = SelfCheckReport(
        notebook=str(path),
        checks=[],
        saved_at=datetime.fromtimestamp(path.stat().st_mtime),
    )
    with Submission(
        submission_code(nb, skip_tags),
        limits or Limits(),
        skipped_names(nb, skip_tags),
    ) as submission:
        for index, cell in tests:
            grade_id = str(cell.metadata.nbgrader.get("grade_id", f"cell {index}"))
            points = float(cell.metadata.nbgrader.get("points", 0))
            try:
                source = transformer.transform_cell(cell.source)
            except SyntaxError:
                source = cell.source  # the worker reports the syntax error
            error = submission.run_cell(index, source)
            if error is None:
                report.checks.append(CheckResult(grade_id, points, True))
                continue
            report.checks.append(
                CheckResult(
                    grade_id,
                    points,
                    False,
                    error.type_name,
                    error.message,
                    failing_line(error.traceback, index, source),
                )
            )
        # The errors of the notebook's cells in the last worker that ran them.
        for index, error in sorted(submission.cell_errors.items()):
            report.cell_errors.append(
                CellError(
                    submission.describe_cell(index), error.type_name, error.message
                )
            )
    return report


def _parser() -> argparse.ArgumentParser:
    defaults = Limits()
    parser = argparse.ArgumentParser(
        prog="python -m minitorch_grading.selfcheck",
        description=(
            "Run a notebook's visible test cells in the grader's isolated worker "
            "and report which passed. The hidden checks are not run. Exit status: "
            "0 when every visible check passed, 1 when a check failed or a cell "
            "raised an error, 2 when the notebook could not be read."
        ),
    )
    parser.add_argument("notebook", type=Path, help="path of the .ipynb file")
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=defaults.cell_seconds,
        metavar="SECONDS",
        help="wall-clock limit for one cell, in seconds (default: %(default)g)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=defaults.submission_seconds,
        metavar="SECONDS",
        help=(
            "wall-clock limit for the whole notebook, worker restarts included, "
            "in seconds (default: %(default)g)"
        ),
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON instead of text",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    arguments = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    limits = Limits(
        cell_seconds=arguments.cell_timeout,
        submission_seconds=arguments.timeout,
    )
    try:
        report = self_check(arguments.notebook, limits)
    except SelfCheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNREADABLE
    if arguments.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.render(), end="")
    return report.exit_status


if __name__ == "__main__":
    sys.exit(main())
