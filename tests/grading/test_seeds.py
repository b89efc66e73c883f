"""Per-student seeds: stable for one student, different across students, secret."""

from __future__ import annotations

import stat
from pathlib import Path

import nbformat
import pytest

from minitorch_grading import isolation
from minitorch_grading.notebook_cells import SKIP_TAGS, submission_code
from minitorch_grading.runner import grade_cells
from minitorch_grading.sandbox import StudentError, Submission
from minitorch_grading.seeds import load_secret, student_seed

REPO = Path(__file__).resolve().parents[2]


def test_load_secret_creates_private_file(tmp_path: Path):
    path = tmp_path / "grading" / "secret"

    secret = load_secret(path)

    assert len(secret) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(path) == secret


def test_load_secret_rejects_short_secret(tmp_path: Path):
    path = tmp_path / "secret"
    path.write_text("short\n")

    with pytest.raises(ValueError, match="too short .5 characters.; delete the file"):
        load_secret(path)


def test_student_seed_stable_for_same_student():
    assert student_seed(b"k" * 64, "activations", "alice") == student_seed(
        b"k" * 64, "activations", "alice"
    )


def test_student_seed_differs_across_students_and_assignments():
    seeds = {
        student_seed(b"k" * 64, "activations", "alice"),
        student_seed(b"k" * 64, "activations", "bob"),
        student_seed(b"k" * 64, "other", "alice"),
        student_seed(b"j" * 64, "activations", "alice"),
    }

    assert len(seeds) == 4


def test_student_seed_unreadable_from_worker(tmp_path: Path):
    if isolation.detect().landlock_abi == 0:
        pytest.skip("the kernel does not offer Landlock")
    path = tmp_path / "secret"
    load_secret(path)
    source = "def read(path):\n    return open(path).read()"

    with Submission([(0, source)]) as submission:
        with pytest.raises(StudentError) as raised:
            submission.call_function("read", str(path))

    assert raised.value.type_name == "PermissionError"


def test_regrading_gives_identical_messages():
    path = REPO / "examples" / "submissions" / "relu-derivative-one-at-zero"
    nb = nbformat.read(path / "activations.ipynb", as_version=4)
    cells = submission_code(nb, set(SKIP_TAGS))
    seed = student_seed(b"k" * 64, "activations", "relu-derivative-one-at-zero")

    first, _ = grade_cells("activations", cells, seed=seed)
    second, _ = grade_cells("activations", cells, seed=seed)

    assert first["relu"].checks == second["relu"].checks
    assert first["relu"].score == 9
