"""Tests for minitorch_grading.intake on real notebooks and a real gradebook."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import SchemaMismatchError
from nbgrader.preprocessors import CheckCellMetadata, DeduplicateIds, OverwriteCells

from minitorch_grading.intake import (
    MAX_NOTEBOOK_BYTES,
    InvalidNotebook,
    ReleasedCell,
    extra_files,
    read_submitted_notebook,
    reconcile_cells,
    released_cells,
)
from tests.conftest import ASSIGNMENT, REPO, nbgrader_environment

CORRECT = REPO / "examples" / "submissions" / "correct" / "activations.ipynb"
NAME = "activations.ipynb"


def grade_id(cell) -> str | None:
    metadata = cell.get("metadata", {}).get("nbgrader")
    return metadata.get("grade_id") if isinstance(metadata, dict) else None


def index_of(nb, target: str) -> int:
    return next(i for i, cell in enumerate(nb.cells) if grade_id(cell) == target)


def grade_ids(nb) -> list[str]:
    return [grade_id(cell) for cell in nb.cells if grade_id(cell) is not None]


# Reading a submitted file ------------------------------------------------------


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def correct_data() -> dict:
    return json.loads(CORRECT.read_text(encoding="utf-8"))


def latin1_damaged() -> bytes:
    return CORRECT.read_bytes().replace(
        b"# Task 1", "# Task 1 (r\u00e9sum\u00e9)".encode("latin-1"), 1
    )


def make_symlink(path: Path) -> None:
    path.symlink_to(CORRECT)


def make_missing(path: Path) -> None:
    pass


def make_empty(path: Path) -> None:
    path.write_bytes(b"")


def make_oversized(path: Path) -> None:
    # A sparse file: its size is past the limit but it occupies no disk blocks.
    path.touch()
    os.truncate(path, MAX_NOTEBOOK_BYTES + 1)


def make_latin1(path: Path) -> None:
    path.write_bytes(latin1_damaged())


def make_truncated(path: Path) -> None:
    text = CORRECT.read_bytes()
    path.write_bytes(text[: len(text) // 2])


def make_json_list(path: Path) -> None:
    write_json(path, [1, 2, 3])


def make_dict_without_cells(path: Path) -> None:
    write_json(path, {"answer": 42})


def make_nbformat_5(path: Path) -> None:
    write_json(path, {**correct_data(), "nbformat": 5})


def make_string_version(path: Path) -> None:
    write_json(path, {**correct_data(), "nbformat": "4"})


def make_schema_error(path: Path) -> None:
    data = correct_data()
    del data["cells"][0]["source"]
    write_json(path, data)


# (builder, phrase naming the cause, phrase telling the student what to do)
INVALID_CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "symlink": (make_symlink, "is a symbolic link", "Submit the notebook itself"),
    "missing": (make_missing, "was not submitted", "Submit"),
    "empty": (make_empty, "is empty (0 bytes)", "Save the notebook in Jupyter"),
    "oversized": (make_oversized, "larger than the 50 MiB", "Clear the outputs"),
    "latin-1": (make_latin1, "is not UTF-8 text", "submit the file Jupyter saved"),
    "truncated": (make_truncated, "is not valid JSON", "save it and submit"),
    "json-list": (make_json_list, "not a Jupyter notebook", "Submit"),
    "no-cells": (make_dict_without_cells, "not a Jupyter notebook", "Submit"),
    "nbformat-5": (make_nbformat_5, "nbformat version 5", "save it again"),
    "string-version": (make_string_version, "version '4'", "save it again"),
    "schema-error": (make_schema_error, "does not follow the notebook", "save it"),
}  # fmt: skip


def read_invalid(tmp_path: Path, case: str) -> str:
    path = tmp_path / NAME
    INVALID_CASES[case][0](path)
    with pytest.raises(InvalidNotebook) as caught:
        read_submitted_notebook(path)
    return str(caught.value)


@pytest.mark.parametrize("case", sorted(INVALID_CASES))
def test_read_invalid_names_file_and_cause(tmp_path: Path, case: str) -> None:
    message = read_invalid(tmp_path, case)

    assert message.startswith(NAME)
    assert INVALID_CASES[case][1] in message


@pytest.mark.parametrize(
    "case",
    [case for case in sorted(INVALID_CASES)],
)
def test_read_invalid_says_what_to_do(tmp_path: Path, case: str) -> None:
    message = read_invalid(tmp_path, case)

    assert INVALID_CASES[case][2] in message


def test_read_symlink_to_valid_notebook_rejected(tmp_path: Path) -> None:
    # The link target is a readable notebook, so only the link itself is wrong.
    path = tmp_path / NAME
    path.symlink_to(CORRECT)

    with pytest.raises(InvalidNotebook, match="symbolic link"):
        read_submitted_notebook(path)


def test_read_oversized_reports_size(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.touch()
    os.truncate(path, 3 * MAX_NOTEBOOK_BYTES)

    with pytest.raises(InvalidNotebook, match="is 150 MiB, larger than the 50 MiB"):
        read_submitted_notebook(path)


def test_read_non_utf8_gives_byte_offset(tmp_path: Path) -> None:
    data = latin1_damaged()
    offset = data.index(b"\xe9")
    path = tmp_path / NAME
    path.write_bytes(data)

    with pytest.raises(InvalidNotebook) as caught:
        read_submitted_notebook(path)

    assert f"byte {offset} is 0xe9" in str(caught.value)


def test_read_truncated_gives_line_and_column(tmp_path: Path) -> None:
    text = CORRECT.read_text(encoding="utf-8")
    truncated = text[: len(text) // 2]
    with pytest.raises(json.JSONDecodeError) as decoding:
        json.loads(truncated)
    path = tmp_path / NAME
    path.write_text(truncated, encoding="utf-8")

    with pytest.raises(InvalidNotebook) as caught:
        read_submitted_notebook(path)

    position = f"line {decoding.value.lineno}, column {decoding.value.colno}"
    assert position in str(caught.value)
    assert decoding.value.lineno > 1


def test_read_nbformat_3_upgraded_to_4(tmp_path: Path) -> None:
    current = nbformat.read(CORRECT, as_version=4)
    old = nbformat.convert(copy.deepcopy(current), 3)
    path = tmp_path / NAME
    path.write_text(nbformat.writes(old, version=3), encoding="utf-8")

    nb = read_submitted_notebook(path)

    assert json.loads(path.read_text())["nbformat"] == 3
    assert nb.nbformat == 4
    assert grade_ids(nb) == grade_ids(current)
    assert [c.source for c in nb.cells if c.cell_type == "code"] == [
        c.source for c in current.cells if c.cell_type == "code"
    ]


def test_read_correct_notebook_returned(tmp_path: Path) -> None:
    path = tmp_path / NAME
    shutil.copy(CORRECT, path)

    nb = read_submitted_notebook(path)

    assert nb == nbformat.read(CORRECT, as_version=4)


@pytest.mark.parametrize(
    "content",
    [
        b'{"cells": ' + b"[" * 100_000,
        b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"n": '
        + b"9" * 5000
        + b'}, "cells": []}',
        b'{"nbformat": 4.0, "nbformat_minor": 5, "metadata": {}, "cells": []}',
        b'{"nbformat": 4, "nbformat_minor": "5", "metadata": {}, "cells": []}',
    ],
    ids=["deep-nesting", "long-integer", "float-version", "string-minor"],
)
def test_read_hostile_json_raises_invalid(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / NAME
    path.write_bytes(content)

    with pytest.raises(InvalidNotebook):
        read_submitted_notebook(path)


# Extra files in a submission folder --------------------------------------------


def test_extra_files_ignores_jupyter_files(tmp_path: Path) -> None:
    (tmp_path / NAME).write_text("{}")
    (tmp_path / "timestamp.txt").write_text("2024-01-01 00:00:00 UTC")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "activations-checkpoint.ipynb").write_text("{}")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "helpers.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "empty_folder").mkdir()

    assert extra_files(tmp_path, {NAME}) == []


def test_extra_files_lists_nested_and_symlinks(tmp_path: Path) -> None:
    (tmp_path / NAME).write_text("{}")
    (tmp_path / "helpers.py").write_text("def relu(x):\n    return x\n")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "points.csv").write_text("x,y\n")
    (tmp_path / "data" / "activations.ipynb").write_text("{}")
    (tmp_path / "link.py").symlink_to(tmp_path / "helpers.py")
    (tmp_path / "linked_folder").symlink_to(tmp_path / "data")
    (tmp_path / "nested" / "__pycache__").mkdir(parents=True)
    (tmp_path / "nested" / "__pycache__" / "x.pyc").write_bytes(b"\0")

    found = extra_files(tmp_path, {NAME})

    assert found == [
        "data/activations.ipynb",
        "data/raw/points.csv",
        "helpers.py",
        "link.py",
        "linked_folder",
    ]


def test_extra_files_sorted(tmp_path: Path) -> None:
    for name in ("zeta.py", "alpha.py", "Beta.txt", "mid/file.txt"):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("x")

    found = extra_files(tmp_path, set())

    assert found == ["Beta.txt", "alpha.py", "mid/file.txt", "zeta.py"]


# Reconciling grading metadata with the released cells --------------------------


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course with a gradebook written by ``nbgrader generate_assignment``."""
    root = tmp_path_factory.mktemp("course")
    for name in ("source", "release"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    completed = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT]
        + ["--force"],
        cwd=root,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return root


