"""Measure how fast stock nbgrader and the kit grade a batch of submissions.

One run builds N submissions by cycling through a fixed mix of the bundled
examples, grades them with stock nbgrader 0.9.6 and with the kit, measures a
floor, and prints a table (``--json FILE`` also writes the figures)::

    PATH=.venv/bin:$PATH MPLBACKEND=Agg python benchmarks/grading_throughput.py
    python benchmarks/grading_throughput.py --count 8 --json small.json

**Submission mix.** :data:`MIX` lists the kinds in the order they are dealt
out: the instructor's solution, a copy of it whose ``ReLU.forward`` sleeps
0.1 s, ``examples/adversarial/exit-in-forward`` (the worker process dies on
every ``ReLU.forward``), then every example of ``examples/submissions/`` except
``hanging-class-body``, whose 30 s cell timeout would dominate the run.
Student ``s0001-correct`` gets the first kind, and so on, around the list
again after its end. The run prints the count of each kind.

**Scope.** Every notebook, the course's source included, loses the section of
its ``self-check`` cell: the kit skips that cell, while a Jupyter kernel would
run it and so run the whole notebook a second time in another process. With
``--scope activations`` the notebooks also lose the section of Task 7, the
spiral training, so both graders run only the activation tasks. The kit's
training checks still run, find no ``train_spiral_classifier`` and stop at
once; no grade cell counts them.

**Stock nbgrader** gets a course whose ``nbgrader_config.py`` sets only
``c.CourseDirectory.course_id``, so its ``Execute`` preprocessor runs every
cell of each notebook in a Jupyter kernel, plots and visible tests included.
It is timed for ``nbgrader autograde activations`` of all N, with a timeout
(``--stock-timeout``), in its own session whose processes are all killed when
it ends. Its HOME, Jupyter and IPython folders
point into the work directory. It exits with status 1 when the mix contains
``exit-in-forward``, because its kernel dies on that notebook, and it grades
the other notebooks of the batch all the same.

**The kit** is timed for ``minitorch-course grade`` (the parallel batch
grader, one process per core unless ``--workers`` sets another number) on a
course
with the repository's ``nbgrader_config.py``. ``--sequential`` also times
``minitorch-course grade --sequential``, which is plain ``nbgrader autograde``
with the kit's configuration, on a third course.

**Peak memory** is the largest sum of the resident set sizes (``/proc/PID/statm``)
of the measured process and all of its descendants, sampled every 0.2 s. Pages
shared between processes count once per process, so the sum overstates what
the machine used. A process that its parent leaves behind (reparented to init)
is no longer counted.

**The floor** estimates what grading would cost with no overhead of process
starts, pipes or nbgrader. A separate Python process, started once with
one BLAS thread as the kit's workers have, imports everything, grades one
submission to warm up, and then for each kind of the mix times
``runner.grade_cells``: it runs the notebook's code cells and every hidden
check, as the kit does. ``sandbox.Worker`` is replaced there by
:class:`InProcessWorker`, which serves each request with the op handlers of
``worker/main.py`` on a namespace in that same process. Requests and
responses still go through the JSON and array encoding of ``worker/wire.py``,
but not through a pipe. A call to ``os._exit`` or one that outlives its time
limit (``SIGALRM``) ends the request as a crash or a timeout would, so
``Submission`` restarts the "worker" and reruns the cells as it does for a
real one. The floor is then the sum over the mix of count times seconds per
kind, divided by ``os.cpu_count()``.
It is a floor of the kit's design, not of any grader. pytest's collection and
fixtures run once per submission inside it, as in the kit, and the sleeps of
the slow kind count in full. Only the bundled, trusted submissions run in
that process. That separate process also keeps the ``os._exit`` and
``SIGALRM`` replacements, the worker's ``sys.path`` entry and the
submissions' global numpy settings out of this one.

**Training.** The ``spiral_training`` checks call the student's
``train_spiral_classifier`` once. The floor process times that call
separately, and the report gives its share of the floor. Its share of the
kit's wall time is an estimate: training seconds summed over the mix and
divided by the cores, over the kit's wall time.

**Memory against N.** To check that the kit's peak memory does not grow with
the number of submissions, run the kit alone at two sizes and compare their
``peak_rss_bytes``::

    python benchmarks/grading_throughput.py --count 200 --scope activations \\
        --skip-stock --skip-floor --json kit-200.json
    python benchmarks/grading_throughput.py --count 2000 --scope activations \\
        --skip-stock --skip-floor --json kit-2000.json

Needs Linux (``/proc``) and the kit installed (``pip install -r
requirements.txt``). Figures from a machine that runs other work are not
results.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "examples" / "submissions"
ADVERSARIAL = ROOT / "examples" / "adversarial"
ASSIGNMENT = "activations"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
COURSE_ID = "minitorch-activations"
STOCK_CONFIG = f'c = get_config()\nc.CourseDirectory.course_id = "{COURSE_ID}"\n'

SCOPES = ("assignment", "activations")
SELF_CHECK_TAG = "self-check"
TRAINING_GRADE_ID = "spiral_training"

SLOW_KIND = "slow-relu-forward"
SLOW_SECONDS = 0.1
CRASH_KIND = "exit-in-forward"
# Its notebook cell that hangs for the 30 s cell timeout would dominate the run.
EXCLUDED_KINDS = frozenset({"hanging-class-body"})
SAMPLE_SECONDS = 0.2
# Absolute, because the courses run in other working directories.
PYTHON = os.path.abspath(sys.executable)


# Submission mix -------------------------------------------------------------


def bundled_mistakes() -> list[str]:
    """Names of the examples in examples/submissions/ that the mix uses, sorted."""
    expected = json.loads((SUBMISSIONS / "expected_scores.json").read_text())
    return sorted(
        name for name in expected if name != "correct" and name not in EXCLUDED_KINDS
    )


def mix_kinds() -> list[str]:
    """Kinds of submission in the order they are dealt out to students."""
    return ["correct", SLOW_KIND, CRASH_KIND, *bundled_mistakes()]


def submission_mix(count: int, kinds: list[str] | None = None) -> list[tuple[str, str]]:
    """Return (student id, kind) for ``count`` students, cycling through ``kinds``."""
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    kinds = kinds or mix_kinds()
    width = max(4, len(str(count)))
    return [
        (
            f"s{number:0{width}d}-{kinds[(number - 1) % len(kinds)]}",
            kinds[(number - 1) % len(kinds)],
        )
        for number in range(1, count + 1)
    ]


def slow_notebook(correct: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Return a copy of notebook ``correct`` whose ReLU.forward sleeps ``seconds``."""
    notebook = json.loads(json.dumps(correct))
    old = "        return np.maximum(x, 0)"
    new = f"        time.sleep({seconds!r})\n{old}"
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id != "relu_solution":
            continue
        source = "".join(cell["source"])
        if old not in source:
            break
        cell["source"] = "import time\n\n" + source.replace(old, new, 1)
        return notebook
    raise ValueError(
        "the correct notebook has no relu_solution cell containing "
        f"{old.strip()!r}; update slow_notebook() to match the solution"
    )


