"""Run a submission's code in a separate worker process and talk to it.

The grader never executes submission code. It starts ``worker/main.py`` in a
fresh interpreter with resource limits, in a scratch directory, and exchanges
only JSON headers and numeric arrays with it (see ``worker/wire.py``). Objects
that live in the worker, such as an instance of the student's ``ReLU``, are
represented here by :class:`RemoteObject` handles.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import minitorch
from minitorch_grading import landlock
from minitorch_grading.isolation import PYTHON, Isolation, detect
from minitorch_grading.worker import wire

log = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).parent / "worker" / "main.py"
FRAMEWORK_PATH = Path(minitorch.__file__).resolve().parent.parent


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's worker.

    Attributes:
        call_seconds: wall-clock limit for one call into submission code.
        cell_seconds: wall-clock limit for running one of the notebook's cells.
        submission_seconds: wall-clock budget for all work on one submission,
            worker restarts included.
        memory_bytes: address-space limit of the worker process.
        max_array_bytes: largest total array payload accepted in one response.
        max_header_bytes: largest JSON header accepted in one response.
        max_restarts: how many times a crashed or timed-out worker is restarted
            before every remaining check fails at once.
        max_processes: how many processes and threads the worker may have at
            once, enforced by a pids cgroup or, failing that, by RLIMIT_NPROC
            when the worker has a uid of its own.
        isolate: whether to wall the worker off with Landlock, namespaces and
            an unprivileged uid where available (see ``isolation.py``).
    """

    call_seconds: float = 5.0
    cell_seconds: float = 30.0
    submission_seconds: float = 300.0
    memory_bytes: int = 4 << 30
    max_array_bytes: int = 64 << 20
    max_header_bytes: int = 4 << 20
    max_restarts: int = 50
    max_processes: int = 64
    isolate: bool = True


class WorkerFailure(Exception):
    """The worker could not respond: it crashed, timed out or broke the protocol."""


class WorkerTimeout(WorkerFailure):
    """Submission code ran past its wall-clock limit."""


class WorkerCrashed(WorkerFailure):
    """The worker process ended while the grader waited for its response."""


class WorkerProtocolError(WorkerFailure):
    """The worker sent a message that is malformed or too large."""


class StudentError(Exception):
    """Submission code raised an exception; carries its type name and message."""

    def __init__(self, type_name: str, message: str, traceback: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback


@dataclass(frozen=True)
class Unsupported:
    """A value the worker could not send, for example an object-dtype array."""

    description: str


@dataclass(frozen=True)
class ArrayInfo:
    """dtype and shape of an array that stayed in the worker (a brief call)."""

    dtype: np.dtype
    shape: tuple[int, ...]


@dataclass
class CallResult:
    """Return value, arguments afterwards and warnings of one call to student code."""

    value: Any
    args_after: list[Any]
    warnings: list[str]
    seconds: float


def _prepare_child(
    limits: Limits,
    cpu_seconds: int,
    isolation: Isolation,
    read_paths: list[str],
    scratch: str,
    cgroup: str | None,
) -> None:
    """Limit the worker's resources and access; runs between fork and exec."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cgroup is not None:
        # Before Landlock, which would forbid the write.
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as stream:
            stream.write(str(os.getpid()))
    if isolation.uid is not None:
        # Counts every process of the worker's uid, so only when it has its own.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes,) * 2)
    if isolation.landlock_abi:
        landlock.restrict_self(
            read_paths, [scratch, os.devnull], abi=isolation.landlock_abi
        )


STALE_CGROUP_SECONDS = 300


def _remove_stale_cgroups(root: str) -> None:
    """Remove empty worker cgroups that a killed grader left behind.

    A grader killed with SIGKILL never removes its workers' groups. A group
    is empty for a moment before its worker joins it, so only groups older
    than STALE_CGROUP_SECONDS are removed.
    """
    now = time.time()
    for path in Path(root).glob("minitorch-worker-*"):
        try:
            if now - path.stat().st_mtime < STALE_CGROUP_SECONDS:
                continue
            if (path / "cgroup.procs").read_text().strip():
                continue
            path.rmdir()
            log.info("removed the stale worker cgroup %s", path)
        except OSError:
            continue  # another grader removed it first, or it is in use


def _create_pids_cgroup(isolation: Isolation, max_processes: int) -> str | None:
    """Create a pids cgroup for one worker; None where the machine offers none."""
    if isolation.pids_cgroup_root is None:
        return None
    _remove_stale_cgroups(isolation.pids_cgroup_root)
    path = tempfile.mkdtemp(prefix="minitorch-worker-", dir=isolation.pids_cgroup_root)
    with open(os.path.join(path, "pids.max"), "w") as stream:
        stream.write(f"{max_processes}\n")
    return path


def _remove_cgroup(path: str) -> None:
    """Kill what is left in a worker's cgroup and remove it."""
    for _ in range(100):
        try:
            with open(os.path.join(path, "cgroup.procs")) as stream:
                pids = [int(line) for line in stream if line.strip()]
        except OSError:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.01)  # the killed processes have not exited yet
    log.warning("could not remove the worker cgroup %s", path)


