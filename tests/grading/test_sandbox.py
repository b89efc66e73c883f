"""Tests for minitorch_grading.sandbox, run against real worker processes."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from minitorch_grading import sandbox
from minitorch_grading.sandbox import (
    ArrayInfo,
    Limits,
    RemoteObject,
    StudentError,
    Submission,
    Unsupported,
    WorkerCrashed,
    WorkerProtocolError,
    WorkerTimeout,
)

# Small limits keep every test quick. The load limit is generous because a
# worker imports numpy before it runs the first cell.
FAST = Limits(
    call_seconds=2.0,
    cell_seconds=10.0,
    submission_seconds=30.0,
    max_restarts=3,
)

HELPERS = """\
import os
import subprocess
import sys
import time

import numpy as np


def worker_pid():
    return os.getpid()


def spin():
    while True:
        pass


def die(status=3):
    os._exit(status)


class Counter:
    def __init__(self, start=0):
        self.count = start

    def increment(self):
        self.count += 1
        return self.count

    def crash(self):
        os._exit(3)
"""

GRADER_PATH_FRAGMENTS = ("minitorch_grading", "main.py", "wire.py", "sandbox.py")


def make_submission(*sources: str, limits: Limits = FAST) -> Submission:
    cells = [(0, HELPERS), *[(i + 1, source) for i, source in enumerate(sources)]]
    return Submission(cells, limits)


@pytest.fixture
def submission() -> Iterator[Submission]:
    with make_submission() as running:
        yield running


def process_gone(pid: int, wait_seconds: float = 3.0) -> bool:
    """Return whether ``pid`` has ended, counting a zombie that init has not
    reaped yet as ended."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


# Running cells ---------------------------------------------------------------


def test_submission_cells_run_in_order() -> None:
    with make_submission(
        "trace = ['first']",
        "trace.append('second')",
        "def get_trace():\n    return trace",
    ) as submission:
        result = submission.call_function("get_trace")

    assert result.value == ["first", "second"]


def test_submission_cell_errors_reported_per_cell() -> None:
    with make_submission(
        "def check(x):\n    raise ValueError(f'bad value {x}')",
        "check(1)",
        "after_error = 2",
        "1 / 0",
        "def get_after_error():\n    return after_error",
    ) as submission:
        submission.start()
        errors = submission.cell_errors
        later = submission.call_function("get_after_error").value

    assert sorted(errors) == [2, 4]
    assert errors[2].type_name == "ValueError"
    assert errors[2].message == "bad value 1"
    assert errors[4].type_name == "ZeroDivisionError"
    assert later == 2


def test_submission_cell_traceback_names_student_frames() -> None:
    with make_submission(
        "def check(x):\n    raise ValueError(f'bad value {x}')",
        "check(1)",
    ) as submission:
        submission.start()
        traceback = submission.cell_errors[2].traceback

    assert 'File "<cell 2>", line 1' in traceback
    assert 'File "<cell 1>", line 2, in check' in traceback
    assert traceback.rstrip().endswith("ValueError: bad value 1")


def test_submission_cell_traceback_has_no_grader_paths() -> None:
    with make_submission("np.ones(2).reshape(3)") as submission:
        submission.start()
        traceback = submission.cell_errors[1].traceback

    assert [line for line in traceback.splitlines() if "File " in line] == [
        '  File "<cell 1>", line 1, in <module>'
    ]
    for fragment in GRADER_PATH_FRAGMENTS:
        assert fragment not in traceback


def test_submission_call_traceback_has_no_grader_paths() -> None:
    with make_submission(
        "def broken(x):\n    return np.asarray(x).reshape(3)"
    ) as submission:
        with pytest.raises(StudentError, match="cannot reshape array") as caught:
            submission.call_function("broken", np.ones(2))

    traceback = caught.value.traceback
    assert 'File "<cell 1>", line 2, in broken' in traceback
    for fragment in GRADER_PATH_FRAGMENTS:
        assert fragment not in traceback


def test_submission_syntax_error_reported_for_its_cell() -> None:
    with make_submission("def broken(:\n    pass", "fine = 1") as submission:
        submission.start()
        errors = submission.cell_errors

    assert sorted(errors) == [1]
    assert errors[1].type_name == "SyntaxError"
    assert '"<cell 1>"' in errors[1].traceback


