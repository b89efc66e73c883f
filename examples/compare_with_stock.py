"""Grade the adversarial and damaged submissions with stock nbgrader and the kit.

Builds two course directories from this repository: one configured as stock
nbgrader 0.9.6 (its ``Execute`` preprocessor runs each notebook in a Jupyter
kernel) and one with the kit's ``nbgrader_config.py``. Both get an honest
student and every case of ``examples/adversarial/`` and
``examples/bad_notebooks/``. The kit grades all of them in one
``nbgrader autograde`` batch. Stock nbgrader grades them one student at a
time, because a single damaged notebook stops its whole batch, and the
honest student's gradebook row is compared before and after each case.

Stock nbgrader runs the cases with no protection of its own, so this script
contains it without changing what it does inside its course directory. Its
processes may write only to their own temporary directory (Landlock),
may have 512 processes (a pids cgroup), 8 GiB of address space each, and 300 s
per student. A case that reaches one of these limits is marked so in the
table.

Writes ``docs/grading-safety.md`` and its raw results,
``docs/grading-safety.json``. With ``--case`` it reruns only those cases and
updates their rows, noting the rerun on the page. Needs Linux with Landlock;
run as root for the pids cgroup::

    python examples/compare_with_stock.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbgrader
from nbgrader.api import Gradebook, MissingEntry

from minitorch_grading import landlock, records
from minitorch_grading.isolation import PYTHON

ROOT = Path(__file__).resolve().parent.parent
ADVERSARIAL = ROOT / "examples" / "adversarial"
BAD = ROOT / "examples" / "bad_notebooks"
HONEST = ROOT / "examples" / "submissions" / "correct" / "activations.ipynb"
ASSIGNMENT = "activations"
MANUAL = {"relu_kink_answer"}
OUTPUT = ROOT / "docs" / "grading-safety.md"

STOCK_CONFIG = (
    'c = get_config()\nc.CourseDirectory.course_id = "minitorch-activations"\n'
)
STOCK_SECONDS = 300
STOCK_MEMORY = 8 << 30
STOCK_PROCESSES = 512
CGROUP_ROOT = Path("/sys/fs/cgroup/pids")


@dataclass
class Case:
    suite: str
    name: str
    description: str
    kit_expected: str


def load_cases() -> list[Case]:
    cases = []
    for name, case in json.loads((ADVERSARIAL / "attacks.json").read_text()).items():
        cases.append(
            Case("adversarial", name, case["attack"], f"{case['expected_score']:g}")
        )
    for name, case in json.loads((BAD / "cases.json").read_text()).items():
        expected = f"{case['expected_score']:g}, {case['expected_status']}"
        cases.append(Case("bad notebook", name, case["damage"], expected))
    return cases


def make_course(target: Path, stock: bool) -> Path:
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, target / name)
    if stock:
        (target / "nbgrader_config.py").write_text(STOCK_CONFIG)
    else:
        shutil.copy(ROOT / "nbgrader_config.py", target / "nbgrader_config.py")
    return target


def submit(course: Path, student: str, case: Case | None) -> None:
    target = course / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True)
    if case is None:
        shutil.copy(HONEST, target / f"{ASSIGNMENT}.ipynb")
    elif case.suite == "adversarial":
        shutil.copy(ADVERSARIAL / case.name / f"{ASSIGNMENT}.ipynb", target)
    else:
        spec = json.loads((BAD / "cases.json").read_text())[case.name]
        if "symlink_to" in spec:
            os.symlink(course / spec["symlink_to"], target / f"{ASSIGNMENT}.ipynb")
        else:
            shutil.copytree(BAD / case.name, target, dirs_exist_ok=True)


def environment(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(PYTHON).parent) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    for name, folder in (
        ("HOME", "home"),
        ("TMPDIR", "tmp"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_DATA_DIR", "data"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "matplotlib"),
    ):
        (scratch / folder).mkdir(parents=True, exist_ok=True)
        env[name] = str(scratch / folder)
    return env


def contain(work: Path, cgroup: Path | None) -> None:
    """Limit a stock nbgrader process; runs between fork and exec."""
    resource.setrlimit(resource.RLIMIT_AS, (STOCK_MEMORY, STOCK_MEMORY))
    if cgroup is not None:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))
    writable = [str(work), "/dev/null", "/dev/pts", "/dev/ptmx", "/dev/shm"]
    landlock.restrict_self(["/"], writable, abi=landlock.abi_version(), allow_tcp=True)


def cgroup_pids(cgroup: Path | None) -> list[int]:
    if cgroup is None:
        return []
    return [int(line) for line in (cgroup / "cgroup.procs").read_text().split()]


def kill_cgroup(cgroup: Path | None) -> None:
    for pid in cgroup_pids(cgroup):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while cgroup_pids(cgroup) and time.monotonic() < deadline:
        time.sleep(0.05)


def nbgrader_command(*args: str) -> list[str]:
    return [PYTHON, "-m", "nbgrader", *args]


def autograded_scores(course: Path, course_id: str) -> dict[str, dict[str, float]]:
    """Read each student's autograded points by grade cell from the gradebook."""
    scores: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id) as gradebook:
        for student in gradebook.students:
            try:
                submission = gradebook.find_submission(ASSIGNMENT, student.id)
            except MissingEntry:
                continue
            scores[student.id] = {
                grade.name: grade.auto_score or 0.0
                for notebook in submission.notebooks
                for grade in notebook.grades
                if grade.name not in MANUAL
            }
    return scores