def _worker_environment(scratch: str) -> dict[str, str]:
    """Environment of a worker: nothing of the grader's, one thread per library."""
    return {
        "PATH": os.defpath,
        "HOME": scratch,
        "TMPDIR": scratch,
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": scratch,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


class Worker:
    """One worker process; dies for good on the first crash or timeout."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.scratch = tempfile.mkdtemp(prefix="minitorch-worker-")
        cpu_seconds = int(limits.submission_seconds) + 1
        isolation = detect() if limits.isolate else Isolation((), 0, None, ())
        if isolation.uid is not None:
            os.chown(self.scratch, isolation.uid, isolation.uid)
        read_paths = isolation.read_paths()
        self.cgroup = _create_pids_cgroup(isolation, limits.max_processes)
        self.process = subprocess.Popen(
            [
                *isolation.wrapper,
                PYTHON,
                "-I",
                str(WORKER_SCRIPT),
                str(FRAMEWORK_PATH),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self.scratch,
            env=_worker_environment(self.scratch),
            start_new_session=True,
            preexec_fn=lambda: _prepare_child(
                limits, cpu_seconds, isolation, read_paths, self.scratch, self.cgroup
            ),
        )
        self._buffer = bytearray()
        log.debug("started worker pid %d in %s", self.process.pid, self.scratch)

    # Transport ------------------------------------------------------------

    def _write(self, data: bytes, deadline: float) -> None:
        fd = self.process.stdin.fileno()
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout("did not accept its input in time")
            _, writable, _ = select.select([], [fd], [], remaining)
            if not writable:
                continue
            try:
                written = os.write(fd, view[: 1 << 16])
            except (BrokenPipeError, ConnectionResetError) as error:
                raise WorkerCrashed(self._exit_description()) from error
            view = view[written:]

    def _reader(self, deadline: float, seconds: float) -> _DeadlineReader:
        return _DeadlineReader(self, deadline, seconds)

    def request(
        self, header: dict[str, Any], arrays: list[np.ndarray], seconds: float
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Send one request and wait at most ``seconds`` for its response."""
        deadline = time.monotonic() + seconds

        class _Sink:
            def __init__(self) -> None:
                self.parts: list[bytes] = []

            def write(self, data: bytes) -> None:
                self.parts.append(bytes(data))

            def flush(self) -> None:
                pass

        sink = _Sink()
        wire.write_message(sink, header, arrays)
        self._write(b"".join(sink.parts), deadline)
        try:
            return wire.read_message(
                self._reader(deadline, seconds),
                max_header_bytes=self.limits.max_header_bytes,
                max_array_bytes=self.limits.max_array_bytes,
            )
        except wire.WireError as error:
            raise WorkerProtocolError(str(error)) from error
        except EOFError as error:
            raise WorkerCrashed(self._exit_description()) from error

    def _exit_description(self) -> str:
        try:
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "the process running your code closed its output"
        if code < 0:
            name = signal.Signals(-code).name
            return f"the process running your code was killed by {name}"
        return f"the process running your code exited with status {code}"

    def close(self) -> None:
        """Kill the worker's whole process group and remove its scratch directory.

        NOTE: a process that submission code moves into a session of its own
        (``os.setsid``) leaves the group, so it survives this.
        """
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.process.wait()
        if self.cgroup is not None:
            _remove_cgroup(self.cgroup)
        shutil.rmtree(self.scratch, ignore_errors=True)
        log.debug("stopped worker pid %d", self.process.pid)


class _DeadlineReader:
    """File-like ``read`` on the worker's output that honours a deadline."""

    def __init__(self, worker: Worker, deadline: float, seconds: float) -> None:
        self.worker = worker
        self.deadline = deadline
        self.seconds = seconds
        self.fd = worker.process.stdout.fileno()

    def read(self, size: int) -> bytes:
        buffer = self.worker._buffer
        while not buffer:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout(f"did not finish within {self.seconds:g} s")
            readable, _, _ = select.select([self.fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                return b""
            buffer.extend(chunk)
        data = bytes(buffer[:size])
        del buffer[:size]
        return data


@dataclass
class Submission:
    """A submission's code, run in a worker that is restarted after a failure.

    A call that crashes or times out kills the worker. The next call starts a
    new one and runs the notebook's cells again, until ``limits.max_restarts``
    or ``limits.submission_seconds`` run out.
    """

    cells: list[tuple[int, str]]
    limits: Limits = field(default_factory=Limits)
    skipped_names: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"Submission({len(self.cells)} code cells, {self.limits})"

    def __post_init__(self) -> None:
        self._worker: Worker | None = None
        self._started = time.monotonic()
        self._starts = 0
        self._generation = 0
        self.cell_errors: dict[int, StudentError] = {}
        self.fatal_cells: set[int] = set()

    # Worker lifecycle -----------------------------------------------------

    def _remaining(self) -> float:
        return self.limits.submission_seconds - (time.monotonic() - self._started)

    def _ensure_worker(self) -> Worker:
        if self._worker is not None:
            return self._worker
        if self._starts > self.limits.max_restarts:
            raise WorkerCrashed(
                f"your code stopped or hung Python {self._starts} times, so the "
                "remaining checks were not run"
            )
        if self._remaining() <= 0:
            raise WorkerTimeout(
                f"the submission used up its {self.limits.submission_seconds:g} s "
                "time budget"
            )

        self._starts += 1
        worker = Worker(self.limits)
        self._worker = worker
        self.cell_errors = {
            index: error
            for index, error in self.cell_errors.items()
            if index in self.fatal_cells
        }
        # One request per cell: a cell that hangs or ends the process is
        # recorded and left out of every later start, so it costs only what
        # depends on it.
        for index, source in self.cells:
            if index in self.fatal_cells:
                continue
            header = {"op": "load", "cells": [{"index": index, "source": source}]}
            try:
                response, _ = self._exchange(header, [], self.limits.cell_seconds)
            except WorkerTimeout:
                self._mark_fatal(
                    index,
                    "TimeoutError",
                    f"the cell did not finish within {self.limits.cell_seconds:g} s",
                )
                return self._ensure_worker()
            except WorkerFailure as error:
                self._mark_fatal(index, "ProcessExit", str(error))
                return self._ensure_worker()
            for cell in response.get("cells", []):
                if cell.get("error"):
                    error = self._student_error(cell["error"])
                    self.cell_errors[int(cell["index"])] = error
        return worker

    def _student_error(self, error: dict[str, Any]) -> StudentError:
        """Build a StudentError from the worker's report, with a hint for names
        that only skipped cells define."""
        type_name = str(error.get("type", "Error"))
        message = str(error.get("message", ""))
        match = re.fullmatch(r"name '(\w+)' is not defined", message)
        if type_name == "NameError" and match and match[1] in self.skipped_names:
            message += (
                f". {match[1]} is defined in a plotting cell, which is not run when "
                "the notebook is graded: import or define it in your own cell"
            )
        return StudentError(type_name, message, str(error.get("traceback", "")))

    def describe_cell(self, index: int) -> str:
        """Name code cell ``index`` by its first line, as a student can find it."""
        for cell_index, source in self.cells:
            if cell_index == index:
                for line in source.splitlines():
                    line = line.strip()
                    if line and not line.startswith("#"):
                        shown = line if len(line) <= 60 else line[:57] + "..."
                        return f'the cell starting "{shown}"'
        return f"code cell {index}"

    def _mark_fatal(self, index: int, type_name: str, message: str) -> None:
        log.info("code cell %d: %s", index, message)
        self.fatal_cells.add(index)
        self.cell_errors[index] = StudentError(type_name, message, "")

    def _discard_worker(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
            # Handles from the closed worker must not reach the next one, which
            # numbers its objects from 1 again.
            self._generation += 1

    def _handle_target(self, handle: RemoteObject) -> dict[str, Any]:
        """Return the request target for ``handle`` if its worker still runs."""
        if handle.generation != self._generation:
            raise WorkerCrashed(
                "the object was lost when the process running your code stopped"
            )
        return handle.target

    def _exchange(
        self, header: dict[str, Any], arrays: list[np.ndarray], seconds: float
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        assert self._worker is not None
        seconds = min(seconds, max(self._remaining(), 0.0))
        try:
            response, out_arrays = self._worker.request(header, arrays, seconds)
        except WorkerFailure:
            self._discard_worker()
            raise
        if not response.get("ok"):
            raise self._student_error(response.get("error") or {})
        return response, out_arrays

    def start(self) -> None:
        """Start the worker and run the notebook's cells, if not running yet."""
        self._ensure_worker()

    def close(self) -> None:
        """Stop the worker."""
        self._discard_worker()

    def __enter__(self) -> Submission:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Requests -------------------------------------------------------------

    def _send(
        self, header: dict[str, Any], arrays: list[np.ndarray], seconds: float
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        self._ensure_worker()
        return self._exchange(header, arrays, seconds)

    def run_cell(self, index: int, source: str) -> StudentError | None:
        """Run one more cell, such as a test cell, after the notebook's cells.

        Returns the error the cell raised, or None. A cell that hangs or ends
        the process is returned as an error too. The worker is then discarded,
        so the next request starts a new one, which runs the notebook's cells
        again but not this cell.
        """
        header = {"op": "load", "cells": [{"index": index, "source": source}]}
        try:
            response, _ = self._send(header, [], self.limits.cell_seconds)
        except WorkerTimeout as error:
            message = str(error)
            if message.startswith("did not"):  # this cell's own deadline
                message = f"the cell {message}"
            return StudentError("TimeoutError", message, "")
        except WorkerFailure as error:
            return StudentError("ProcessExit", str(error), "")
        cells = response.get("cells")
        if (
            not isinstance(cells, list)
            or len(cells) != 1
            or not isinstance(cells[0], dict)
        ):
            raise WorkerProtocolError("'cells' is not a list of one cell result")
        error = cells[0].get("error")
        if not error:
            return None
        if not isinstance(error, dict):
            raise WorkerProtocolError("a cell's 'error' is not an object")
        return self._student_error(error)

    def inspect(self, name: str) -> dict[str, Any]:
        """Describe the global ``name``: kind, method resolution order, neighbours."""
        response, _ = self._send(
            {"op": "inspect", "name": name}, [], self.limits.call_seconds
        )
        return response

    def new(self, class_name: str, *args: Any, **kwargs: Any) -> RemoteObject:
        """Instantiate the submission's class ``class_name``."""
        result = self.call({"global": class_name}, None, args, kwargs)
        if not isinstance(result.value, RemoteObject):
            raise WorkerProtocolError(
                f"creating {class_name} returned {type(result.value).__name__}"
            )
        return result.value

    def call_function(
        self, name: str, *args: Any, seconds: float | None = None, **kwargs: Any
    ) -> CallResult:
        """Call the submission's global function ``name``."""
        return self.call({"global": name}, None, args, kwargs, seconds=seconds)

    def call(
        self,
        target: dict[str, Any],
        method: str | None,
        args: tuple | list,
        kwargs: dict[str, Any],
        *,
        seconds: float | None = None,
        brief: bool = False,
    ) -> CallResult:
        """Call ``target`` (or its ``method``) and decode what came back.

        With ``brief``, an array result comes back as :class:`ArrayInfo`
        and ``args_after`` is empty, so that large arrays cross the pipe
        only once.
        """
        arrays: list[np.ndarray] = []
        header = {
            "op": "call",
            "target": target,
            "method": method,
            "args": [self._pack(arg, arrays) for arg in args],
            "kwargs": {key: self._pack(value, arrays) for key, value in kwargs.items()},
        }
        if brief:
            header["brief"] = True
        response, out_arrays = self._send(
            header, arrays, seconds or self.limits.call_seconds
        )
        args_after = response.get("args_after", [])
        if not isinstance(args_after, list):
            raise WorkerProtocolError("'args_after' is not a list")
        warnings = response.get("warnings", [])
        if not isinstance(warnings, list):
            raise WorkerProtocolError("'warnings' is not a list")
        seconds_taken = response.get("seconds", 0.0)
        if not isinstance(seconds_taken, (int, float)):
            raise WorkerProtocolError("'seconds' is not a number")
        return CallResult(
            value=self._unpack(response.get("value"), out_arrays, brief=brief),
            args_after=[self._unpack(item, out_arrays) for item in args_after],
            warnings=[str(w) for w in warnings[:20]],
            seconds=float(seconds_taken),
        )

    def getattr(self, handle: RemoteObject, name: str) -> Any:
        """Read attribute ``name`` of a remote object."""
        header = {"op": "getattr", "target": self._handle_target(handle), "name": name}
        response, out_arrays = self._send(header, [], self.limits.call_seconds)
        return self._unpack(response.get("value"), out_arrays)

    def probe_subclass(self, class_name: str) -> RemoteObject:
        """Instantiate a subclass of ``class_name`` whose forward and backward
        return their argument, to test what the base class itself provides."""
        header = {"op": "probe", "name": class_name}
        response, out_arrays = self._send(header, [], self.limits.call_seconds)
        value = self._unpack(response.get("value"), out_arrays)
        if not isinstance(value, RemoteObject):
            raise WorkerProtocolError("probe did not return an object handle")
        return value

    def type_mro(self, handle: RemoteObject) -> list[str]:
        """Qualified names of the classes in a remote object's type hierarchy."""
        header = {"op": "isinstance", "target": self._handle_target(handle)}
        response, _ = self._send(header, [], self.limits.call_seconds)
        mro = response.get("mro")
        if not isinstance(mro, list):
            raise WorkerProtocolError("'mro' is not a list")
        return [str(name) for name in mro]

    # Encoding -------------------------------------------------------------

    def _pack(self, value: Any, arrays: list[np.ndarray]) -> Any:
        if isinstance(value, RemoteObject):
            return self._handle_target(value)
        if isinstance(value, (np.ndarray, np.generic)):
            arrays.append(np.asarray(value))
            return {"$array": len(arrays) - 1}
        if isinstance(value, tuple):
            return {"$tuple": [self._pack(item, arrays) for item in value]}
        if isinstance(value, list):
            return [self._pack(item, arrays) for item in value]
        if isinstance(value, dict):
            return {str(key): self._pack(item, arrays) for key, item in value.items()}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot send a {type(value).__name__} to the worker")

    def _unpack(
        self,
        value: Any,
        arrays: list[np.ndarray],
        depth: int = 0,
        *,
        brief: bool = False,
    ) -> Any:
        """Decode a value from the worker; ``brief`` allows array descriptions."""
        if depth > 20:
            raise WorkerProtocolError("value is nested too deeply")
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [
                self._unpack(item, arrays, depth + 1, brief=brief) for item in value
            ]
        if not isinstance(value, dict) or len(value) > 2:
            raise WorkerProtocolError(
                f"unexpected value of type {type(value).__name__}"
            )
        if "$array" in value:
            index = value["$array"]
            if not isinstance(index, int) or not 0 <= index < len(arrays):
                raise WorkerProtocolError(f"invalid array reference {index!r}")
            return arrays[index]
        if "$handle" in value:
            handle = value["$handle"]
            if not isinstance(handle, int):
                raise WorkerProtocolError(f"invalid handle {handle!r}")
            return RemoteObject(
                self, handle, str(value.get("type", "?")), self._generation
            )
        if "$tuple" in value and isinstance(value["$tuple"], list):
            return tuple(
                self._unpack(item, arrays, depth + 1, brief=brief)
                for item in value["$tuple"]
            )
        if "$numbers" in value:
            index = value["$numbers"]
            if not isinstance(index, int) or not 0 <= index < len(arrays):
                raise WorkerProtocolError(f"invalid array reference {index!r}")
            numbers = [float(item) for item in arrays[index].reshape(-1)]
            return tuple(numbers) if value.get("tuple") else numbers
        if "$unsupported" in value:
            return Unsupported(str(value["$unsupported"]))
        if "$array_info" in value:
            if not brief:
                raise WorkerProtocolError("array description in a reply with values")
            try:
                dtype, shape, _ = wire.describe_layout(value["$array_info"])
            except wire.WireError as error:
                raise WorkerProtocolError(str(error)) from None
            return ArrayInfo(dtype, shape)
        raise WorkerProtocolError(f"unexpected value {sorted(value)!r}")


@dataclass(frozen=True)
class RemoteObject:
    """Handle to an object that lives in the worker."""

    submission: Submission = field(repr=False, compare=False)
    handle: int
    type_name: str
    generation: int

    @property
    def target(self) -> dict[str, Any]:
        return {"$handle": self.handle}

    def call(
        self,
        method: str,
        *args: Any,
        seconds: float | None = None,
        brief: bool = False,
        **kwargs: Any,
    ) -> CallResult:
        """Call ``method`` on the remote object; see :meth:`Submission.call`."""
        target = self.submission._handle_target(self)
        return self.submission.call(
            target, method, args, kwargs, seconds=seconds, brief=brief
        )

    def getattr(self, name: str) -> Any:
        """Read an attribute of the remote object."""
        return self.submission.getattr(self, name)
