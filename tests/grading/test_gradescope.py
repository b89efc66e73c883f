"""Tests for minitorch_grading.gradescope: results.json, grading one notebook
file, the autograder zip and a run in a local copy of Gradescope's layout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minitorch_grading import gradescope, records
from minitorch_grading.records import CheckOutcome, Record
from tests.conftest import ASSIGNMENT, REPO
from tests.course.test_release import solution_lines

SUBMISSIONS = REPO / "examples" / "submissions"
BAD_NOTEBOOKS = REPO / "examples" / "bad_notebooks"
EXPECTED_SCORES = json.loads((SUBMISSIONS / "expected_scores.json").read_text())
NOTEBOOK = f"{ASSIGNMENT}.ipynb"

# Fields of results.json in Gradescope's autograder specification.
TOP_LEVEL_FIELDS = {
    "score",
    "execution_time",
    "output",
    "output_format",
    "test_output_format",
    "test_name_format",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
TEST_FIELDS = {
    "score",
    "max_score",
    "status",
    "name",
    "name_format",
    "number",
    "output",
    "output_format",
    "tags",
    "visibility",
    "extra_data",
}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}
FORMATS = {"text", "simple_format", "html", "md", "ansi"}


def assert_gradescope_results(data: dict[str, Any]) -> None:
    """Check ``data`` against the fields and values the specification allows."""
    assert set(data) <= TOP_LEVEL_FIELDS
    assert isinstance(data["score"], float)
    assert isinstance(data["output"], str)
    assert data["visibility"] in VISIBILITIES
    assert data["stdout_visibility"] in VISIBILITIES
    for key in ("output_format", "test_output_format", "test_name_format"):
        assert data[key] in FORMATS
    if "execution_time" in data:
        assert isinstance(data["execution_time"], int)
        assert data["execution_time"] >= 0
    assert isinstance(data["tests"], list)
    for test in data["tests"]:
        assert set(test) <= TEST_FIELDS, test
        assert isinstance(test["name"], str)
        assert isinstance(test["number"], str)
        assert test["status"] in {"passed", "failed"}
        assert isinstance(test["score"], float)
        assert isinstance(test["max_score"], float)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in VISIBILITIES
        assert all(isinstance(tag, str) for tag in test["tags"])
        assert isinstance(test.get("output", ""), str)
    json.dumps(data)  # serializable as it is


def finished_record() -> Record:
    record = Record(
        student="zoë",
        assignment=ASSIGNMENT,
        reasons=["cell 'relu' was deleted; it was restored"],
        score=11.0,
        max_score=13.0,
        checks=[
            CheckOutcome("relu", "ReLU: forward on random input", 2.0, True),
            CheckOutcome(
                "relu", "ReLU: backward at 0", 1.0, False, "expected 0, received 1"
            ),
            CheckOutcome("gelu", "GELU: matches the tanh form", 10.0, True),
        ],
    )
    record.add(records.ADJUSTED, record.reasons[0])
    record.finish()
    return record


def invalid_record() -> Record:
    record = Record("ada", ASSIGNMENT)
    record.add(records.INVALID, "activations.ipynb is empty (0 bytes).")
    record.finish()
    return record


def test_results_json_of_finished_record() -> None:
    data = gradescope.results_json(finished_record(), execution_time=12.4)

    assert_gradescope_results(data)
    assert data["score"] == 11.0
    assert data["execution_time"] == 12
    assert "Status: adjusted" in data["output"]
    assert "11 of 13 points" in data["output"]
    assert "cell 'relu' was deleted; it was restored" in data["output"]
    assert data["extra_data"]["status"] == records.ADJUSTED
    assert [test["name"] for test in data["tests"]] == [
        "[relu] ReLU: forward on random input",
        "[relu] ReLU: backward at 0",
        "[gelu] GELU: matches the tanh form",
    ]
    assert [test["number"] for test in data["tests"]] == ["1.1", "1.2", "2.1"]
    assert [test["status"] for test in data["tests"]] == ["passed", "failed", "passed"]
    assert [test["score"] for test in data["tests"]] == [2.0, 0.0, 10.0]
    assert [test["max_score"] for test in data["tests"]] == [2.0, 1.0, 10.0]
    assert data["tests"][1]["output"] == "expected 0, received 1"
    assert "output" not in data["tests"][0]
    assert data["tests"][0]["tags"] == ["relu"]


def test_results_json_of_invalid_record() -> None:
    data = gradescope.results_json(invalid_record())

    assert_gradescope_results(data)
    assert data["score"] == 0.0
    assert data["tests"] == []
    assert "Status: invalid" in data["output"]
    assert "activations.ipynb is empty (0 bytes)." in data["output"]
    assert "execution_time" not in data


def test_results_json_rejects_unfinished_record() -> None:
    with pytest.raises(ValueError, match="status 'started'"):
        gradescope.results_json(Record("ada", ASSIGNMENT))


def test_results_json_rejects_unknown_visibility() -> None:
    with pytest.raises(ValueError, match="visibility 'secret'"):
        gradescope.results_json(finished_record(), visibility="secret")


def test_results_json_visibility_applies_to_tests() -> None:
    data = gradescope.results_json(finished_record(), visibility="after_published")

    assert data["visibility"] == "after_published"
    assert {test["visibility"] for test in data["tests"]} == {"after_published"}


def test_write_results_one_file_per_finished_record(tmp_path: Path) -> None:
    course = tmp_path / "course"
    records.write_record(course, finished_record())
    records.write_record(course, invalid_record())
    records.write_record(course, Record("still-grading", ASSIGNMENT))

    written = gradescope.write_results(course, ASSIGNMENT, tmp_path / "out")

    assert written == [
        tmp_path / "out" / "ada" / "results.json",
        tmp_path / "out" / "zoë" / "results.json",
    ]
    ada = json.loads(written[0].read_text(encoding="utf-8"))
    zoe = json.loads(written[1].read_text(encoding="utf-8"))
    assert_gradescope_results(ada)
    assert_gradescope_results(zoe)
    assert ada["score"] == 0.0
    assert zoe["score"] == 11.0
    assert not (tmp_path / "out" / "still-grading").exists()


def write_metadata(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_seed_key_from_emails(tmp_path: Path) -> None:
    metadata = write_metadata(
        tmp_path / "m.json",
        {
            "id": 123456,
            "users": [
                {"email": "Zoe@Example.edu ", "id": 2, "name": "Zoë"},
                {"email": "ada@example.edu", "id": 1, "name": "Ada"},
            ],
        },
    )

    assert gradescope.seed_key_from_metadata(metadata) == (
        "ada@example.edu,zoe@example.edu"
    )


def test_seed_key_falls_back_to_submission_id(tmp_path: Path) -> None:
    metadata = write_metadata(
        tmp_path / "m.json", {"id": 123456, "users": [{"email": "", "id": 1}]}
    )

    assert gradescope.seed_key_from_metadata(metadata) == "submission-123456"


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", "{}"])
def test_seed_key_none_for_unusable_metadata(tmp_path: Path, content: str) -> None:
    metadata = tmp_path / "m.json"
    metadata.write_text(content)

    assert gradescope.seed_key_from_metadata(metadata) is None


def test_seed_key_none_without_metadata(tmp_path: Path) -> None:
    assert gradescope.seed_key_from_metadata(tmp_path / "missing.json") is None


def test_find_notebook_by_released_name(tmp_path: Path) -> None:
    (tmp_path / NOTEBOOK).write_text("{}")
    (tmp_path / "other.ipynb").write_text("{}")

    assert gradescope.find_submitted_notebook(tmp_path, NOTEBOOK) == (
        tmp_path / NOTEBOOK,
        None,
    )


def test_find_notebook_only_one_renamed(tmp_path: Path) -> None:
    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "activations (1).ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")

    path, note = gradescope.find_submitted_notebook(tmp_path, NOTEBOOK)

    assert path == tmp_path / "hw" / "activations (1).ipynb"
    assert note == (
        "graded hw/activations (1).ipynb, because the submission has no "
        "activations.ipynb"
    )


def test_find_notebook_several_renamed(tmp_path: Path) -> None:
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "b.ipynb").write_text("{}")

    path, note = gradescope.find_submitted_notebook(tmp_path, NOTEBOOK)

    assert path == tmp_path / NOTEBOOK
    assert note.startswith(
        "the submission has several notebooks and none is named activations.ipynb: "
        "a.ipynb, b.ipynb."
    )


def test_grade_invalid_notebook_file(tmp_path: Path) -> None:
    record = gradescope.grade_notebook_file(
        BAD_NOTEBOOKS / "truncated-json" / NOTEBOOK,
        ASSIGNMENT,
        seed_key="ada",
        course=REPO,
        secret_file=tmp_path / "secret",
    )

    assert record.status == records.INVALID
    assert record.score == 0.0
    assert record.max_score == 59.0
    assert "not valid JSON" in record.reasons[0]
    assert record.checks == []


def test_run_without_release_writes_error_results(tmp_path: Path) -> None:
    (tmp_path / "submission").mkdir()
    (tmp_path / "source" / "release" / ASSIGNMENT).mkdir(parents=True)
    results = tmp_path / "results" / "results.json"

    status = gradescope.run(tmp_path / "submission", results)

    assert status == 1
    data = json.loads(results.read_text())
    assert_gradescope_results(data)
    assert data["score"] == 0.0
    assert data["extra_data"]["status"] == records.ERROR
    assert "your instructor has the details" in data["output"]


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("gradescope-zip")
    return gradescope.build_autograder_zip(
        REPO,
        ASSIGNMENT,
        directory / "autograder.zip",
        secret_file=directory / "secret",
    )


def entry_mode(info: zipfile.ZipInfo) -> int:
    return (info.external_attr >> 16) & 0o777


def test_zip_scripts_at_root_and_executable(autograder_zip: Path) -> None:
    with zipfile.ZipFile(autograder_zip) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        run_script = archive.read("run_autograder").decode()
        setup_script = archive.read("setup.sh").decode()

    assert entry_mode(infos["setup.sh"]) == 0o755
    assert entry_mode(infos["run_autograder"]) == 0o755
    assert run_script.startswith("#!/usr/bin/env bash\n")
    assert setup_script.startswith("#!/usr/bin/env bash\n")
    command = " ".join(run_script.replace("\\\n", " ").split())
    assert (
        "exec python3 -m minitorch_grading.gradescope run --assignment activations "
        "--submission /autograder/submission "
        "--results /autograder/results/results.json"
    ) in command
    assert "pip install" in setup_script


def test_zip_holds_packages_release_and_secret(
    autograder_zip: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        infos = {info.filename: info for info in archive.infolist()}
        secret = archive.read("seed-secret")
        requirements = archive.read("requirements.txt").decode()

    for name in (
        "framework/pyproject.toml",
        "framework/minitorch/__init__.py",
        "grading/minitorch_grading/gradescope.py",
        "grading/minitorch_grading/worker/main.py",
        "grading/minitorch_grading/checks/activations/test_activation_base.py",
        "grading/minitorch_grading/reference.py",
        f"release/{ASSIGNMENT}/{NOTEBOOK}",
    ):
        assert name in names
    assert not any("__pycache__" in name for name in names)
    assert secret == (autograder_zip.parent / "secret").read_bytes()
    assert entry_mode(infos["seed-secret"]) == 0o600
    assert "nbgrader==0.9.6" in requirements
    assert "numpy" in requirements
    requirement_lines = [
        line for line in requirements.splitlines() if not line.startswith("#")
    ]
    assert not any(line.startswith("minitorch") for line in requirement_lines)


def test_zip_holds_nothing_from_source(autograder_zip: Path) -> None:
    source_files = [path for path in (REPO / "source").rglob("*") if path.is_file()]
    source_contents = {path.read_bytes() for path in source_files}
    solution = solution_lines()
    assert solution  # the check below can fail

    with zipfile.ZipFile(autograder_zip) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            text = data.decode("utf-8", errors="replace")

            assert not info.filename.startswith("source/"), info.filename
            assert data not in source_contents, info.filename
            assert "BEGIN SOLUTION" not in text, info.filename
            if info.filename.startswith(("framework/", "grading/")):
                # The hidden checks' references compute what the solution
                # computes, so the packages must be the kit's files unchanged.
                assert data == (REPO / info.filename).read_bytes(), info.filename
            else:
                leaked = [line for line in solution if line in text]
                assert leaked == [], info.filename


@pytest.mark.slow
def test_grade_correct_notebook_file(tmp_path: Path) -> None:
    record = gradescope.grade_notebook_file(
        SUBMISSIONS / "correct" / NOTEBOOK,
        ASSIGNMENT,
        seed_key="ada@example.edu",
        course=REPO,
        secret_file=tmp_path / "secret",
    )

    assert record.status == records.GRADED
    assert record.score == 59.0
    assert record.max_score == 59.0
    assert all(check.passed for check in record.checks)
    assert_gradescope_results(gradescope.results_json(record))


@pytest.mark.slow
def test_grade_mistaken_notebook_file(tmp_path: Path) -> None:
    example = "relu-derivative-one-at-zero"

    record = gradescope.grade_notebook_file(
        SUBMISSIONS / example / NOTEBOOK,
        ASSIGNMENT,
        seed_key="ada@example.edu",
        course=REPO,
        secret_file=tmp_path / "secret",
    )

    assert record.score == EXPECTED_SCORES[example]["expected_score"]
    assert record.max_score == 59.0
    failed = [check for check in record.checks if not check.passed]
    assert [check.grade_id for check in failed] == ["relu"]
    assert failed[0].message


@pytest.mark.slow
def test_grade_raised_points_restored(tmp_path: Path) -> None:
    record = gradescope.grade_notebook_file(
        BAD_NOTEBOOKS / "points-raised" / NOTEBOOK,
        ASSIGNMENT,
        seed_key="ada@example.edu",
        course=REPO,
        secret_file=tmp_path / "secret",
    )

    assert record.status == records.ADJUSTED
    assert record.score == 59.0
    assert record.max_score == 59.0
    assert any("points of cell 'relu'" in reason for reason in record.reasons)


@pytest.fixture
def readable_tmp_path() -> Iterator[Path]:
    """A temporary folder that every user may traverse and read.

    As root the worker runs as an unprivileged user that must read the
    framework in the unpacked zip, and pytest's own temporary folders are
    private to their owner.
    """
    path = Path(tempfile.mkdtemp(prefix="gradescope-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.slow
def test_run_autograder_in_local_layout(
    autograder_zip: Path, readable_tmp_path: Path
) -> None:
    example = "sigmoid-of-sigmoid"
    tmp_path = readable_tmp_path
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    subprocess.run(
        ["unzip", "-q", str(autograder_zip), "-d", str(root / "source")], check=True
    )
    shutil.copy(SUBMISSIONS / example / NOTEBOOK, root / "submission" / NOTEBOOK)
    write_metadata(
        root / "submission_metadata.json",
        {"id": 1, "users": [{"email": "ada@example.edu", "id": 7, "name": "Ada"}]},
    )
    # Gradescope copies run_autograder to /autograder; setup.sh is not run,
    # because it would install system packages. This interpreter replaces the
    # virtual environment that setup.sh creates, and its framework is installed
    # from the same files as the zip's framework/.
    script = root / "run_autograder"
    shutil.copy2(root / "source" / "run_autograder", script)
    script.write_text(script.read_text().replace("/autograder", str(root)))
    environment = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
    }

    completed = subprocess.run(
        [str(script)], cwd=root, env=environment, capture_output=True, text=True
    )
    probe = subprocess.run(
        [
            "python3",
            "-c",
            "import minitorch_grading; print(minitorch_grading.__file__)",
        ],
        env={**environment, "PYTHONPATH": str(root / "source" / "grading")},
        capture_output=True,
        text=True,
        check=True,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert Path(probe.stdout.strip()).is_relative_to(root / "source" / "grading")
    data = json.loads((root / "results" / "results.json").read_text())
    assert_gradescope_results(data)
    assert data["score"] == EXPECTED_SCORES[example]["expected_score"]
    assert sum(test["max_score"] for test in data["tests"]) == 59.0
    assert data["extra_data"]["status"] == records.GRADED