def _sections(notebook: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Split the cells at each markdown cell that starts with a ``## `` heading."""
    sections: list[list[dict[str, Any]]] = [[]]
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown" and "".join(cell["source"]).startswith(
            "## "
        ):
            sections.append([])
        sections[-1].append(cell)
    return sections


def _holds(section: list[dict[str, Any]], *, tag: str = "", grade_id: str = "") -> bool:
    for cell in section:
        metadata = cell.get("metadata", {})
        if tag and tag in metadata.get("tags", []):
            return True
        if grade_id and metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return True
    return False


def trim_notebook(notebook: dict[str, Any], scope: str) -> dict[str, Any]:
    """Return a copy of ``notebook`` cut down to what ``scope`` grades.

    Every scope drops the section of the cell tagged ``self-check``: the kit
    skips that cell, while a Jupyter kernel would run it and rerun the whole
    notebook in a second process. Scope ``activations`` also drops the
    section that contains the ``spiral_training`` grade cell, so that only the
    activation tasks and the written question remain. A section runs from
    one ``## `` heading to the next.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    dropped = [{"tag": SELF_CHECK_TAG}]
    if scope == "activations":
        dropped.append({"grade_id": TRAINING_GRADE_ID})
    remaining = [
        section
        for section in _sections(notebook)
        if not any(_holds(section, **marker) for marker in dropped)
    ]
    trimmed = dict(notebook)
    trimmed["cells"] = [cell for section in remaining for cell in section]
    return trimmed


def kind_notebook(kind: str, scope: str = "assignment") -> dict[str, Any]:
    """Load the notebook of one kind of the mix as JSON data, trimmed to ``scope``."""
    if kind == SLOW_KIND:
        correct = json.loads((SUBMISSIONS / "correct" / NOTEBOOK).read_text())
        notebook = slow_notebook(correct, SLOW_SECONDS)
    elif kind == CRASH_KIND:
        notebook = json.loads((ADVERSARIAL / kind / NOTEBOOK).read_text())
    else:
        notebook = json.loads((SUBMISSIONS / kind / NOTEBOOK).read_text())
    return trim_notebook(notebook, scope)


def write_kinds(
    directory: Path, kinds: list[str], scope: str = "assignment"
) -> dict[str, Path]:
    """Write one notebook per kind to ``directory/<kind>/``; return their paths."""
    paths = {}
    for kind in kinds:
        path = directory / kind / NOTEBOOK
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(kind_notebook(kind, scope), indent=1) + "\n")
        paths[kind] = path
    return paths


def make_course(target: Path, config: str | None, scope: str = "assignment") -> Path:
    """Create a course with source/ and release/; ``config`` None means the kit's.

    The source notebook is trimmed to ``scope`` as the submissions are.
    """
    target.mkdir(parents=True)
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, target / name)
    source = target / "source" / ASSIGNMENT / NOTEBOOK
    notebook = trim_notebook(json.loads(source.read_text()), scope)
    source.write_text(json.dumps(notebook, indent=1) + "\n")
    if config is None:
        shutil.copy(ROOT / "nbgrader_config.py", target / "nbgrader_config.py")
    else:
        (target / "nbgrader_config.py").write_text(config)
    return target


def submit(course: Path, mix: list[tuple[str, str]], kinds: dict[str, Path]) -> None:
    """Copy each student's notebook into submitted/<student>/activations/."""
    for student, kind in mix:
        target = course / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        shutil.copy(kinds[kind], target / NOTEBOOK)