@pytest.fixture(scope="module")
def db_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


@pytest.fixture(scope="module")
def release_nb(course: Path):
    return nbformat.read(course / "release" / ASSIGNMENT / NAME, as_version=4)


@pytest.fixture(scope="module")
def gradebook_cells(db_url: str, release_nb) -> list[ReleasedCell]:
    with Gradebook(db_url) as gradebook:
        return released_cells(gradebook, "activations", ASSIGNMENT, release_nb)


@pytest.fixture(scope="module")
def released(gradebook_cells, release_nb) -> list[ReleasedCell]:
    """The gradebook's released cells, put in the release notebook's order."""
    order = grade_ids(release_nb)
    return sorted(gradebook_cells, key=lambda cell: order.index(cell.grade_id))


@pytest.fixture
def nb(release_nb):
    return copy.deepcopy(release_nb)


def by_id(released: list[ReleasedCell], target: str) -> ReleasedCell:
    return next(cell for cell in released if cell.grade_id == target)


def test_released_cells_match_release_notebook(gradebook_cells, release_nb) -> None:
    assert sorted(cell.grade_id for cell in gradebook_cells) == sorted(
        grade_ids(release_nb)
    )
    for cell in gradebook_cells:
        release_cell = release_nb.cells[index_of(release_nb, cell.grade_id)]
        expected = release_cell.metadata.nbgrader
        assert cell.checksum == expected["checksum"]
        assert cell.locked == expected["locked"]
        assert cell.solution == expected["solution"]
        assert cell.points == (expected["points"] if expected["grade"] else None)


