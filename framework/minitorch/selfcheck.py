"""Run a notebook's visible test cells again in a fresh Python process.

A Jupyter kernel keeps every name ever defined in it, so test cells can pass in
a long session while the notebook fails when it runs from the top, which is how
it is graded. :func:`run_self_check` reads the saved notebook and runs its code
cells in a new interpreter, the one running this code (``sys.executable``).
Then it runs each visible test cell (an nbgrader cell marked as graded and not
as a solution) and prints which passed. Cells tagged ``plot`` or ``self-check``
are skipped, as the grader skips them.

Only the standard library is used, so the check works wherever minitorch is
installed. Started from Jupyter or IPython, it turns IPython syntax such as
``%%time`` into Python with the running shell's transformer. Elsewhere, a cell
with IPython syntax fails with a SyntaxError.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

PASS_MARK = "\u2713"
FAIL_MARK = "\u2717"

# Tags of cells that neither the grader nor the self-check runs.
SKIP_TAGS = frozenset({"plot", "self-check"})
# Absolute, because the check runs in another working directory and
# sys.executable is relative when found through a relative PATH entry.
_PYTHON = os.path.abspath(sys.executable)

HIDDEN_CHECKS_NOTE = (
    "Hidden checks decide the grade. They test the same classes on many more "
    "inputs, so passing the visible checks does not guarantee full points."
)


class SelfCheckError(Exception):
    """The notebook could not be read or the check could not run."""


class SelfCheckFailed(AssertionError):
    """At least one visible check failed or one of the notebook's cells raised."""


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one visible test cell.

    Attributes:
        grade_id: the cell's nbgrader ``grade_id``, such as ``"relu"``.
        points: the points the cell is worth when graded.
        passed: whether the cell ran without an error.
        error_type: name of the exception raised, or ``""``.
        message: the exception's message, such as an assertion's text.
        line: the line of the test cell that raised, or ``""``.
    """

    grade_id: str
    points: float
    passed: bool
    error_type: str = ""
    message: str = ""
    line: str = ""


@dataclass(frozen=True)
class CellError:
    """An error raised by one of the notebook's own (non-test) cells.

    Attributes:
        cell: the cell, named by its first line, as in ``describe_cell``.
        error_type: name of the exception raised.
        message: the exception's message.
    """

    cell: str
    error_type: str
    message: str


@dataclass
class SelfCheckReport:
    """Results of the visible test cells of one notebook."""

    notebook: str
    checks: list[CheckResult]
    cell_errors: list[CellError] = field(default_factory=list)
    saved_at: datetime | None = None

    @property
    def passed(self) -> bool:
        """Whether every visible check passed and no cell raised an error."""
        return not self.cell_errors and all(check.passed for check in self.checks)

    @property
    def exit_status(self) -> int:
        """0 when everything passed, 1 otherwise."""
        return 0 if self.passed else 1

    def failed_ids(self) -> list[str]:
        return [check.grade_id for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        data = asdict(self)
        data["saved_at"] = self.saved_at.isoformat() if self.saved_at else None
        data["passed"] = self.passed
        return data

    def render(self) -> str:
        """Render the report as text, one line per check with a mark."""
        lines = [f"Visible checks of {self.notebook}"]
        if self.saved_at is not None:
            lines[0] += f" as saved at {self.saved_at:%H:%M:%S}"
        if self.cell_errors:
            lines.append("Errors in your own cells:")
            for error in self.cell_errors:
                lines.append(f"{FAIL_MARK} {error.cell}")
                lines.extend(_error_lines(error.error_type, error.message))
        for check in self.checks:
            mark = PASS_MARK if check.passed else FAIL_MARK
            lines.append(f"{mark} {check.grade_id} ({_points(check.points)})")
            if not check.passed:
                if check.line:
                    lines.append(f"    in: {check.line}")
                lines.extend(_error_lines(check.error_type, check.message))
        passed = sum(check.passed for check in self.checks)
        lines.append(f"{passed} of {len(self.checks)} visible checks passed.")
        if self.cell_errors:
            count = len(self.cell_errors)
            cells = "cell" if count == 1 else "cells"
            lines.append(
                f"{count} of your own {cells} raised an error. The grader runs "
                "them the same way, so fix them before you submit."
            )
        lines.append(HIDDEN_CHECKS_NOTE)
        return "\n".join(lines) + "\n"


def _points(value: float) -> str:
    text = f"{value:g}"
    return f"{text} point" if value == 1 else f"{text} points"


def _error_lines(error_type: str, message: str) -> list[str]:
    """Format an error as Python prints it, indented under its check."""
    message_lines = message.strip().splitlines() or [""]
    first = f"{error_type}: {message_lines[0]}" if message_lines[0] else error_type
    return [f"    {first}"] + [f"        {line}".rstrip() for line in message_lines[1:]]


def describe_cell(source: str, index: int) -> str:
    """Name a code cell by its first line of code, as a student can find it."""
    for line in source.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            shown = line if len(line) <= 60 else line[:57] + "..."
            return f'the cell starting "{shown}"'
    return f"code cell {index}"


def failing_line(traceback_text: str, index: int, source: str) -> str:
    """Return the line of cell ``index`` that the traceback points at, or ``""``.

    Cells are compiled with the file name ``<cell INDEX>``, so the last frame
    with that name is the cell's line that raised.
    """
    numbers = re.findall(rf'File "<cell {index}>", line (\d+)', traceback_text)
    if not numbers:
        return ""
    lines = source.splitlines()
    number = int(numbers[-1])
    return lines[number - 1].strip() if 0 < number <= len(lines) else ""


# Reading the notebook ---------------------------------------------------------


@dataclass(frozen=True)
class NotebookCell:
    """A code cell to run: its index among all cells and its source."""

    index: int
    source: str
    grade_id: str = ""
    points: float = 0.0


@dataclass
class NotebookCells:
    """The code cells of a notebook that a self-check runs."""

    own: list[NotebookCell]
    tests: list[NotebookCell]


def is_visible_test(metadata: dict[str, Any]) -> bool:
    """Return whether cell metadata marks an nbgrader test cell: graded, no
    solution."""
    nbgrader = metadata.get("nbgrader", {})
    return bool(nbgrader.get("grade")) and not nbgrader.get("solution")


def read_notebook(path: Path) -> dict[str, Any]:
    """Read a notebook file as JSON, raising SelfCheckError when it cannot be."""
    try:
        with open(path, encoding="utf-8") as file:
            notebook = json.load(file)
    except FileNotFoundError as error:
        raise SelfCheckError(
            f"notebook not found: {path}. Save the notebook under that name or "
            "pass the path of the saved notebook."
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise SelfCheckError(
            f"could not read the notebook {path}: {error}. Check that the path "
            "names a saved .ipynb file."
        ) from error
    except json.JSONDecodeError as error:
        raise SelfCheckError(
            f"the notebook {path} is not valid JSON ({error}). Open it in Jupyter "
            "and save it again, or restore it from a backup."
        ) from error
    if (
        not isinstance(notebook, dict)
        or notebook.get("nbformat") != 4
        or not isinstance(notebook.get("cells"), list)
    ):
        raise SelfCheckError(
            f"{path} is not a Jupyter notebook in format version 4. Check that the "
            "path names the assignment's .ipynb file."
        )
    return notebook


def notebook_cells(
    notebook: dict[str, Any], transform: Callable[[str], str] | None = None
) -> NotebookCells:
    """Split a notebook's code cells into the student's cells and the visible
    test cells, leaving out cells tagged with one of ``SKIP_TAGS``."""
    own, tests = [], []
    for index, cell in enumerate(notebook["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata", {})
        if SKIP_TAGS & set(metadata.get("tags", [])):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        if transform is not None:
            try:
                source = transform(source)
            except SyntaxError:
                pass  # running the cell reports the syntax error
        if is_visible_test(metadata):
            nbgrader = metadata["nbgrader"]
            tests.append(
                NotebookCell(
                    index,
                    source,
                    str(nbgrader.get("grade_id", f"cell {index}")),
                    float(nbgrader.get("points", 0)),
                )
            )
        else:
            own.append(NotebookCell(index, source))
    return NotebookCells(own, tests)


def _ipython_transform() -> Callable[[str], str] | None:
    """Return the running IPython shell's transformer from IPython syntax to
    Python, or None outside IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return None
    return shell.input_transformer_manager.transform_cell