def test_submission_student_error_keeps_worker() -> None:
    with make_submission("def fail():\n    raise KeyError('k')") as submission:
        before = submission.call_function("worker_pid").value
        with pytest.raises(StudentError, match="KeyError: 'k'"):
            submission.call_function("fail")
        after = submission.call_function("worker_pid").value

    assert after == before


def test_submission_missing_function_raises_name_error(submission) -> None:
    with pytest.raises(StudentError, match="NameError: name 'absent' is not defined"):
        submission.call_function("absent")


# Standard streams --------------------------------------------------------------

NOISY = """\
def make_noise():
    print("print from student code")
    print("print to stderr", file=sys.stderr)
    sys.stdout.write("x" * 100_000)
    sys.stdout.flush()
    sys.__stdout__.write("y" * 100_000)
    sys.__stdout__.flush()
    os.write(1, b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x05{bad" * 10_000)
    os.write(2, b"z" * 100_000)


make_noise()


def noisy_call(x):
    make_noise()
    return x * 2, "done"
"""


def test_submission_output_does_not_corrupt_protocol() -> None:
    with make_submission(NOISY) as submission:
        submission.start()
        load_errors = submission.cell_errors
        result = submission.call_function("noisy_call", np.arange(3.0))
        after = submission.call_function("worker_pid").value

    assert load_errors == {}
    np.testing.assert_array_equal(result.value[0], [0.0, 2.0, 4.0])
    assert result.value[1] == "done"
    assert isinstance(after, int)


def test_submission_input_raises_eof_at_once() -> None:
    with make_submission("def ask():\n    return input('name? ')") as submission:
        submission.start()
        started = time.monotonic()
        with pytest.raises(StudentError, match="EOFError") as caught:
            submission.call_function("ask", seconds=5.0)
        elapsed = time.monotonic() - started

    assert caught.value.type_name == "EOFError"
    assert elapsed < 1.0


def test_submission_input_in_cell_raises_eof() -> None:
    with make_submission("answer = input()") as submission:
        submission.start()
        errors = submission.cell_errors

    assert errors[1].type_name == "EOFError"
    assert "input() is not available while the notebook is graded" in errors[1].message


# Environment and working directory ---------------------------------------------


def test_submission_environment_has_no_grader_variables(monkeypatch) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION_TIMEOUT", "30")
    monkeypatch.setenv("MINITORCH_GRADER_SECRET", "secret")
    monkeypatch.setenv("PYTHONPATH", "/nonexistent")
    with make_submission("def names():\n    return sorted(os.environ)") as submission:
        names = submission.call_function("names").value

    assert [name for name in names if name.startswith("NBGRADER")] == []
    assert "MINITORCH_GRADER_SECRET" not in names
    assert "PYTHONPATH" not in names
    assert set(names) <= set(sandbox._worker_environment("scratch"))


def test_submission_working_directory_is_fresh_scratch() -> None:
    with make_submission(
        "def where():\n    return os.getcwd(), os.listdir('.')"
    ) as submission:
        directory, entries = submission.call_function("where").value

    assert Path(directory).name.startswith("minitorch-worker-")
    assert Path(directory).resolve() != Path.cwd().resolve()
    assert entries == []


def test_submission_working_directory_removed_on_close() -> None:
    submission = make_submission(
        "def where():\n    open('scratch.txt', 'w').write('x')\n    return os.getcwd()"
    )
    directory = submission.call_function("where").value
    existed = Path(directory, "scratch.txt").exists()

    submission.close()

    assert existed
    assert not Path(directory).exists()


def test_submission_restart_uses_new_directory() -> None:
    with make_submission("def where():\n    return os.getcwd()") as submission:
        first = submission.call_function("where").value
        with pytest.raises(WorkerCrashed):
            submission.call_function("die")
        second = submission.call_function("where").value

    assert second != first
    assert not Path(first).exists()


# Timeouts and crashes ----------------------------------------------------------

SPAWN = """\
def spawn_child():
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"]
    ).pid


def fork_child():
    pid = os.fork()
    if pid == 0:
        while True:
            time.sleep(1)
    return pid
"""


def test_submission_timeout_raises_within_call_limit() -> None:
    limits = Limits(call_seconds=0.5, cell_seconds=10.0, submission_seconds=30.0)
    with make_submission(limits=limits) as submission:
        submission.start()
        started = time.monotonic()
        with pytest.raises(WorkerTimeout, match="did not finish within 0.5 s"):
            submission.call_function("spin")
        elapsed = time.monotonic() - started

    assert elapsed < 0.5 + 1.0