def test_released_cells_in_notebook_order(gradebook_cells, release_nb) -> None:
    assert [cell.grade_id for cell in gradebook_cells] == grade_ids(release_nb)


def test_reconcile_untouched_release_no_notes(nb, release_nb, released) -> None:
    notes = reconcile_cells(nb, released)

    assert notes == []
    assert [c.id for c in nb.cells] == [c.id for c in release_nb.cells]
    assert [c.cell_type for c in nb.cells] == [c.cell_type for c in release_nb.cells]
    assert [c.source for c in nb.cells] == [c.source for c in release_nb.cells]


def test_reconcile_untouched_release_keeps_grading(nb, release_nb, released) -> None:
    reconcile_cells(nb, released)

    for before, after in zip(release_nb.cells, nb.cells):
        if "nbgrader" not in before.metadata:
            assert "nbgrader" not in after.metadata
            continue
        old = before.metadata.nbgrader
        new = after.metadata.nbgrader
        for key in ("grade_id", "grade", "solution", "locked", "checksum"):
            assert new[key] == old[key], key
        assert new.get("points") == old.get("points")
        assert utils.compute_checksum(after) == old["checksum"]


def test_reconcile_deleted_grade_cell_restored(nb, released) -> None:
    del nb.cells[index_of(nb, "relu")]

    notes = reconcile_cells(nb, released)

    restored = nb.cells[index_of(nb, "relu_plot") + 1]
    expected = by_id(released, "relu")
    assert notes == ["cell 'relu' was deleted; it was restored"]
    assert grade_id(restored) == "relu"
    assert restored.id == "restored-relu"
    assert restored.cell_type == "code"
    assert restored.source == expected.source
    assert restored.metadata.nbgrader == expected.metadata()
    assert restored.metadata.editable is False
    assert restored.metadata.deletable is False
    assert utils.compute_checksum(restored) == expected.checksum