def run_stock(cases: list[Case], work: Path) -> dict[str, str]:
    """Grade each case alone with stock nbgrader; return a result per case."""
    course = make_course(work / "stock", stock=True)
    scratch = work / "stock-scratch"
    env = environment(scratch)
    cgroup = None
    if CGROUP_ROOT.is_dir() and os.access(CGROUP_ROOT, os.W_OK):
        cgroup = Path(tempfile.mkdtemp(prefix="stock-nbgrader-", dir=CGROUP_ROOT))
        (cgroup / "pids.max").write_text(f"{STOCK_PROCESSES}\n")

    def nbgrader_run(*args: str) -> tuple[subprocess.CompletedProcess | None, float]:
        started = time.monotonic()
        try:
            completed = subprocess.run(
                nbgrader_command(*args),
                cwd=course,
                env=env,
                capture_output=True,
                text=True,
                timeout=STOCK_SECONDS,
                preexec_fn=lambda: contain(work, cgroup),
            )
        except subprocess.TimeoutExpired:
            completed = None
        return completed, time.monotonic() - started

    try:
        nbgrader_run("generate_assignment", ASSIGNMENT, "--force")
        submit(course, "honest", None)
        nbgrader_run("autograde", ASSIGNMENT, "--student", "honest")
        results = {}
        for case in cases:
            before = autograded_scores(course, "minitorch-activations").get("honest")
            submit(course, case.name, case)
            print(f"stock nbgrader: {case.name}", file=sys.stderr, flush=True)
            completed, seconds = nbgrader_run(
                "autograde", ASSIGNMENT, "--student", case.name
            )
            left = len(cgroup_pids(cgroup))
            kill_cgroup(cgroup)
            scores = autograded_scores(course, "minitorch-activations")
            after = scores.get("honest")
            results[case.name] = describe_stock(
                completed, seconds, scores.get(case.name), before != after, left
            )
    finally:
        kill_cgroup(cgroup)
        if cgroup is not None:
            cgroup.rmdir()
    return results


def describe_stock(
    completed: subprocess.CompletedProcess | None,
    seconds: float,
    scores: dict[str, float] | None,
    honest_changed: bool,
    processes_left: int,
) -> str:
    parts = []
    log = (completed.stderr + completed.stdout) if completed else ""
    if completed is None:
        parts.append(f"hung: killed by this script after {STOCK_SECONDS} s")
    elif "nbgrader update" in log or "SchemaTooNew" in log:
        parts.append("stops the whole batch (metadata error)")
    elif completed.returncode != 0:
        parts.append("error, exported as 0 with no reason")
    if scores is not None and completed is not None and completed.returncode == 0:
        parts.append(f"{sum(scores.values()):g}")
    if honest_changed:
        parts.append("changed the honest student's grades")
    if processes_left:
        parts.append(f"left {processes_left} process(es) running")
    if "MemoryError" in log:
        parts.append("MemoryError only from this script's 8 GiB limit")
    parts.append(f"{seconds:.0f} s")
    return "; ".join(parts)


def run_kit(cases: list[Case], work: Path) -> dict[str, str]:
    """Grade every case with the kit in one batch; return a result per case."""
    course = make_course(work / "kit", stock=False)
    env = environment(work / "kit-scratch")
    run = lambda *args: subprocess.run(  # noqa: E731
        nbgrader_command(*args), cwd=course, env=env, capture_output=True, text=True
    )
    run("generate_assignment", ASSIGNMENT, "--force")
    submit(course, "honest", None)
    run("autograde", ASSIGNMENT, "--student", "honest")
    before = autograded_scores(course, "minitorch-activations")["honest"]
    for case in cases:
        submit(course, case.name, case)
    print("kit: grading every case in one batch", file=sys.stderr, flush=True)
    started = time.monotonic()
    run("autograde", ASSIGNMENT)
    seconds = time.monotonic() - started
    scores = autograded_scores(course, "minitorch-activations")
    after = scores["honest"]

    results = {}
    for case in cases:
        record = records.read_record(course, ASSIGNMENT, case.name)
        status = record.status if record else "no record"
        score = sum(scores.get(case.name, {}).values())
        if status == records.INVALID:
            score = 0.0
        results[case.name] = f"{score:g}, {status}"
    results["_honest"] = "unchanged" if before == after else "CHANGED"
    results["_seconds"] = f"{seconds:.0f} s for {len(cases)} cases"
    return results