# Process tree memory --------------------------------------------------------


def _parent_pids() -> dict[int, int]:
    """Map each process id in /proc to its parent's id."""
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stream:
                stat = stream.read()
        except OSError:
            continue  # the process ended while /proc was read
        # The command name in brackets may contain spaces and ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(root: int) -> list[int]:
    """Return ``root`` and the ids of all its living descendants."""
    children = collections.defaultdict(list)
    for pid, parent in _parent_pids().items():
        children[parent].append(pid)
    tree = [root]
    for pid in tree:
        tree.extend(children.get(pid, []))
    return tree


def tree_rss(root: int) -> int:
    """Sum of the resident set sizes of ``root`` and its descendants, in bytes."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm") as stream:
                total += int(stream.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue  # ended between the listing and this read
    return total


class TreeRssSampler:
    """Samples :func:`tree_rss` of one process in a thread and keeps the maximum."""

    def __init__(self, root: int, interval: float = SAMPLE_SECONDS) -> None:
        self.root = root
        self.interval = interval
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.peak_bytes = max(self.peak_bytes, tree_rss(self.root))
            self.samples += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# Timed runs -----------------------------------------------------------------


@dataclass
class Measurement:
    """Wall time and peak process-tree memory of one timed command."""

    name: str
    command: list[str]
    submissions: int
    seconds: float
    peak_rss_bytes: int
    returncode: int | None  # None: killed after the timeout
    log: str

    @property
    def per_second(self) -> float:
        return self.submissions / self.seconds if self.seconds > 0 else 0.0


def scratch_environment(scratch: Path, **extra: str) -> dict[str, str]:
    """Environment for a measured command, with its home folders under ``scratch``.

    The kit's grading secret (``~/.local/share/minitorch-grading``) and
    Jupyter's runtime files then stay in the work directory.
    """
    from minitorch_grading.course import nbgrader_environment

    env = nbgrader_environment()
    env["MPLBACKEND"] = "Agg"
    for name, folder in (
        ("HOME", "home"),
        ("TMPDIR", "tmp"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "matplotlib"),
    ):
        (scratch / folder).mkdir(parents=True, exist_ok=True)
        env[name] = str(scratch / folder)
    env.update(extra)
    return env


def _kill_session(pid: int) -> None:
    # The command ran in a session of its own, so its process group id is its
    # pid, and Linux does not reuse a pid while a group with that id exists.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def run_measured(
    name: str,
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    submissions: int,
    timeout: float | None = None,
) -> Measurement:
    """Run ``command`` to its end or ``timeout``; time it and sample its memory.

    Everything left in the command's process group afterwards, such as a
    Jupyter kernel, is killed.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"running {name}: {shlex.join(command)}", file=sys.stderr, flush=True)
    with log_path.open("w") as log_file:
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            with TreeRssSampler(process.pid) as sampler:
                try:
                    returncode: int | None = process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    returncode = None
                    _kill_session(process.pid)
                    process.wait()
            seconds = time.monotonic() - started
        finally:
            _kill_session(process.pid)
            if process.poll() is None:
                process.kill()
                process.wait()
    return Measurement(
        name,
        command,
        submissions,
        seconds,
        sampler.peak_bytes,
        returncode,
        str(log_path),
    )