def test_submission_timeout_kills_process_group() -> None:
    # Without isolation the worker's pids are visible here; test_isolation.py
    # covers the PID namespace.
    limits = Limits(
        call_seconds=0.5, cell_seconds=10.0, submission_seconds=30.0, isolate=False
    )
    with make_submission(SPAWN, limits=limits) as submission:
        worker = submission.call_function("worker_pid").value
        spawned = submission.call_function("spawn_child").value
        forked = submission.call_function("fork_child").value
        with pytest.raises(WorkerTimeout):
            submission.call_function("spin")

        assert process_gone(worker)
        assert process_gone(spawned)
        assert process_gone(forked)


def test_submission_restart_after_timeout_reruns_cells() -> None:
    limits = Limits(
        call_seconds=0.5, cell_seconds=10.0, submission_seconds=30.0, isolate=False
    )
    with make_submission(
        "loads = [os.getpid()]", "def get_loads():\n    return loads", limits=limits
    ) as submission:
        before = submission.call_function("get_loads").value
        with pytest.raises(WorkerTimeout):
            submission.call_function("spin")
        after = submission.call_function("get_loads").value
        after_pid = submission.call_function("worker_pid").value

    assert after == [after_pid]
    assert after != before


def test_submission_exit_in_method_raises_crashed(submission) -> None:
    counter = submission.new("Counter")

    with pytest.raises(
        WorkerCrashed, match="the process running your code exited with status 3"
    ):
        counter.call("crash")


def test_submission_kill_signal_named() -> None:
    # In a PID namespace the worker is pid 1, which ignores its own SIGKILL.
    limits = dataclasses.replace(FAST, isolate=False)
    source = "def kill_self():\n    os.kill(os.getpid(), 9)"
    with make_submission(source, limits=limits) as submission:
        with pytest.raises(WorkerCrashed, match="killed by SIGKILL"):
            submission.call_function("kill_self")


def test_submission_hanging_cell_skipped_after_timeout() -> None:
    limits = Limits(call_seconds=1.0, cell_seconds=1.0, submission_seconds=30.0)
    with make_submission(
        "while True:\n    pass", "def after():\n    return 'ran'", limits=limits
    ) as submission:
        submission.start()

        assert submission.cell_errors[1].type_name == "TimeoutError"
        assert "did not finish within 1 s" in submission.cell_errors[1].message
        assert submission.call_function("after").value == "ran"


@pytest.mark.parametrize(
    "source", ["os._exit(0)", "raise KeyboardInterrupt('stop')", "raise SystemExit(3)"]
)
def test_submission_cell_ending_process_costs_only_itself(source: str) -> None:
    with make_submission(source, "def after():\n    return 'ran'") as submission:
        submission.start()

        assert 1 in submission.cell_errors
        assert submission.call_function("after").value == "ran"


def test_submission_describe_cell_quotes_first_code_line() -> None:
    submission = make_submission("# Task 5\nclass Tanh(Activation):\n    pass")

    assert submission.describe_cell(1) == 'the cell starting "class Tanh(Activation):"'


def test_submission_cell_magic_body_runs() -> None:
    import nbformat

    from minitorch_grading.nbgrader_plugin import submission_code

    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("%%time\ndef timed():\n    return 'ran'")]
    )
    cells = [(index + 1, source) for index, source in submission_code(nb, set())]
    with make_submission(*[source for _, source in cells]) as submission:
        assert submission.call_function("timed").value == "ran"


def test_submission_long_number_list_arrives_as_floats() -> None:
    source = "def losses():\n    return [np.float32(0.5)] * 30000 + [1, 2.5]"
    with make_submission(source) as submission:
        value = submission.call_function("losses").value

    assert isinstance(value, list)
    assert len(value) == 30002
    assert value[-2:] == [1.0, 2.5]


# Values crossing the wire ------------------------------------------------------


def test_submission_object_array_is_unsupported() -> None:
    with make_submission(
        "def objects():\n    return np.array([1, 'a', None], dtype=object)"
    ) as submission:
        value = submission.call_function("objects").value

    assert value == Unsupported("an ndarray of dtype object")