def machine() -> str:
    cpus = os.cpu_count()
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {cpus} cores, "
        f"Python {platform.python_version()}, nbgrader {nbgrader.__version__}"
    )


def render(cases: list[Case], results: dict) -> str:
    """Render ``results``, as :func:`main` stores them, as a Markdown page."""
    runs = results["runs"]
    rerun = runs[1:]
    lines = [
        "# Cheating and damaged submissions: stock nbgrader beside the kit",
        "",
        "Generated by `python examples/compare_with_stock.py` on "
        f"{runs[0]['date']} ({runs[0]['machine']}). Scores are the 59 autograded "
        "points. A kit result reads *score, status*; the status is the one "
        "`nbgrader export` writes to `grades.csv`. The raw results are in "
        "`grading-safety.json`.",
        "",
        "Stock nbgrader 0.9.6 grades each case alone, because a damaged notebook "
        "can stop its whole batch. The script contains it (Landlock writes only to "
        f"its own temporary directory, {STOCK_PROCESSES} processes, "
        f"{STOCK_MEMORY >> 30} GiB of address space, {STOCK_SECONDS} s per "
        "student) so that an attack cannot reach the rest of the machine. Stock "
        "nbgrader runs the notebook's visible test cells, each worth all or none "
        "of its points, so the honest but wrong `zeros` earns 3 there. A stock "
        "score above 3 for an attack is what the attack gained. The kit graded "
        f"all cases in one batch ({runs[0]['kit_seconds']}), and the honest "
        f"student's gradebook row was {runs[0]['honest']} afterwards.",
        "",
    ]
    for run in rerun:
        lines += [
            f"Rerun on {run['date']} with the examples of that day: "
            + ", ".join(f"`{name}`" for name in run["cases"])
            + f". The honest student's row was {run['honest']} afterwards.",
            "",
        ]
    lines += [
        "| suite | case | what the submission does | stock nbgrader | kit "
        "| kit expected |",
        "|---|---|---|---|---|---|",
    ]
    for case in cases:
        result = results["cases"].get(case.name, {"stock": "not run", "kit": "not run"})
        lines.append(
            f"| {case.suite} | `{case.name}` | {case.description} | "
            f"{result['stock']} | {result['kit']} | {case.kit_expected} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=OUTPUT, help="Markdown file to write"
    )
    parser.add_argument(
        "--case",
        action="append",
        help="run only this case (repeatable) and update its row in the results "
        "of an earlier full run",
    )
    args = parser.parse_args(argv)
    if landlock.abi_version() == 0:
        parser.error("this script needs Landlock to contain stock nbgrader")

    all_cases = load_cases()
    cases = all_cases
    raw = args.output.with_suffix(".json")
    if args.case:
        unknown = sorted(set(args.case) - {case.name for case in all_cases})
        if unknown:
            parser.error(f"unknown case(s): {', '.join(unknown)}")
        if not raw.is_file():
            parser.error(f"{raw} not found: run every case once before --case")
        cases = [case for case in all_cases if case.name in args.case]
    # The attacks search /tmp, /work, /home, /root and /srv for course files and
    # take the first few they find; /srv is usually empty, so the courses here
    # are the ones found there.
    parent = "/srv" if os.access("/srv", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="compare-with-stock-", dir=parent) as work:
        kit = run_kit(cases, Path(work))
        stock = run_stock(cases, Path(work))

    run = {
        "date": f"{datetime.now(timezone.utc):%Y-%m-%d}",
        "machine": machine(),
        "cases": [case.name for case in cases],
        "kit_seconds": kit["_seconds"],
        "honest": kit["_honest"],
    }
    if args.case:
        results = json.loads(raw.read_text())
        # An earlier rerun of only these cases is superseded by this one.
        results["runs"] = [results["runs"][0]] + [
            earlier
            for earlier in results["runs"][1:]
            if not set(earlier["cases"]) <= set(run["cases"])
        ]
        results["runs"].append(run)
    else:
        results = {"runs": [run], "cases": {}}
    for case in cases:
        results["cases"][case.name] = {"stock": stock[case.name], "kit": kit[case.name]}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    args.output.write_text(render(all_cases, results))
    print(f"wrote {args.output} and {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
