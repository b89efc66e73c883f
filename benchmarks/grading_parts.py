"""Time the parts of the kit's cost per submission that the floor leaves out.

``grading_throughput.py`` compares the kit's wall time with a floor: each
submission's code and the hidden checks run in one already started process.
This script times, on this machine, what ``minitorch-course grade`` adds::

    PATH=.venv/bin:$PATH MPLBACKEND=Agg python benchmarks/grading_parts.py

* **Worker start and stop**: ``sandbox.Submission.start()`` and ``close()``
  for a notebook whose only cell is ``pass``, with the kit's default limits and
  whatever isolation the machine offers. One start is run first and not
  counted, because it probes the isolation once per process.
* **nbgrader's converter**: ``grade_all`` grades ``--count`` copies of the
  instructor's solution, cut to the activation tasks as ``grading_throughput.py
  --scope activations`` cuts them, with ``--workers`` processes. Each call of
  ``BatchAutograde.start``, which the parent process makes once per finished
  submission, is timed. That is the converter: nbgrader's sanitizing,
  validation, gradebook writes and the autograded notebook.
* **The grading task**: the seconds ``grade_all`` reports per submission,
  minus that submission's converter time. The task reads the notebook, starts
  the worker, runs the cells and the hidden checks. It competes for the cores
  with the other tasks and with the converter.

Figures from a machine that runs other work are not results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grading_throughput as throughput


def time_worker_starts(count: int) -> dict[str, Any]:
    """Start and stop ``count`` workers, after one that is not counted."""
    from minitorch_grading.sandbox import Limits, Submission

    starts, closes = [], []
    for run in range(count + 1):
        submission = Submission([(0, "pass")], Limits())
        started = time.perf_counter()
        submission.start()
        running = time.perf_counter()
        submission.close()
        stopped = time.perf_counter()
        if run:
            starts.append(running - started)
            closes.append(stopped - running)
    return {
        "count": count,
        "start_median_seconds": statistics.median(starts),
        "close_median_seconds": statistics.median(closes),
    }


def time_batch(work: Path, count: int, workers: int) -> dict[str, Any]:
    """Grade ``count`` copies of the solution and time nbgrader's converter."""
    kinds = throughput.write_kinds(work / "kinds", ["correct"], "activations")
    mix = throughput.submission_mix(count, ["correct"])
    env = throughput.scratch_environment(work / "scratch")
    course = work / "course"
    throughput.prepare_course(course, None, mix, kinds, env, "activations")
    # The grading secret and Jupyter's files go to the scratch folders too.
    os.environ.update(env)

    from minitorch_grading import batch

    converter_seconds: list[float] = []
    start = batch.BatchAutograde.start

    def timed_start(converter: Any) -> None:
        started = time.perf_counter()
        try:
            start(converter)
        finally:
            converter_seconds.append(time.perf_counter() - started)

    batch.BatchAutograde.start = timed_start
    try:
        report = batch.grade_all(course, "activations", workers=workers, progress=False)
    finally:
        batch.BatchAutograde.start = start

    statuses = sorted({outcome.status for outcome in report.outcomes})
    if statuses != ["graded"]:
        raise RuntimeError(f"expected every copy graded, got statuses {statuses}")
    task_seconds = [
        outcome.seconds - converter
        for outcome, converter in zip(report.outcomes, converter_seconds)
    ]
    return {
        "count": count,
        "workers": workers,
        "wall_seconds": report.seconds,
        "converter_mean_seconds": statistics.mean(converter_seconds),
        "converter_total_seconds": sum(converter_seconds),
        "task_mean_seconds": statistics.mean(task_seconds),
    }


def render(figures: dict[str, Any]) -> str:
    worker = figures["worker"]
    batch = figures["batch"]
    return "\n".join(
        [
            throughput.machine_line(figures["machine"]),
            "",
            f"worker start, median of {worker['count']}: "
            f"{worker['start_median_seconds']:.3f} s",
            f"worker stop, median of {worker['count']}:  "
            f"{worker['close_median_seconds']:.3f} s",
            "",
            f"grade_all on {batch['count']} copies of the solution (activation "
            f"tasks), {batch['workers']} workers: {batch['wall_seconds']:.1f} s",
            f"  nbgrader converter in the parent: {batch['converter_mean_seconds']:.3f}"
            f" s per submission, {batch['converter_total_seconds']:.1f} s in all",
            f"  grading task in a pool process:   {batch['task_mean_seconds']:.3f}"
            " s per submission",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="The module docstring describes the method.",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=24,
        help="submissions to grade for the converter's figures (default: 24)",
    )
    parser.add_argument(
        "--starts",
        type=int,
        default=20,
        help="worker starts to time (default: 20)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="grading processes (default: one per core)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the figures to FILE"
    )
    args = parser.parse_args(argv)
    for name in ("count", "starts", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, not {getattr(args, name)}")

    figures: dict[str, Any] = {
        "command": " ".join([throughput.PYTHON, *sys.argv]),
        "machine": throughput.machine(),
    }
    figures["worker"] = time_worker_starts(args.starts)
    with tempfile.TemporaryDirectory(prefix="grading-parts-") as work:
        figures["batch"] = time_batch(Path(work), args.count, args.workers)
    print(render(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