@pytest.mark.parametrize(
    ("expression", "dtype"),
    [
        ("np.float32(1.5)", np.float32),
        ("np.float64(-2.25)", np.float64),
        ("np.int16(-7)", np.int16),
        ("np.uint8(200)", np.uint8),
        ("np.bool_(True)", np.bool_),
        ("np.float16(0.5)", np.float16),
    ],
    ids=["float32", "float64", "int16", "uint8", "bool", "float16"],
)
def test_submission_numpy_scalar_returns_zero_dim(expression: str, dtype) -> None:
    with make_submission(f"def scalar():\n    return {expression}") as submission:
        value = submission.call_function("scalar").value

    assert isinstance(value, np.ndarray)
    assert value.shape == ()
    assert value.dtype == dtype
    assert value == eval(expression, {"np": np})


def test_submission_arrays_round_trip_through_call() -> None:
    with make_submission(
        "def double(x):\n    x[...] = x * 2\n    return x.T"
    ) as submission:
        argument = np.arange(6, dtype=np.float32).reshape(2, 3)
        result = submission.call_function("double", argument)

    np.testing.assert_array_equal(result.value, (argument * 2).T)
    assert result.value.dtype == np.float32
    np.testing.assert_array_equal(result.args_after[0], argument * 2)
    np.testing.assert_array_equal(argument, np.arange(6).reshape(2, 3))


def test_submission_brief_call_returns_only_dtype_and_shape() -> None:
    with make_submission(
        "def double(x):\n    x[...] = x * 2\n    return x.T"
    ) as submission:
        argument = np.arange(6, dtype=np.float32).reshape(2, 3)
        result = submission.call({"global": "double"}, None, [argument], {}, brief=True)

    assert result.value == ArrayInfo(np.dtype(np.float32), (3, 2))
    assert result.args_after == []


def test_submission_brief_call_sends_other_values_whole() -> None:
    with make_submission("def pair(x):\n    return [x.size, None]") as submission:
        result = submission.call(
            {"global": "pair"}, None, [np.zeros(4)], {}, brief=True
        )

    assert result.value == [4, None]


@pytest.mark.parametrize(
    "info",
    [
        {"dtype": "|O", "shape": [2]},
        {"dtype": "<f8", "shape": [-1]},
        {"dtype": "<f8", "shape": "3"},
        "float64",
    ],
    ids=["object-dtype", "negative-shape", "string-shape", "not-a-description"],
)
def test_submission_rejects_malformed_array_info(info) -> None:
    with make_submission() as submission:
        with pytest.raises(WorkerProtocolError):
            submission._unpack({"$array_info": info}, [], brief=True)


def test_submission_rejects_array_info_in_full_reply() -> None:
    info = {"$array_info": {"dtype": "<f8", "shape": [2]}}
    with make_submission() as submission:
        with pytest.raises(WorkerProtocolError, match="array description"):
            submission._unpack([info], [])


def test_submission_huge_int_reported_not_crashed() -> None:
    with make_submission("def huge():\n    return 10 ** 5000") as submission:
        before = submission.call_function("worker_pid").value
        with pytest.raises(StudentError, match="ValueError"):
            submission.call_function("huge")
        after = submission.call_function("worker_pid").value

    assert after == before


def test_submission_remote_object_keeps_state(submission) -> None:
    counter = submission.new("Counter", start=5)
    counter.call("increment")

    assert isinstance(counter, RemoteObject)
    assert counter.getattr("count") == 6


def test_submission_stale_handle_call_raises_crashed(submission) -> None:
    stale = submission.new("Counter")
    with pytest.raises(WorkerCrashed):
        submission.call_function("die")

    with pytest.raises(WorkerCrashed, match="lost"):
        stale.call("increment")


def test_submission_stale_handle_after_new_object_raises(submission) -> None:
    stale = submission.new("Counter", start=100)
    with pytest.raises(WorkerCrashed):
        submission.call_function("die")
    fresh = submission.new("Counter", start=0)

    with pytest.raises(WorkerCrashed, match="lost"):
        stale.getattr("count")
    with pytest.raises(WorkerCrashed, match="lost"):
        submission.type_mro(stale)
    with pytest.raises(WorkerCrashed, match="lost"):
        submission.call_function("worker_pid", stale)
    assert fresh.getattr("count") == 0