def nbgrader(*args: str) -> list[str]:
    return [PYTHON, "-m", "nbgrader", *args]


def kit_command(course: Path, *args: str) -> list[str]:
    return [PYTHON, "-m", "minitorch_grading", "--course", str(course), *args]


def prepare_course(
    course: Path,
    config: str | None,
    mix: list[tuple[str, str]],
    kinds: dict[str, Path],
    env: dict[str, str],
    scope: str,
) -> None:
    """Create a course, release the assignment into its gradebook and submit."""
    make_course(course, config, scope)
    subprocess.run(
        nbgrader("generate_assignment", ASSIGNMENT, "--force"),
        cwd=course,
        env=env,
        check=True,
        capture_output=True,
    )
    submit(course, mix, kinds)


# Floor ----------------------------------------------------------------------


class SimulatedExit(BaseException):
    """Raised in the floor process in place of ``os._exit``."""


class SimulatedTimeout(BaseException):
    """Raised in the floor process by SIGALRM when a request runs out of time."""


class InProcessWorker:
    """Stands in for ``sandbox.Worker``: serves requests in this process.

    Each request and response is encoded and decoded with ``worker/wire.py``
    as between the grader and a real worker, and handled by a ``Session`` of
    ``worker/main.py``. Only for trusted submissions: their code runs with
    every right of this process.
    """

    worker_module: Any = None  # worker/main.py, loaded by load_worker_module
    training_seconds = 0.0  # time in train_spiral_classifier, across instances

    def __init__(self, limits: Any) -> None:
        self.limits = limits
        self.session = self.worker_module.Session()
        self.handlers = {
            "load": self.session.op_load,
            "inspect": self.session.op_inspect,
            "call": self.session.op_call,
            "getattr": self.session.op_getattr,
            "isinstance": self.session.op_isinstance,
            "probe": self.session.op_probe,
        }

    @staticmethod
    def _round_trip(wire: Any, header: dict, arrays: list, **limits: int) -> tuple:
        import io

        buffer = io.BytesIO()
        wire.write_message(buffer, header, arrays)
        buffer.seek(0)
        return wire.read_message(buffer, **limits)

    def request(self, header: dict, arrays: list, seconds: float) -> tuple:
        from minitorch_grading.sandbox import WorkerCrashed, WorkerTimeout
        from minitorch_grading.worker import wire as grader_wire

        main = self.worker_module
        request, request_arrays = self._round_trip(
            main.wire,
            header,
            arrays,
            max_header_bytes=main.MAX_REQUEST_HEADER_BYTES,
            max_array_bytes=main.MAX_REQUEST_ARRAY_BYTES,
        )
        handler = self.handlers.get(request.get("op"))
        training = request.get("target") == {"global": "train_spiral_classifier"}
        started = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
        try:
            response = handler(request, request_arrays)
            out_arrays = response.pop("_arrays", [])
            response["ok"] = True
        except SimulatedExit:
            raise WorkerCrashed("the process running your code exited") from None
        except SimulatedTimeout:
            raise WorkerTimeout(f"did not finish within {seconds:g} s") from None
        except BaseException as error:  # noqa: BLE001 - as worker/main.py reports
            response = {"ok": False, "error": main._describe_error(error)}
            out_arrays = []
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if training:
                InProcessWorker.training_seconds += time.perf_counter() - started
        # op_load reports every exception of a cell, these two included.
        for cell in response.get("cells", []):
            error_type = (cell.get("error") or {}).get("type")
            if error_type == SimulatedExit.__name__:
                raise WorkerCrashed("the process running your code exited")
            if error_type == SimulatedTimeout.__name__:
                raise WorkerTimeout(f"did not finish within {seconds:g} s")
        return self._round_trip(
            grader_wire,
            response,
            out_arrays,
            max_header_bytes=self.limits.max_header_bytes,
            max_array_bytes=self.limits.max_array_bytes,
        )

    def close(self) -> None:
        self.session = None


