"""Read a submitted notebook and bring its grading metadata back in line.

Everything here runs in the grader's process on files a student wrote, so it
parses and compares only: no cell is executed.

:func:`read_submitted_notebook` raises :class:`InvalidNotebook`, with a
message a student can act on, for every way a file can fail to be a notebook.
These are a symbolic link, an empty or oversized file, bytes that are not
UTF-8, broken JSON, an nbformat version other than 3 or 4, and a schema error.

:func:`reconcile_cells` compares a readable notebook's cells with the released
ones recorded in nbgrader's gradebook and repairs what students commonly
change: grade cells deleted, duplicated, renamed or turned into markdown, and
read-only cells edited. nbgrader 0.9.6 repairs some of this itself, but it
stops the whole batch on a duplicated grade cell (its ``DeduplicateIds`` leaves
an empty metadata dict that ``CheckCellMetadata`` rejects) and on metadata with
an unknown schema version. After this step nbgrader's own sanitizers find
nothing to reject.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbgrader import utils

MAX_NOTEBOOK_BYTES = 50 << 20
SUPPORTED_NBFORMATS = (3, 4)
METADATA_SCHEMA_VERSION = 3

# Files that Jupyter or the collection step leave beside a notebook; they are
# not counted as extra files.
EXPECTED_EXTRAS = frozenset({"timestamp.txt"})
IGNORED_NAMES = frozenset({".ipynb_checkpoints", "__pycache__", ".DS_Store"})


class InvalidNotebook(Exception):
    """A submitted file that cannot be graded as a notebook, with the reason."""


def read_submitted_notebook(path: Path) -> NotebookNode:
    """Read ``path`` as an nbformat 4 notebook, or raise :class:`InvalidNotebook`."""
    name = path.name
    if path.is_symlink():
        raise InvalidNotebook(
            f"{name} is a symbolic link, not a file. Submit the notebook itself."
        )
    if not path.is_file():
        raise InvalidNotebook(
            f"{name} was not submitted. Submit the notebook under that name."
        )
    size = path.stat().st_size
    if size == 0:
        raise InvalidNotebook(
            f"{name} is empty (0 bytes). Save the notebook in Jupyter and submit "
            "it again."
        )
    if size > MAX_NOTEBOOK_BYTES:
        raise InvalidNotebook(
            f"{name} is {size / (1 << 20):.0f} MiB, larger than the "
            f"{MAX_NOTEBOOK_BYTES >> 20} MiB limit. Clear the outputs "
            "(Kernel > Restart & Clear Output) and submit it again."
        )

    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidNotebook(
            f"{name} is not UTF-8 text: byte {error.start} is "
            f"{data[error.start]:#04x}. Notebooks saved by Jupyter are UTF-8; submit "
            "the file Jupyter saved."
        ) from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidNotebook(
            f"{name} is not valid JSON ({error.msg} at line {error.lineno}, column "
            f"{error.colno}). The file may be truncated or edited outside Jupyter: "
            "open the notebook in Jupyter, save it and submit it again."
        ) from None
    except (ValueError, RecursionError) as error:
        # Integers too long to convert, or nesting too deep for the parser.
        raise InvalidNotebook(
            f"{name} is not JSON that the grader can read ({error}). Open the "
            "notebook in Jupyter, save it and submit it again."
        ) from None
    if not isinstance(content, dict) or (
        "cells" not in content and "worksheets" not in content
    ):
        raise InvalidNotebook(
            f"{name} is JSON but not a Jupyter notebook: it has no cells. Submit "
            "the .ipynb file that Jupyter saved."
        )

    version = content.get("nbformat")
    minor = content.get("nbformat_minor", 0)
    # bool and float versions compare equal to ints but break nbformat.
    if type(version) is not int or version not in SUPPORTED_NBFORMATS:
        raise InvalidNotebook(
            f"{name} declares nbformat version {version!r}; the grader reads "
            "versions 3 and 4. Open it in a current Jupyter and save it again."
        )
    if type(minor) is not int:
        raise InvalidNotebook(
            f"{name} declares nbformat_minor {minor!r}, which is not an integer. Open "
            "it in a current Jupyter and save it again."
        )
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except (nbformat.ValidationError, nbformat.reader.NotJSONError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise InvalidNotebook(
            f"{name} does not follow the notebook format ({first_line}). Open it in "
            "Jupyter and save it again."
        ) from None
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        AssertionError,
        RecursionError,
    ) as error:
        # nbformat's converters assume a well-formed structure.
        raise InvalidNotebook(
            f"{name} could not be read as a notebook ({type(error).__name__}: "
            f"{error}). Open it in Jupyter and save it again."
        ) from None
    return nb


def extra_files(directory: Path, expected: set[str]) -> list[str]:
    """Files in a submission folder other than the ``expected`` notebook names.

    Grading runs the notebook alone, so these are ignored. The list explains
    to a student whose notebook imports a module of their own why it failed.
    """
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if any(part in IGNORED_NAMES for part in relative.parts):
            continue
        if path.is_dir() and not path.is_symlink():
            continue
        text = relative.as_posix()
        if text in expected or text in EXPECTED_EXTRAS:
            continue
        found.append(text)
    return found


@dataclass(frozen=True)
class ReleasedCell:
    """A cell of the released notebook that carries nbgrader metadata."""

    grade_id: str
    cell_type: str
    source: str
    checksum: str | None
    locked: bool
    solution: bool
    task: bool
    points: float | None  # None unless it is a grade cell
    # From the release notebook, because the gradebook has no tags; None when
    # the release notebook was not available, so tags are left as they are.
    tags: tuple[str, ...] | None = None

    @property
    def grade(self) -> bool:
        return self.points is not None

    def metadata(self) -> dict[str, Any]:
        """nbgrader metadata of this cell as released."""
        metadata: dict[str, Any] = {
            "grade": self.grade,
            "grade_id": self.grade_id,
            "locked": self.locked,
            "schema_version": METADATA_SCHEMA_VERSION,
            "solution": self.solution,
            "task": self.task,
        }
        if self.grade:
            metadata["points"] = self.points
        if self.checksum:
            metadata["checksum"] = self.checksum
        return metadata


def released_cells(
    gradebook: Any,
    notebook: str,
    assignment: str,
    release_nb: NotebookNode | None = None,
) -> list[ReleasedCell]:
    """Load the released cells of ``notebook`` from nbgrader's gradebook, in
    notebook order."""
    record = gradebook.find_notebook(notebook, assignment)
    tags: dict[str, tuple[str, ...]] = {}
    for cell in release_nb.cells if release_nb is not None else []:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            tags[grade_id] = tuple(cell.metadata.get("tags", ()))
    points = {cell.name: float(cell.max_score) for cell in record.grade_cells}
    solutions = {cell.name for cell in record.solution_cells}
    tasks = {cell.name for cell in record.task_cells}
    return [
        ReleasedCell(
            grade_id=cell.name,
            cell_type=cell.cell_type,
            source=cell.source,
            checksum=cell.checksum,
            locked=bool(cell.locked),
            solution=cell.name in solutions,
            task=cell.name in tasks,
            points=points.get(cell.name),
            tags=tags.get(cell.name, ()) if release_nb is not None else None,
        )
        # Rows come back in the order generate_assignment stored them, which is
        # notebook order; nbgrader's OverwriteCells relies on the same. The
        # ids are random uuids, so sorting by them would shuffle the cells.
        for cell in record.source_cells
    ]


def released_cells_from_notebook(nb: NotebookNode) -> list[ReleasedCell]:
    """Read the released cells from a release notebook's nbgrader metadata.

    It replaces :func:`released_cells` where there is no gradebook, as
    when grading on Gradescope. ``nbgrader generate_assignment`` writes the
    same source, checksum and flags to the release notebook as to the gradebook.
    """
    cells = []
    for cell in nb.cells:
        metadata = cell.get("metadata", {}).get("nbgrader")
        if not isinstance(metadata, dict) or "grade_id" not in metadata:
            continue
        grade = utils.is_grade(cell)
        cells.append(
            ReleasedCell(
                grade_id=metadata["grade_id"],
                cell_type=cell.cell_type,
                source=cell.source,
                checksum=metadata.get("checksum"),
                locked=utils.is_locked(cell),
                solution=utils.is_solution(cell),
                task=utils.is_task(cell),
                points=float(metadata.get("points", 0)) if grade else None,
                tags=tuple(cell.metadata.get("tags", ())),
            )
        )
    return cells


def _new_cell(released: ReleasedCell, taken: set[str]) -> NotebookNode:
    if released.cell_type == "code":
        cell = nbformat.v4.new_code_cell(released.source)
    else:
        cell = nbformat.v4.new_markdown_cell(released.source)
    # A stable id keeps re-grading deterministic; nbformat's default is random.
    base = "restored-" + re.sub(r"[^A-Za-z0-9_-]", "-", released.grade_id)[:50]
    cell.id = base
    suffix = 1
    while cell.id in taken:
        suffix += 1
        cell.id = f"{base}-{suffix}"
    taken.add(cell.id)
    cell.metadata["nbgrader"] = released.metadata()
    if released.tags:
        cell.metadata["tags"] = list(released.tags)
    if released.locked:
        cell.metadata["editable"] = False
        cell.metadata["deletable"] = False
    return cell


def _set_cell_type(cell: NotebookNode, cell_type: str) -> None:
    cell.cell_type = cell_type
    if cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
        cell.pop("attachments", None)  # only markdown and raw cells may have them
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def reconcile_cells(nb: NotebookNode, released: list[ReleasedCell]) -> list[str]:
    """Repair ``nb``'s grading metadata in place; return one note per change.

    Cells keep the student's code except where the released version must win.
    Read-only and test cells get their released source, and every graded cell
    its released type and metadata. Deleted grade, task and read-only cells
    are put back after the released cell that preceded them. A deleted
    solution cell is only noted, because its content was the student's. Cells
    named like no released cell, and second copies of a cell, lose their
    grading metadata and are treated as ordinary cells.
    """
    by_id = {cell.grade_id: cell for cell in released}
    notes: list[str] = []
    seen: set[str] = set()

    for cell in nb.cells:
        metadata = cell.get("metadata", {}).get("nbgrader")
        if metadata is None:
            continue
        grade_id = metadata.get("grade_id") if isinstance(metadata, dict) else None
        if not isinstance(grade_id, str) or grade_id not in by_id or grade_id in seen:
            del cell.metadata["nbgrader"]
            if not isinstance(grade_id, str):
                if metadata:
                    notes.append(
                        "a cell had grading metadata without a valid grade_id; it was "
                        "graded as an ordinary cell"
                    )
            elif grade_id in seen:
                notes.append(
                    f"cell {grade_id!r} appears more than once; only the first copy "
                    "counts"
                )
            else:
                notes.append(
                    f"cell {grade_id!r} is not a cell of the assignment (renamed?); "
                    "it was graded as an ordinary cell"
                )
            continue
        seen.add(grade_id)
        expected = by_id[grade_id]

        if cell.cell_type != expected.cell_type:
            notes.append(
                f"cell {grade_id!r} was changed from {expected.cell_type} to "
                f"{cell.cell_type}; its type was restored"
            )
            _set_cell_type(cell, expected.cell_type)
        points = metadata.get("points")
        canonical = expected.metadata()
        if expected.grade and points != expected.points:
            notes.append(
                f"the points of cell {grade_id!r} were changed to {points!r}; "
                f"restored to {expected.points:g}"
            )
        elif metadata.get("schema_version", METADATA_SCHEMA_VERSION) != (
            METADATA_SCHEMA_VERSION
        ) or any(
            bool(metadata.get(flag, False)) != canonical[flag]
            for flag in ("grade", "solution", "locked", "task")
        ):
            notes.append(
                f"the grading metadata of cell {grade_id!r} was changed; restored"
            )
        cell.metadata["nbgrader"] = canonical
        # Tags decide which cells the grader skips, such as plots.
        current_tags = tuple(cell.metadata.get("tags", ()))
        if (
            expected.locked
            and expected.tags is not None
            and current_tags != expected.tags
        ):
            notes.append(
                f"the tags of read-only cell {grade_id!r} were changed; restored"
            )
            if expected.tags:
                cell.metadata["tags"] = list(expected.tags)
            else:
                cell.metadata.pop("tags", None)
        if expected.locked and expected.checksum:
            if utils.compute_checksum(cell) != expected.checksum:
                notes.append(
                    f"read-only cell {grade_id!r} was edited; the released version "
                    "was used"
                )
                cell.source = expected.source

    taken = {cell.get("id") for cell in nb.cells if cell.get("id")}
    position = 0
    for expected in released:
        present = [
            index
            for index, cell in enumerate(nb.cells)
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            == expected.grade_id
        ]
        if present:
            position = present[0] + 1
            continue
        if expected.grade or expected.task or expected.locked:
            nb.cells.insert(position, _new_cell(expected, taken))
            position += 1
            notes.append(f"cell {expected.grade_id!r} was deleted; it was restored")
        else:
            notes.append(
                f"solution cell {expected.grade_id!r} was deleted; the code that was "
                "meant for it is missing unless it is in another cell"
            )
    return notes
