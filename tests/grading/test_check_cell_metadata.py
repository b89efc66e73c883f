"""CheckCellMetadataCachedSchema against nbgrader's own CheckCellMetadata.

The outcomes compared are those of the metadata validators, whose errors the
preprocessors log before they raise one generic ValidationError.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nbgrader.nbgraderformat import MetadataValidator, ValidationError

from minitorch_grading.nbgrader_plugin import (
    CheckCellMetadataCachedSchema,
    _CachedSchemaValidator,
)

SOURCE = (
    Path(__file__).resolve().parent.parent.parent
    / "source"
    / "activations"
    / "activations.ipynb"
)


def outcome(validator_class: type, nb: nbformat.NotebookNode) -> str:
    """Return "ok" or the type and message of the error validation raised."""
    try:
        validator_class().validate_nb(copy.deepcopy(nb))
    except Exception as error:  # noqa: BLE001 - the outcome is the error
        return f"{type(error).__name__}: {error}"
    return "ok"


def source_notebook() -> nbformat.NotebookNode:
    return nbformat.read(SOURCE, as_version=4)


def grade_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(
        cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")
    )


def test_source_notebook_passes_both() -> None:
    nb = source_notebook()

    assert outcome(MetadataValidator, nb) == "ok"
    assert outcome(_CachedSchemaValidator, nb) == "ok"


CORRUPTIONS = {
    "points-as-text": ("points", "ten"),
    "negative-points": ("points", -1),
    "grade-id-with-space": ("grade_id", "relu check"),
    "grade-as-text": ("grade", "yes"),
    "schema-version-too-new": ("schema_version", 99),
    "schema-version-too-old": ("schema_version", 1),
    "schema-version-as-text": ("schema_version", "3"),
    "missing-points": ("points", None),
    "missing-grade-id": ("grade_id", None),
    "missing-schema-version": ("schema_version", None),
}


@pytest.mark.parametrize("key, value", CORRUPTIONS.values(), ids=list(CORRUPTIONS))
def test_corrupted_metadata_same_error(key: str, value: object) -> None:
    nb = source_notebook()
    metadata = grade_cell(nb).metadata.nbgrader
    if value is None:
        del metadata[key]
    else:
        metadata[key] = value

    expected = outcome(MetadataValidator, nb)

    assert expected != "ok"
    assert outcome(_CachedSchemaValidator, nb) == expected


def test_duplicate_grade_id_same_error() -> None:
    nb = source_notebook()
    cells = [
        cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")
    ]
    cells[1].metadata.nbgrader.grade_id = cells[0].metadata.nbgrader.grade_id

    expected = outcome(MetadataValidator, nb)

    assert "Duplicate grade id" in expected
    assert outcome(_CachedSchemaValidator, nb) == expected


def test_preprocessor_logs_reason_and_raises(caplog) -> None:
    nb = source_notebook()
    grade_cell(nb).metadata.nbgrader.points = "ten"

    with pytest.raises(ValidationError, match="nbgrader metadata may be corrupted"):
        CheckCellMetadataCachedSchema().preprocess(nb, {})

    assert "'ten' is not of type 'number'" in caplog.text


def test_preprocessor_passes_source_notebook() -> None:
    nb = source_notebook()

    assert CheckCellMetadataCachedSchema().preprocess(nb, {}) == (nb, {})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 200)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
metadata_keys = st.sampled_from(
    [
        "schema_version",
        "grade",
        "locked",
        "solution",
        "task",
        "grade_id",
        "points",
        "cell_type",
        "checksum",
    ]
)


@settings(max_examples=150, deadline=None)
@given(changes=st.dictionaries(metadata_keys, json_values, max_size=4))
def test_generated_metadata_same_outcome(changes: dict) -> None:
    nb = source_notebook()
    metadata = grade_cell(nb).metadata.nbgrader
    metadata.update(json.loads(json.dumps(changes)))

    assert outcome(_CachedSchemaValidator, nb) == outcome(MetadataValidator, nb)