def load_worker_module() -> Any:
    """Import worker/main.py as the worker runs it, under a name of its own."""
    import importlib.util

    from minitorch_grading.sandbox import WORKER_SCRIPT

    spec = importlib.util.spec_from_file_location("floor_worker_main", WORKER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _raise_exit(status: int = 0) -> None:
    raise SimulatedExit(status)


def _raise_timeout(signum: int, frame: Any) -> None:
    raise SimulatedTimeout()


def grade_in_process(path: Path, seed: int) -> tuple[float, float, float]:
    """Grade one notebook with :class:`InProcessWorker`; return the seconds it
    took, the seconds of its training call and the points it earned."""
    from unittest import mock

    import nbformat

    from minitorch_grading import sandbox
    from minitorch_grading.notebook_cells import (
        SKIP_TAGS,
        skipped_names,
        submission_code,
    )
    from minitorch_grading.runner import grade_cells

    nb = nbformat.read(path, as_version=4)
    cells = submission_code(nb, set(SKIP_TAGS))
    skipped = skipped_names(nb, set(SKIP_TAGS))
    training_before = InProcessWorker.training_seconds
    with (
        mock.patch.object(sandbox, "Worker", InProcessWorker),
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
        contextlib.redirect_stderr(devnull),
    ):
        started = time.perf_counter()
        results, _ = grade_cells(ASSIGNMENT, cells, skipped=skipped, seed=seed)
        seconds = time.perf_counter() - started
    score = sum(result.score for result in results.values())
    return seconds, InProcessWorker.training_seconds - training_before, score


def floor_child(kinds: dict[str, Path], output: Path) -> None:
    """Time each kind in this process and write the figures to ``output``."""
    InProcessWorker.worker_module = load_worker_module()
    os._exit = _raise_exit
    signal.signal(signal.SIGALRM, _raise_timeout)
    seed = 12345
    warm_up = kinds.get("correct") or next(iter(kinds.values()))
    grade_in_process(warm_up, seed)
    figures = {}
    for kind, path in kinds.items():
        seconds, training, score = grade_in_process(path, seed)
        figures[kind] = {
            "seconds": seconds,
            "training_seconds": training,
            "score": score,
        }
    output.write_text(json.dumps(figures, indent=1) + "\n")


def measure_floor(
    work: Path, kinds: dict[str, Path], mix: list[tuple[str, str]]
) -> dict[str, Any]:
    """Run :func:`floor_child` in a new process and combine its figures with the mix."""
    output = work / "floor.json"
    env = scratch_environment(
        work / "floor-scratch",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    command = [
        PYTHON,
        str(Path(__file__).resolve()),
        "--floor-child",
        str(output),
        *(f"{kind}={path}" for kind, path in kinds.items()),
    ]
    print("measuring the floor in one process", file=sys.stderr, flush=True)
    log_path = work / "logs" / "floor.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log_file:
        # 300 s is the kit's default budget for one submission.
        subprocess.run(
            command,
            cwd=work,
            env=env,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            timeout=300.0 * (len(kinds) + 1),
        )

    per_kind = json.loads(output.read_text())
    counts = collections.Counter(kind for _, kind in mix)
    cores = os.cpu_count() or 1
    total = sum(per_kind[kind]["seconds"] * n for kind, n in counts.items())
    training = sum(per_kind[kind]["training_seconds"] * n for kind, n in counts.items())
    return {
        "cores": cores,
        "per_kind": per_kind,
        "serial_seconds": total,
        "seconds": total / cores,
        "training_serial_seconds": training,
        "training_seconds": training / cores,
        "log": str(log_path),
    }


# Report ---------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    import nbgrader as nbgrader_package

    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "nbgrader": nbgrader_package.__version__,
        "load_average": os.getloadavg(),
    }


@dataclass
class Report:
    count: int
    scope: str
    command: str
    machine: dict[str, Any]
    mix: dict[str, int]
    runs: list[Measurement] = field(default_factory=list)
    floor: dict[str, Any] | None = None

    def run(self, name: str) -> Measurement | None:
        return next((run for run in self.runs if run.name == name), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for run, entry in zip(self.runs, data["runs"]):
            entry["submissions_per_second"] = run.per_second
        data["ratios"] = self.ratios()
        return data

    def ratios(self) -> dict[str, float]:
        ratios = {}
        stock, kit = self.run("stock nbgrader"), self.run("kit")
        if stock and kit and stock.returncode is not None and stock.per_second:
            ratios["kit_over_stock_throughput"] = kit.per_second / stock.per_second
        if kit and self.floor and self.floor["seconds"]:
            ratios["kit_over_floor_seconds"] = kit.seconds / self.floor["seconds"]
        if self.floor and self.floor["seconds"]:
            share = self.floor["training_seconds"] / self.floor["seconds"]
            ratios["training_share_of_floor"] = share
        if kit and self.floor and kit.seconds:
            # An estimate: the floor's training time over the kit's wall time.
            ratios["training_share_of_kit_estimate"] = (
                self.floor["training_seconds"] / kit.seconds
            )
        return ratios


def _mebibytes(value: int) -> str:
    return f"{value / (1 << 20):.0f} MiB"


def machine_line(machine: dict[str, Any]) -> str:
    """Describe the machine of :func:`machine` in one line."""
    load = " ".join(f"{value:.2f}" for value in machine["load_average"])
    return (
        "Machine: {cpu}, {cores} cores, {system}, Python {python}, nbgrader "
        "{nbgrader}, load average {load}".format(**machine, load=load)
    )


def render(report: Report, show_logs: bool) -> str:
    lines = [
        f"Command: {report.command}",
        machine_line(report.machine),
        "",
        f"Scope: {report.scope}",
        f"Submission mix ({report.count} submissions):",
    ]
    lines += [f"  {count:5d}  {kind}" for kind, count in report.mix.items()]
    lines += [
        "",
        f"{'run':<16} {'wall s':>9} {'subm./s':>9} {'peak RSS':>10}  exit status",
    ]
    for run in report.runs:
        status = "timed out" if run.returncode is None else str(run.returncode)
        lines.append(
            f"{run.name:<16} {run.seconds:9.1f} {run.per_second:9.3f} "
            f"{_mebibytes(run.peak_rss_bytes):>10}  {status}"
        )
    if report.floor:
        floor = report.floor
        lines.append(
            f"{'floor':<16} {floor['seconds']:9.1f} "
            f"{report.count / floor['seconds']:9.3f} {'-':>10}  "
            f"({floor['serial_seconds']:.1f} s in one process / {floor['cores']} cores)"
        )
        lines += ["", "Floor per kind (one process, seconds, training call, points):"]
        for kind, figures in floor["per_kind"].items():
            lines.append(
                f"  {kind:<32} {figures['seconds']:7.2f} s "
                f"{figures['training_seconds']:7.2f} s {figures['score']:5g}"
            )
    ratios = report.ratios()
    labels = {
        "kit_over_stock_throughput": "kit / stock, submissions per second",
        "kit_over_floor_seconds": "kit wall time / floor",
        "training_share_of_floor": "spiral training, share of the floor",
        "training_share_of_kit_estimate": "spiral training, share of the kit's "
        "wall time (estimate)",
    }
    if ratios:
        lines.append("")
        for key, value in ratios.items():
            lines.append(f"{labels[key]}: {value:.2f}")
    if show_logs:
        for run in report.runs:
            lines.append(f"log of {run.name}: {run.log}")
    return "\n".join(lines)


# Command line ---------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="The module docstring describes the method.",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=200,
        help="number of submissions to grade (default: 200)",
    )
    parser.add_argument(
        "--scope",
        choices=SCOPES,
        default="assignment",
        help="grade the whole assignment, or only the activation tasks "
        "(Tasks 1-6 and the written question) (default: assignment)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="empty or missing folder for the courses and logs "
        "(default: a temporary folder, removed afterwards)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write the figures to FILE as JSON",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="grading processes of the kit (default: one per core)",
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="also time `minitorch-course grade --sequential`",
    )
    parser.add_argument(
        "--skip-stock", action="store_true", help="do not run stock nbgrader"
    )
    parser.add_argument(
        "--skip-floor", action="store_true", help="do not measure the floor"
    )
    parser.add_argument(
        "--stock-timeout",
        type=float,
        metavar="SECONDS",
        help="kill stock nbgrader after this many seconds (default: 60 per submission)",
    )
    parser.add_argument("--floor-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count must be at least 1, not {args.count}")
    if args.work and args.work.exists() and any(args.work.iterdir()):
        parser.error(f"--work {args.work} is not empty; pass an empty or new folder")
    return args


def benchmark(args: argparse.Namespace, work: Path) -> Report:
    mix = submission_mix(args.count)
    kinds = write_kinds(
        work / "kinds",
        sorted({kind for _, kind in mix}, key=mix_kinds().index),
        args.scope,
    )
    counts = collections.Counter(kind for _, kind in mix)
    report = Report(
        count=args.count,
        scope=args.scope,
        command=shlex.join([PYTHON, *sys.argv]),
        machine=machine(),
        mix={kind: counts[kind] for kind in kinds},
    )
    print(f"writing {args.count} submissions to {work}", file=sys.stderr, flush=True)

    if not args.skip_stock:
        env = scratch_environment(work / "stock-scratch")
        course = work / "stock"
        prepare_course(course, STOCK_CONFIG, mix, kinds, env, args.scope)
        report.runs.append(
            run_measured(
                "stock nbgrader",
                nbgrader("autograde", ASSIGNMENT),
                cwd=course,
                env=env,
                log_path=work / "logs" / "stock.log",
                submissions=args.count,
                timeout=args.stock_timeout or 60.0 * args.count,
            )
        )

    env = scratch_environment(work / "kit-scratch")
    course = work / "kit"
    prepare_course(course, None, mix, kinds, env, args.scope)
    grade = ["grade", ASSIGNMENT, "--no-progress"]
    if args.workers:
        grade += ["--workers", str(args.workers)]
    report.runs.append(
        run_measured(
            "kit",
            kit_command(course, *grade),
            cwd=course,
            env=env,
            log_path=work / "logs" / "kit.log",
            submissions=args.count,
        )
    )

    if args.sequential:
        course = work / "kit-sequential"
        prepare_course(course, None, mix, kinds, env, args.scope)
        report.runs.append(
            run_measured(
                "kit sequential",
                kit_command(course, "grade", ASSIGNMENT, "--sequential"),
                cwd=course,
                env=env,
                log_path=work / "logs" / "kit-sequential.log",
                submissions=args.count,
            )
        )

    if not args.skip_floor:
        report.floor = measure_floor(work, kinds, mix)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.floor_child:
        output, *pairs = args.floor_child
        kinds = {pair.split("=", 1)[0]: Path(pair.split("=", 1)[1]) for pair in pairs}
        floor_child(kinds, Path(output))
        return 0

    with contextlib.ExitStack() as stack:
        if args.work:
            work = args.work.resolve()
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(
                stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="grading-throughput-")
                )
            )
        report = benchmark(args, work)
        print(render(report, show_logs=args.work is not None))
        if args.json:
            args.json.write_text(json.dumps(report.to_json(), indent=1) + "\n")
            print(f"wrote {args.json}")
    failed = [run.name for run in report.runs if run.returncode != 0]
    if failed:
        # Stock nbgrader exits with 1 whenever the crash kind is in the mix.
        where = "see their logs" if args.work else "pass --work DIR to keep the logs"
        print(
            f"nonzero exit status from: {', '.join(failed)}; {where}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
