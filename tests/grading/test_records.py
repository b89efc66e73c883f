"""Tests for minitorch_grading.records, the per-submission status files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minitorch_grading import records
from minitorch_grading.records import CheckOutcome, Record


def make_record(student: str = "zoë-ø_李") -> Record:
    return Record(
        student=student,
        assignment="activations",
        status=records.GRADED,
        outcome=records.GRADED,
        reasons=["cell 'relu' was deleted; it was restored"],
        score=57.5,
        max_score=59.0,
        checks=[
            CheckOutcome("relu", "ReLU forward on random input", 2.0, True),
            CheckOutcome(
                "gelu", "GELU matches the tanh form", 3.0, False, "max error 0.02 → ∞"
            ),
        ],
    )


def test_record_round_trip_non_ascii(tmp_path: Path) -> None:
    record = make_record()

    records.write_record(tmp_path, record)
    loaded = records.read_record(tmp_path, "activations", record.student)

    assert loaded == record
    assert all(isinstance(check, CheckOutcome) for check in loaded.checks)


def test_record_file_is_utf8_json(tmp_path: Path) -> None:
    record = make_record()

    path = records.write_record(tmp_path, record)

    assert path == tmp_path / "grading_status" / "activations" / "zoë-ø_李.json"
    text = path.read_bytes().decode("utf-8")
    assert "zoë-ø_李" in text
    assert json.loads(text)["checks"][1]["message"] == "max error 0.02 → ∞"


def test_record_write_replaces_and_leaves_no_tmp(tmp_path: Path) -> None:
    first = make_record()
    second = make_record()
    second.status = records.INVALID
    second.reasons = ["activations.ipynb is empty (0 bytes)."]

    records.write_record(tmp_path, first)
    path = records.write_record(tmp_path, second)

    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert records.read_record(tmp_path, "activations", first.student) == second


def test_record_failed_write_keeps_old(tmp_path: Path) -> None:
    old = make_record()
    records.write_record(tmp_path, old)
    broken = make_record()
    broken.score = object()  # json.dump fails on it halfway through the file

    with pytest.raises(TypeError):
        records.write_record(tmp_path, broken)

    directory = records.record_path(tmp_path, "activations", old.student).parent
    assert [p.name for p in directory.iterdir()] == [f"{old.student}.json"]
    assert records.read_record(tmp_path, "activations", old.student) == old


def test_record_read_missing_returns_none(tmp_path: Path) -> None:
    assert records.read_record(tmp_path, "activations", "nobody") is None


def test_worst_follows_status_order() -> None:
    for better, worse in zip(records.STATUSES, records.STATUSES[1:]):
        assert records.worst(better, worse) == worse
        assert records.worst(worse, better) == worse


def test_worst_of_many() -> None:
    assert records.worst(records.GRADED) == records.GRADED
    assert (
        records.worst(records.ADJUSTED, records.CRASHED, records.TIMED_OUT)
        == records.CRASHED
    )
    assert records.worst(records.INVALID, records.ERROR, records.GRADED) == (
        records.ERROR
    )


def test_worst_rejects_unknown_status() -> None:
    with pytest.raises(ValueError):
        records.worst(records.GRADED, "passed")


def test_record_add_keeps_worst() -> None:
    record = Record("s1", "activations")

    record.add(records.CRASHED, "the cell starting 'os._exit(1)' ended Python")
    record.add(records.ADJUSTED, "1 extra file(s) in the submission were ignored")

    assert record.outcome == records.CRASHED
    assert record.status == records.STARTED


def test_record_add_deduplicates_reasons() -> None:
    record = Record("s1", "activations")

    record.add(records.ADJUSTED, "cell 'relu' was deleted; it was restored")
    record.add(records.TIMED_OUT, "cell 'relu' was deleted; it was restored")
    record.add(records.ADJUSTED, "cell 'tanh' was deleted; it was restored")

    assert record.reasons == [
        "cell 'relu' was deleted; it was restored",
        "cell 'tanh' was deleted; it was restored",
    ]
    assert record.outcome == records.TIMED_OUT


def test_record_finish_sets_outcome() -> None:
    record = Record("s1", "activations")
    record.add(records.INVALID, "activations.ipynb was not submitted.")

    record.finish()

    assert record.status == records.INVALID


def test_record_finish_without_findings_graded() -> None:
    record = Record("s1", "activations")

    record.finish()

    assert record.status == records.GRADED
    assert record.reasons == []