# Running the cells ------------------------------------------------------------


@dataclass
class _Run:
    """Outcome of running cells in one child process."""

    errors: dict[int, dict[str, str]]
    stopped_cell: int | None = None
    stop_error: dict[str, str] | None = None


def _run_child(
    cells: list[NotebookCell], cwd: Path, cell_seconds: float, scratch: Path
) -> _Run:
    """Run ``cells`` in a new interpreter until they finish, one hangs or one
    ends the process."""
    request = scratch / "request.json"
    progress = scratch / "progress.jsonl"
    request.write_text(
        json.dumps({"cells": [{"index": c.index, "source": c.source} for c in cells]}),
        encoding="utf-8",
    )
    progress.write_text("", encoding="utf-8")
    stderr_path = scratch / "stderr.txt"
    env = dict(os.environ, MPLBACKEND="Agg")
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [_PYTHON, "-m", "minitorch._selfcheck_child", request, progress],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        run = _Run(errors={})
        running: int | None = None
        started = time.monotonic()
        offset = 0
        try:
            while True:
                status = process.poll()
                with open(progress, encoding="utf-8") as file:
                    file.seek(offset)
                    for line in iter(file.readline, ""):
                        if not line.endswith("\n"):
                            break  # a line still being written
                        offset += len(line.encode("utf-8"))
                        event = json.loads(line)
                        if event["event"] == "start":
                            running, started = event["index"], time.monotonic()
                        else:
                            running = None
                            if event["error"] is not None:
                                run.errors[event["index"]] = event["error"]
                if status is not None:
                    break
                if running is not None and time.monotonic() - started > cell_seconds:
                    process.kill()
                    process.wait()
                    run.stopped_cell = running
                    run.stop_error = {
                        "type": "TimeoutError",
                        "message": f"the cell did not finish within {cell_seconds:g} s",
                    }
                    return run
                time.sleep(0.05)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    if running is not None:
        run.stopped_cell = running
        run.stop_error = {
            "type": "ProcessExit",
            "message": f"the cell ended the Python process (exit status {status})",
        }
    elif status != 0:
        output = stderr_path.read_text(encoding="utf-8", errors="replace")
        raise SelfCheckError(
            f"the Python process running the notebook failed with status {status} "
            f"before it ran a cell:\n{output[-2000:]}\nCheck that minitorch is "
            f"installed for {_PYTHON}."
        )
    return run


