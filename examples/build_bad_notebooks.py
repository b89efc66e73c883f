"""Build submissions whose notebook file or grading metadata is damaged.

Each case starts from the bundled correct submission and damages it the way
students' files get damaged: truncated or empty files, other encodings and
notebook versions, and grade cells deleted, duplicated, renamed, turned into
markdown or edited. ``cases.json`` lists, for each case, the status the kit
records (see ``grading/minitorch_grading/records.py``), the autograded score,
and a phrase the recorded reason contains. ``tests/course/test_bad_notebooks.py``
grades them all with ``nbgrader autograde`` in one batch.

A symbolic link cannot be committed in a portable way, so the ``symlink`` case
has no files here. ``cases.json`` names the course file the link points to,
and the test that submits the case creates the link.

Run from the repository root::

    python examples/build_bad_notebooks.py
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CORRECT = ROOT / "examples" / "submissions" / "correct" / "activations.ipynb"
OUTPUT = ROOT / "examples" / "bad_notebooks"
NOTEBOOK = "activations.ipynb"
FULL = 59.0

Files = dict[str, bytes]


def _grade_id(cell: Any) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _index(nb: Any, grade_id: str) -> int:
    return next(i for i, cell in enumerate(nb.cells) if _grade_id(cell) == grade_id)


def _write(nb: Any) -> bytes:
    return nbformat.writes(nb).encode("utf-8") + b"\n"


def truncated(text: bytes, nb: Any) -> Files:
    return {NOTEBOOK: text[: len(text) // 2]}


def empty(text: bytes, nb: Any) -> Files:
    return {NOTEBOOK: b""}


def latin1(text: bytes, nb: Any) -> Files:
    # A comment with an accented letter, saved by an editor set to Latin-1.
    damaged = text.replace(
        b"# Task 1", "# Task 1 (r\u00e9sum\u00e9)".encode("latin-1"), 1
    )
    assert damaged != text
    return {NOTEBOOK: damaged}


def not_a_notebook(text: bytes, nb: Any) -> Files:
    return {NOTEBOOK: b'{"answer": 42}\n'}


def nbformat_5(text: bytes, nb: Any) -> Files:
    data = json.loads(text)
    data["nbformat"] = 5
    return {NOTEBOOK: json.dumps(data, indent=1).encode("utf-8")}


def nbformat_3(text: bytes, nb: Any) -> Files:
    old = nbformat.convert(copy.deepcopy(nb), 3)
    return {NOTEBOOK: nbformat.writes(old, version=3).encode("utf-8")}


def schema_error(text: bytes, nb: Any) -> Files:
    data = json.loads(text)
    del data["cells"][0]["source"]
    return {NOTEBOOK: json.dumps(data, indent=1).encode("utf-8")}


def wrong_name(text: bytes, nb: Any) -> Files:
    return {"activations (1).ipynb": text}


def grade_cell_deleted(text: bytes, nb: Any) -> Files:
    del nb.cells[_index(nb, "relu")]
    return {NOTEBOOK: _write(nb)}


def grade_cell_duplicated(text: bytes, nb: Any) -> Files:
    index = _index(nb, "relu")
    copied = copy.deepcopy(nb.cells[index])
    copied.id = "relu-copy"
    nb.cells.insert(index + 1, copied)
    return {NOTEBOOK: _write(nb)}


def grade_cell_renamed(text: bytes, nb: Any) -> Files:
    nb.cells[_index(nb, "relu")].metadata.nbgrader["grade_id"] = "my_relu_tests"
    return {NOTEBOOK: _write(nb)}


def grade_cell_markdown(text: bytes, nb: Any) -> Files:
    index = _index(nb, "relu")
    cell = nb.cells[index]
    markdown = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    markdown.id = cell.id
    nb.cells[index] = markdown
    return {NOTEBOOK: _write(nb)}


def read_only_edited(text: bytes, nb: Any) -> Files:
    cell = nb.cells[_index(nb, "imports")]
    cell.source += "\nnp.allclose = lambda *args, **kwargs: True"
    return {NOTEBOOK: _write(nb)}


def points_raised(text: bytes, nb: Any) -> Files:
    nb.cells[_index(nb, "relu")].metadata.nbgrader["points"] = 100
    return {NOTEBOOK: _write(nb)}


def metadata_from_the_future(text: bytes, nb: Any) -> Files:
    nb.cells[_index(nb, "relu")].metadata.nbgrader["schema_version"] = 99
    return {NOTEBOOK: _write(nb)}


def plot_tag_removed(text: bytes, nb: Any) -> Files:
    del nb.cells[_index(nb, "relu_plot")].metadata["tags"]
    return {NOTEBOOK: _write(nb)}


def solution_cell_deleted(text: bytes, nb: Any) -> Files:
    del nb.cells[_index(nb, "relu_solution")]
    return {NOTEBOOK: _write(nb)}


def extra_files(text: bytes, nb: Any) -> Files:
    return {
        NOTEBOOK: text,
        "helpers.py": b"def relu(x):\n    return max(x, 0)\n",
        "data/points.csv": b"x,y\n0,1\n",
    }


# name: (what is damaged, builder, expected status, score, phrase in reason)
CASES: dict[str, tuple[str, Callable[[bytes, Any], Files], str, float, str]] = {
    "truncated-json": (
        "the file ends halfway through", truncated, "invalid", 0.0, "not valid JSON"
    ),
    "empty-file": ("an empty file", empty, "invalid", 0.0, "is empty"),
    "latin-1-bytes": (
        "a comment saved in Latin-1, not UTF-8", latin1, "invalid", 0.0, "not UTF-8"
    ),
    "not-a-notebook": (
        "JSON that is not a notebook", not_a_notebook, "invalid", 0.0, "no cells"
    ),
    "nbformat-5": (
        "a notebook that declares nbformat 5", nbformat_5, "invalid", 0.0, "version 5"
    ),
    "nbformat-3": (
        "the correct notebook saved as nbformat 3", nbformat_3, "graded", FULL, ""
    ),
    "schema-error": (
        "a cell without a source field", schema_error, "invalid", 0.0, "notebook format"
    ),
    "wrong-name": (
        "the notebook renamed to 'activations (1).ipynb'",
        wrong_name, "invalid", 0.0, "has no activations.ipynb",
    ),
    "symlink": (
        "a symbolic link to the instructor's source notebook",
        None, "invalid", 0.0, "symbolic link",
    ),
    "grade-cell-deleted": (
        "the ReLU test cell deleted",
        grade_cell_deleted, "adjusted", FULL, "'relu' was deleted",
    ),
    "grade-cell-duplicated": (
        "the ReLU test cell duplicated",
        grade_cell_duplicated, "adjusted", FULL, "more than once",
    ),
    "grade-cell-renamed": (
        "the ReLU test cell's grade_id renamed",
        grade_cell_renamed, "adjusted", FULL, "'my_relu_tests' is not a cell",
    ),
    "grade-cell-markdown": (
        "the ReLU test cell turned into markdown",
        grade_cell_markdown, "adjusted", FULL, "changed from code to markdown",
    ),
    "read-only-edited": (
        "the read-only imports cell edited to replace np.allclose",
        read_only_edited, "adjusted", FULL, "read-only cell 'imports' was edited",
    ),
    "points-raised": (
        "the ReLU test cell's points raised to 100",
        points_raised, "adjusted", FULL, "points of cell 'relu'",
    ),
    "metadata-from-the-future": (
        "grading metadata with schema version 99",
        metadata_from_the_future, "adjusted", FULL, "metadata of cell 'relu'",
    ),
    "plot-tag-removed": (
        "the plot tag removed from a read-only plotting cell",
        plot_tag_removed, "adjusted", FULL, "tags of read-only cell 'relu_plot'",
    ),
    "solution-cell-deleted": (
        "the ReLU solution cell deleted",
        solution_cell_deleted, "adjusted", 49.0, "solution cell 'relu_solution'",
    ),
    "extra-files": (
        "a helper module and a data folder beside the notebook",
        extra_files, "adjusted", FULL, "extra file",
    ),
}  # fmt: skip

SYMLINK_TARGET = "source/activations/activations.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the damaged submissions.")
    parser.add_argument(
        "--output", type=Path, default=OUTPUT, help="folder to write the submissions to"
    )
    output = parser.parse_args(argv).output

    text = CORRECT.read_bytes()
    listing = {}
    for name, (damage, builder, status, score, reason) in CASES.items():
        listing[name] = {
            "damage": damage,
            "expected_status": status,
            "expected_score": score,
            "reason_contains": reason,
        }
        if builder is None:
            listing[name]["symlink_to"] = SYMLINK_TARGET
            continue
        files = builder(text, nbformat.reads(text.decode("utf-8"), as_version=4))
        for relative, content in files.items():
            path = output / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    (output / "cases.json").write_text(json.dumps(listing, indent=2) + "\n")
    print(f"wrote {len(CASES)} cases to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