def test_reconcile_restored_id_deterministic(release_nb, released) -> None:
    ids = []
    for _ in range(2):
        nb = copy.deepcopy(release_nb)
        del nb.cells[index_of(nb, "sigmoid")]
        reconcile_cells(nb, released)
        ids.append(nb.cells[index_of(nb, "sigmoid")].id)

    assert ids == ["restored-sigmoid", "restored-sigmoid"]


def test_reconcile_deleted_cells_keep_order(nb, release_nb, released) -> None:
    for target in ("spiral_training", "tanh", "tanh_plot", "plot_helper"):
        del nb.cells[index_of(nb, target)]

    reconcile_cells(nb, released)

    assert grade_ids(nb) == grade_ids(release_nb)
    assert [c.source for c in nb.cells] == [c.source for c in release_nb.cells]


def test_reconcile_deleted_read_only_cell_restored(nb, released) -> None:
    del nb.cells[index_of(nb, "relu_plot")]

    notes = reconcile_cells(nb, released)

    restored = nb.cells[index_of(nb, "relu_solution") + 1]
    assert notes == ["cell 'relu_plot' was deleted; it was restored"]
    assert grade_id(restored) == "relu_plot"
    assert restored.source == by_id(released, "relu_plot").source
    assert restored.metadata.nbgrader["locked"] is True
    assert "points" not in restored.metadata.nbgrader


def test_reconcile_deleted_solution_cell_only_noted(nb, release_nb, released) -> None:
    del nb.cells[index_of(nb, "relu_solution")]

    notes = reconcile_cells(nb, released)

    assert len(nb.cells) == len(release_nb.cells) - 1
    assert "relu_solution" not in grade_ids(nb)
    assert len(notes) == 1
    assert notes[0].startswith("solution cell 'relu_solution' was deleted")


def test_reconcile_duplicate_loses_metadata(nb, released) -> None:
    index = index_of(nb, "relu")
    copied = copy.deepcopy(nb.cells[index])
    copied.id = "relu-copy"
    nb.cells.insert(index + 1, copied)

    notes = reconcile_cells(nb, released)

    assert notes == ["cell 'relu' appears more than once; only the first copy counts"]
    assert nb.cells[index].metadata.nbgrader == by_id(released, "relu").metadata()
    assert nb.cells[index + 1].id == "relu-copy"
    assert "nbgrader" not in nb.cells[index + 1].metadata


def test_reconcile_unknown_grade_id_loses_metadata(nb, released) -> None:
    index = index_of(nb, "relu")
    nb.cells[index].metadata.nbgrader["grade_id"] = "my_relu_tests"

    renamed_id = nb.cells[index].id

    notes = reconcile_cells(nb, released)

    # The real grade cell is missing now, so it comes back after 'relu_plot',
    # just before the renamed copy.
    assert grade_id(nb.cells[index]) == "relu"
    assert nb.cells[index + 1].id == renamed_id
    assert "nbgrader" not in nb.cells[index + 1].metadata
    assert notes == [
        "cell 'my_relu_tests' is not a cell of the assignment (renamed?); it was "
        "graded as an ordinary cell",
        "cell 'relu' was deleted; it was restored",
    ]


def test_reconcile_markdown_cell_gets_code_type(nb, released) -> None:
    index = index_of(nb, "relu")
    cell = nb.cells[index]
    markdown = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    markdown.id = cell.id
    nb.cells[index] = markdown

    notes = reconcile_cells(nb, released)

    repaired = nb.cells[index]
    assert notes == [
        "cell 'relu' was changed from code to markdown; its type was restored"
    ]
    assert repaired.cell_type == "code"
    assert repaired.outputs == []
    assert repaired.execution_count is None
    assert repaired.id == cell.id


