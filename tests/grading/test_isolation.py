"""Submission code in an isolated worker cannot reach the grader's world.

These tests run real workers with the isolation that ``isolation.detect``
finds on this machine. A protection the kernel does not offer is skipped with
the reason, never counted as a pass.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minitorch_grading import isolation
from minitorch_grading.sandbox import Limits, StudentError, Submission

REPO = Path(__file__).resolve().parents[2]
LIMITS = Limits(call_seconds=5.0, cell_seconds=20.0, submission_seconds=60.0)

HELPERS = """
import os
import socket
import subprocess


def read(path):
    with open(path, "rb") as handle:
        return len(handle.read())


def write(path):
    with open(path, "w") as handle:
        handle.write("changed by submission code")


def connect(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return "connected"


def signal(pid):
    os.kill(pid, 0)
    return "signalled"


def detach(seconds):
    process = subprocess.Popen(["sleep", seconds], start_new_session=True)
    return process.pid
"""


@pytest.fixture
def submission() -> Iterator[Submission]:
    with Submission([(0, HELPERS)], LIMITS) as running:
        running.start()
        yield running


def require_landlock() -> None:
    if isolation.detect().landlock_abi == 0:
        pytest.skip("the kernel does not offer Landlock")


def test_isolation_detects_landlock_and_logs_gaps(caplog):
    found = isolation.detect()

    assert found.landlock_abi >= 0
    assert all(isinstance(item, str) for item in found.missing)


@pytest.mark.parametrize(
    "path",
    [
        "nbgrader_config.py",
        "source/activations/activations.ipynb",
        "grading/minitorch_grading/contract.py",
        "grading/minitorch_grading/checks/activations/test_activation_base.py",
        "examples/submissions/correct/activations.ipynb",
    ],
)
def test_isolation_course_files_unreadable(submission: Submission, path: str):
    require_landlock()

    with pytest.raises(StudentError) as raised:
        submission.call_function("read", str(REPO / path))

    assert raised.value.type_name == "PermissionError"


def test_isolation_framework_still_importable(submission: Submission):
    result = submission.call_function(
        "read", str(REPO / "framework" / "minitorch" / "layers.py")
    )

    assert result.value > 0


def test_isolation_files_outside_scratch_unwritable(
    submission: Submission, tmp_path: Path
):
    require_landlock()
    target = tmp_path / "gradebook.db"
    target.write_text("grades")

    with pytest.raises(StudentError) as raised:
        submission.call_function("write", str(target))

    assert raised.value.type_name == "PermissionError"
    assert target.read_text() == "grades"


def test_isolation_scratch_directory_writable(submission: Submission):
    result = submission.call_function("write", "notes.txt")

    assert result.value is None


def test_isolation_loopback_connection_refused(submission: Submission):
    found = isolation.detect()
    if found.landlock_abi < 4 and not found.wrapper:
        pytest.skip("neither Landlock network rules nor a network namespace")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.5)
        port = server.getsockname()[1]

        with pytest.raises(StudentError):
            submission.call_function("connect", port)

        with pytest.raises(socket.timeout):
            server.accept()


def test_isolation_grader_cannot_be_signalled(submission: Submission):
    require_landlock()

    with pytest.raises(StudentError) as raised:
        submission.call_function("signal", os.getpid())

    assert raised.value.type_name in {"PermissionError", "ProcessLookupError"}


def sleepers(token: str) -> list[int]:
    """Pids of live processes whose command line is ``sleep <token>``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if command[:2] == [b"sleep", token.encode()] and state != "Z":
            pids.append(int(entry.name))
    return pids


def test_isolation_detached_process_killed_on_close():
    if not any("--pid" in word for word in isolation.detect().wrapper):
        pytest.skip("no PID namespace on this machine")
    token = f"{4000 + os.getpid() % 1000}.25"
    with Submission([(0, HELPERS)], LIMITS) as submission:
        submission.call_function("detach", token)
        assert len(sleepers(token)) == 1

    deadline = time.monotonic() + 5
    while sleepers(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sleepers(token) == []