def test_submission_response_over_limit_kills_worker() -> None:
    limits = Limits(
        call_seconds=2.0, cell_seconds=10.0, max_array_bytes=1024, isolate=False
    )
    with make_submission(
        "def big():\n    return np.zeros(1000)", limits=limits
    ) as submission:
        worker = submission.call_function("worker_pid").value
        with pytest.raises(
            WorkerProtocolError, match="exceeds the limit of 1024 bytes"
        ):
            submission.call_function("big")

        assert process_gone(worker)
        assert submission.call_function("worker_pid").value != worker


def test_submission_fails_at_once_after_max_restarts() -> None:
    limits = Limits(call_seconds=2.0, cell_seconds=10.0, max_restarts=1)
    with make_submission(limits=limits) as submission:
        for _ in range(2):
            with pytest.raises(WorkerCrashed, match="exited with status 3"):
                submission.call_function("die")
        started = time.monotonic()
        with pytest.raises(WorkerCrashed, match="stopped or hung Python 2 times"):
            submission.call_function("worker_pid")
        elapsed = time.monotonic() - started

    assert elapsed < 0.1


def test_submission_budget_cuts_call_short() -> None:
    limits = Limits(call_seconds=10.0, cell_seconds=10.0, submission_seconds=2.0)
    with make_submission(limits=limits) as submission:
        started = time.monotonic()
        with pytest.raises(WorkerTimeout):
            submission.call_function("spin")
        elapsed = time.monotonic() - started

    assert elapsed < 2.0 + 0.5


def test_submission_budget_exhausted_fails_at_once() -> None:
    limits = Limits(call_seconds=10.0, cell_seconds=10.0, submission_seconds=2.0)
    with make_submission(limits=limits) as submission:
        with pytest.raises(WorkerTimeout):
            submission.call_function("spin")
        started = time.monotonic()
        with pytest.raises(WorkerTimeout, match="used up its 2 s time budget"):
            submission.call_function("worker_pid")
        elapsed = time.monotonic() - started

    assert elapsed < 0.1


# Process limit -----------------------------------------------------------------

# Forks until the kernel rejects fork(). The bound keeps a machine without a working
# limit from being flooded; the test then fails because no cell error is raised.
FORK_BOMB = """\
children = []
for _ in range(1000):
    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(60)
        finally:
            os._exit(0)
    children.append(pid)
"""


def test_submission_fork_bomb_stopped_by_process_limit() -> None:
    from minitorch_grading.isolation import detect

    if detect().pids_cgroup_root is None:
        pytest.skip("this machine offers no pids cgroup, so no process limit applies")
    limits = dataclasses.replace(FAST, max_processes=16)
    submission = make_submission(
        FORK_BOMB,
        "def forked():\n    return len(children)",
        "def after():\n    return 'ran'",
        limits=limits,
    )
    try:
        submission.start()
        cgroup = Path(submission._worker.cgroup)
        members = [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split()]
        error = submission.cell_errors.get(1)
        forked = submission.call_function("forked").value
        after = submission.call_function("after").value
    finally:
        submission.close()

    assert error is not None
    assert error.type_name == "BlockingIOError"
    assert "Resource temporarily unavailable" in error.message
    assert 0 < forked < 16
    assert len(members) <= 16
    assert after == "ran"
    assert not cgroup.exists()
    for pid in members:
        assert process_gone(pid), pid


@pytest.fixture
def pids_root() -> str:
    from minitorch_grading.isolation import detect

    root = detect().pids_cgroup_root
    if root is None:
        pytest.skip("no pids cgroup can be created on this machine")
    return root


def test_stale_cgroup_removed_when_empty(pids_root: str, monkeypatch) -> None:
    monkeypatch.setattr(sandbox, "STALE_CGROUP_SECONDS", 0)
    group = Path(pids_root) / f"minitorch-worker-stale-{os.getpid()}"
    group.mkdir()

    sandbox._remove_stale_cgroups(pids_root)

    assert not group.exists()


def test_stale_cgroup_kept_while_in_use(pids_root: str, monkeypatch) -> None:
    import subprocess

    monkeypatch.setattr(sandbox, "STALE_CGROUP_SECONDS", 0)
    group = Path(pids_root) / f"minitorch-worker-busy-{os.getpid()}"
    group.mkdir()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (group / "cgroup.procs").write_text(str(sleeper.pid))

        sandbox._remove_stale_cgroups(pids_root)

        assert group.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
        for _ in range(100):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.01)