def test_reconcile_markdown_attachments_dropped(nb, released) -> None:
    index = index_of(nb, "relu")
    cell = nb.cells[index]
    attachments = {"plot.png": {"image/png": "iVBORw0KGgo="}}
    nb.cells[index] = nbformat.v4.new_markdown_cell(
        cell.source, metadata=cell.metadata, attachments=attachments
    )

    reconcile_cells(nb, released)

    nbformat.validate(nb)


def test_reconcile_edited_read_only_gets_release(nb, released) -> None:
    index = index_of(nb, "imports")
    nb.cells[index].source += "\nnp.allclose = lambda *args, **kwargs: True"

    notes = reconcile_cells(nb, released)

    assert notes == [
        "read-only cell 'imports' was edited; the released version was used"
    ]
    assert nb.cells[index].source == by_id(released, "imports").source


def test_reconcile_edited_solution_kept(nb, released) -> None:
    index = index_of(nb, "relu_solution")
    answer = "class ReLU(Activation):\n    pass\n"
    nb.cells[index].source = answer

    notes = reconcile_cells(nb, released)

    assert notes == []
    assert nb.cells[index].source == answer


def test_reconcile_changed_points_restored(nb, released) -> None:
    index = index_of(nb, "relu")
    nb.cells[index].metadata.nbgrader["points"] = 100

    notes = reconcile_cells(nb, released)

    assert notes == ["the points of cell 'relu' were changed to 100; restored to 10"]
    assert nb.cells[index].metadata.nbgrader["points"] == 10.0


def test_reconcile_future_schema_restored(nb, released) -> None:
    index = index_of(nb, "relu")
    nb.cells[index].metadata.nbgrader["schema_version"] = 99

    notes = reconcile_cells(nb, released)

    assert notes == ["the grading metadata of cell 'relu' was changed; restored"]
    assert nb.cells[index].metadata.nbgrader["schema_version"] == 3


def test_reconcile_changed_flag_restored(nb, released) -> None:
    index = index_of(nb, "relu")
    nb.cells[index].metadata.nbgrader["locked"] = False

    notes = reconcile_cells(nb, released)

    assert notes == ["the grading metadata of cell 'relu' was changed; restored"]
    assert nb.cells[index].metadata.nbgrader["locked"] is True


@pytest.mark.parametrize("value", ["relu", ["relu"], 7])
def test_reconcile_non_dict_metadata_stripped(nb, released, value) -> None:
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["nbgrader"] = value
    nb.cells.insert(0, cell)

    notes = reconcile_cells(nb, released)

    assert "nbgrader" not in nb.cells[0].metadata
    assert notes == [
        "a cell had grading metadata without a valid grade_id; it was graded as an "
        "ordinary cell"
    ]


def test_reconcile_restores_from_hand_built_cells() -> None:
    released = [
        ReleasedCell("setup", "code", "import math", None, True, False, False, None),
        ReleasedCell("answer", "code", "x = 0", None, False, True, False, None),
        ReleasedCell("check", "code", "assert x", None, True, False, False, 2.0),
        ReleasedCell("essay", "markdown", "YOUR ANSWER", None, False, True, False, 1.0),
    ]
    answer = nbformat.v4.new_code_cell("x = 1")
    answer.metadata["nbgrader"] = released[1].metadata()
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Intro"), answer]
    )

    notes = reconcile_cells(nb, released)

    assert [grade_id(cell) for cell in nb.cells] == [
        "setup",
        None,
        "answer",
        "check",
        "essay",
    ]
    assert [cell.cell_type for cell in nb.cells[2:]] == ["code", "code", "markdown"]
    assert nb.cells[2].source == "x = 1"
    assert notes == [
        "cell 'setup' was deleted; it was restored",
        "cell 'check' was deleted; it was restored",
        "cell 'essay' was deleted; it was restored",
    ]


def test_reconcile_restored_ids_unique() -> None:
    released = [
        ReleasedCell("part.1", "code", "a = 1", None, True, False, False, 1.0),
        ReleasedCell("part-1", "code", "b = 1", None, True, False, False, 1.0),
    ]
    nb = nbformat.v4.new_notebook()

    reconcile_cells(nb, released)

    assert len({cell.id for cell in nb.cells}) == 2


