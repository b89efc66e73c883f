"""Fast tests of benchmarks/grading_throughput.py, which grade nothing."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "grading_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("grading_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_mix_kinds_start_with_correct_slow_and_crash(bench) -> None:
    kinds = bench.mix_kinds()

    assert kinds[:3] == ["correct", bench.SLOW_KIND, bench.CRASH_KIND]
    assert "hanging-class-body" not in kinds
    assert "relu-derivative-one-at-zero" in kinds
    assert len(set(kinds)) == len(kinds)


def test_submission_mix_cycles_with_distinct_ids(bench) -> None:
    kinds = bench.mix_kinds()
    count = 2 * len(kinds) + 3

    mix = bench.submission_mix(count)

    assert len(mix) == count
    assert len({student for student, _ in mix}) == count
    assert [kind for _, kind in mix[: len(kinds)]] == kinds
    assert [kind for _, kind in mix[len(kinds) : 2 * len(kinds)]] == kinds
    assert mix[0] == ("s0001-correct", "correct")
    assert all(student.endswith(kind) for student, kind in mix)


def test_submission_mix_rejects_zero(bench) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        bench.submission_mix(0)


def test_write_kinds_adds_sleep_to_slow_relu(bench, tmp_path: Path) -> None:
    paths = bench.write_kinds(tmp_path, ["correct", bench.SLOW_KIND])

    slow = json.loads(paths[bench.SLOW_KIND].read_text())
    correct = json.loads(paths["correct"].read_text())
    slow_sources = ["".join(cell["source"]) for cell in slow["cells"]]
    correct_sources = ["".join(cell["source"]) for cell in correct["cells"]]
    changed = [s for s, c in zip(slow_sources, correct_sources) if s != c]
    assert len(changed) == 1
    assert "class ReLU" in changed[0]
    assert f"time.sleep({bench.SLOW_SECONDS!r})" in changed[0]
    assert changed[0].startswith("import time\n")


def test_slow_notebook_rejects_changed_solution(bench) -> None:
    notebook = {"cells": [{"metadata": {}, "source": "x = 1"}]}

    with pytest.raises(ValueError, match="relu_solution"):
        bench.slow_notebook(notebook, 0.1)


def grade_ids(notebook: dict) -> list:
    return [
        cell["metadata"].get("nbgrader", {}).get("grade_id")
        for cell in notebook["cells"]
    ]


def test_assignment_scope_drops_only_the_self_check_section(bench) -> None:
    notebook = bench.kind_notebook("correct", "assignment")
    full = json.loads((bench.SUBMISSIONS / "correct" / "activations.ipynb").read_text())

    dropped = [cell for cell in full["cells"] if cell not in notebook["cells"]]
    assert [cell["cell_type"] for cell in dropped] == ["markdown", "code"]
    assert "self-check" in dropped[1]["metadata"]["tags"]
    assert grade_ids(notebook)[-1] == "spiral_training"


def test_activations_scope_drops_training_and_self_check(bench) -> None:
    notebook = bench.kind_notebook("correct", "activations")

    ids = grade_ids(notebook)
    assert not [i for i in ids if i and i.startswith("spiral")]
    assert "gelu" in ids
    assert ids[-1] == "relu_kink_answer"
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    assert not any("Task 7" in source for source in sources)
    assert not any("run_self_check" in source for source in sources)


def test_trim_keeps_notebooks_without_those_cells(bench) -> None:
    notebook = {"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}

    assert bench.trim_notebook(notebook, "activations") == notebook


def test_trim_rejects_unknown_scope(bench) -> None:
    with pytest.raises(ValueError, match="activations"):
        bench.trim_notebook({"cells": []}, "training")


def test_make_course_trims_source_to_scope(bench, tmp_path: Path) -> None:
    course = bench.make_course(tmp_path / "course", None, "activations")

    source = course / "source" / "activations" / "activations.ipynb"
    assert "spiral_training" not in grade_ids(json.loads(source.read_text()))
    assert (course / "nbgrader_config.py").read_bytes() == (
        bench.ROOT / "nbgrader_config.py"
    ).read_bytes()


def test_submit_writes_one_folder_per_student(bench, tmp_path: Path) -> None:
    kinds = bench.write_kinds(tmp_path / "kinds", bench.mix_kinds()[:3])
    mix = bench.submission_mix(5, list(kinds))

    bench.submit(tmp_path / "course", mix, kinds)

    for student, kind in mix:
        path = tmp_path / "course" / "submitted" / student / "activations"
        notebook = path / "activations.ipynb"
        assert notebook.read_bytes() == kinds[kind].read_bytes()


# A parent that starts a child holding about 64 MiB, then both sleep.
TREE_SCRIPT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import sys, time; block = bytearray(64 << 20); "
    "sys.stdout.write('ready\\\\n'); sys.stdout.flush(); time.sleep(60)"],
    stdout=subprocess.PIPE)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.fixture
def process_tree():
    parent = subprocess.Popen(
        [sys.executable, "-c", TREE_SCRIPT], stdout=subprocess.PIPE, text=True
    )
    child = None
    try:
        child = int(parent.stdout.readline())
        yield parent.pid, child
    finally:
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()
        parent.stdout.close()


def test_process_tree_includes_child(bench, process_tree) -> None:
    parent, child = process_tree

    pids = bench.process_tree(parent)

    assert pids[0] == parent
    assert child in pids


def test_tree_rss_counts_child_memory(bench, process_tree) -> None:
    parent, _ = process_tree

    assert bench.tree_rss(parent) >= 64 << 20


def test_sampler_keeps_peak(bench, process_tree) -> None:
    parent, _ = process_tree

    with bench.TreeRssSampler(parent, interval=0.05) as sampler:
        time.sleep(0.3)

    assert sampler.samples >= 2
    assert sampler.peak_bytes >= 64 << 20


@pytest.fixture(scope="module")
def parts():
    benchmarks = str(SCRIPT.parent)
    sys.path.insert(0, benchmarks)
    try:
        spec = importlib.util.spec_from_file_location(
            "grading_parts", SCRIPT.parent / "grading_parts.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(benchmarks)


@pytest.mark.parametrize("option", ["--count", "--starts", "--workers"])
def test_parts_rejects_zero(parts, option: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parts.main([option, "0"])

    assert exit_info.value.code == 2
    assert f"{option} must be at least 1, not 0" in capsys.readouterr().err


def test_parts_times_worker_starts(parts) -> None:
    figures = parts.time_worker_starts(2)

    assert figures["count"] == 2
    assert 0 < figures["start_median_seconds"] < 30
    assert 0 <= figures["close_median_seconds"] < 30