def check_notebook(
    notebook: str | os.PathLike[str], cell_seconds: float = 60.0
) -> SelfCheckReport:
    """Run the notebook's cells, then its visible test cells, in a new process.

    A cell that runs longer than ``cell_seconds`` or ends the process is
    reported, and the cells run again from the start without it. Raises
    SelfCheckError when the notebook cannot be read or has no visible test
    cells.
    """
    path = Path(notebook)
    content = read_notebook(path)
    cells = notebook_cells(content, _ipython_transform())
    if not cells.tests:
        raise SelfCheckError(
            f"{path} contains no visible test cells (code cells that nbgrader marks "
            "as graded). Check that the path names the assignment's notebook."
        )

    stopped: dict[int, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="minitorch-selfcheck-") as scratch:
        while True:
            remaining = [
                cell for cell in cells.own + cells.tests if cell.index not in stopped
            ]
            run = _run_child(
                remaining, path.resolve().parent, cell_seconds, Path(scratch)
            )
            if run.stopped_cell is None:
                break
            stopped[run.stopped_cell] = run.stop_error or {}
    errors = {**run.errors, **stopped}

    report = SelfCheckReport(
        notebook=path.name,
        checks=[],
        saved_at=datetime.fromtimestamp(path.stat().st_mtime),
    )
    for cell in cells.own:
        error = errors.get(cell.index)
        if error is not None:
            report.cell_errors.append(
                CellError(
                    describe_cell(cell.source, cell.index),
                    error.get("type", "Error"),
                    error.get("message", ""),
                )
            )
    for cell in cells.tests:
        error = errors.get(cell.index)
        if error is None:
            report.checks.append(CheckResult(cell.grade_id, cell.points, True))
            continue
        report.checks.append(
            CheckResult(
                cell.grade_id,
                cell.points,
                False,
                error.get("type", "Error"),
                error.get("message", ""),
                failing_line(error.get("traceback", ""), cell.index, cell.source),
            )
        )
    return report


def run_self_check(
    notebook: str | os.PathLike[str] = "activations.ipynb",
    cell_seconds: float = 60.0,
) -> SelfCheckReport:
    """Check the saved notebook, print the report and raise SelfCheckFailed
    unless every visible check passed.

    Meant for the last cell of an assignment notebook. It checks the file as
    last saved, so save the notebook before running it.
    """
    report = check_notebook(notebook, cell_seconds=cell_seconds)
    print(report.render(), end="")
    if not report.passed:
        failed = report.failed_ids()
        if failed:
            summary = f"visible checks failed: {', '.join(failed)}"
        else:
            summary = "your own cells raised errors"
        raise SelfCheckFailed(f"{summary}. See the report above.")
    return report