def delete_grade(nb) -> None:
    del nb.cells[index_of(nb, "relu")]


def duplicate_grade(nb) -> None:
    index = index_of(nb, "relu")
    copied = copy.deepcopy(nb.cells[index])
    copied.id = "relu-copy"
    nb.cells.insert(index + 1, copied)


def rename_grade(nb) -> None:
    nb.cells[index_of(nb, "relu")].metadata.nbgrader["grade_id"] = "my_relu_tests"


def markdown_grade(nb) -> None:
    index = index_of(nb, "relu")
    cell = nb.cells[index]
    nb.cells[index] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)


def edit_read_only(nb) -> None:
    nb.cells[index_of(nb, "imports")].source += "\nprint('edited')"


def raise_points(nb) -> None:
    nb.cells[index_of(nb, "relu")].metadata.nbgrader["points"] = 100


def future_schema(nb) -> None:
    nb.cells[index_of(nb, "relu")].metadata.nbgrader["schema_version"] = 99


def string_metadata(nb) -> None:
    nb.cells[index_of(nb, "relu")].metadata["nbgrader"] = "relu"


def delete_solution(nb) -> None:
    del nb.cells[index_of(nb, "relu_solution")]


def several_damages(nb) -> None:
    for damage in (duplicate_grade, future_schema, edit_read_only, delete_solution):
        damage(nb)
    del nb.cells[index_of(nb, "sigmoid")]


DAMAGES = [
    delete_grade,
    duplicate_grade,
    rename_grade,
    markdown_grade,
    edit_read_only,
    raise_points,
    future_schema,
    string_metadata,
    delete_solution,
    several_damages,
]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda damage: damage.__name__)
def test_reconcile_passes_nbgrader_validation(nb, released, damage) -> None:
    damage(nb)

    reconcile_cells(nb, released)

    MetadataValidator().validate_nb(nb)


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda damage: damage.__name__)
def test_reconcile_passes_nbgrader_sanitizers(nb, released, db_url, damage) -> None:
    damage(nb)
    info = {"db_url": db_url, "assignment": ASSIGNMENT, "notebook": "activations"}
    resources = {"nbgrader": info}
    reconcile_cells(nb, released)

    for preprocessor in (DeduplicateIds(), OverwriteCells(), CheckCellMetadata()):
        nb, resources = preprocessor.preprocess(nb, resources)

    assert grade_ids(nb).count("relu") == 1


@pytest.mark.parametrize(
    "damage", [duplicate_grade, future_schema], ids=lambda damage: damage.__name__
)
def test_validator_rejects_unreconciled_damage(nb, damage) -> None:
    # Without reconcile_cells these damages stop nbgrader's CheckCellMetadata.
    damage(nb)
    DeduplicateIds().preprocess(nb, {})

    with pytest.raises((ValidationError, SchemaMismatchError)):
        CheckCellMetadata().preprocess(nb, {})


def test_reconcile_plot_tag_restored(nb, released) -> None:
    index = index_of(nb, "relu_plot")
    del nb.cells[index].metadata["tags"]

    notes = reconcile_cells(nb, released)

    assert notes == ["the tags of read-only cell 'relu_plot' were changed; restored"]
    assert nb.cells[index].metadata["tags"] == ["plot"]


def test_reconcile_restored_cell_gets_tags(nb, released) -> None:
    del nb.cells[index_of(nb, "relu_plot")]

    reconcile_cells(nb, released)

    assert nb.cells[index_of(nb, "relu_plot")].metadata["tags"] == ["plot"]


def test_reconcile_without_release_keeps_tags(db_url: str, nb) -> None:
    with Gradebook(db_url) as gradebook:
        unknown_tags = released_cells(gradebook, "activations", ASSIGNMENT)
    index = index_of(nb, "relu_plot")
    del nb.cells[index].metadata["tags"]

    notes = reconcile_cells(nb, unknown_tags)

    assert notes == []
    assert "tags" not in nb.cells[index].metadata
