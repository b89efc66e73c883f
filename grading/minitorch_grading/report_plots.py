"""Plots of the class report (``report.py``), drawn with matplotlib's Agg canvas.

The figures are built without pyplot, so drawing them changes no global
matplotlib state and needs no display.
"""

from __future__ import annotations

import math
import statistics
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

if TYPE_CHECKING:
    from minitorch_grading.report import CheckSummary

FONT_SIZE = 10
DPI = 110
LABEL_WIDTH = 58  # characters of a check description shown beside its bar

# Pass-rate bands of the check chart: (lowest rate, colour, legend label).
RATE_BANDS = (
    (0.9, "#4c9a5b", "90% or more pass"),
    (0.5, "#e0a030", "50% to 90% pass"),
    (0.0, "#c8423b", "under 50% pass"),
)

STATUS_COLORS = {
    "graded": "#4c9a5b",
    "adjusted": "#8fbf6a",
    "timed out": "#e0a030",
    "crashed": "#d9782d",
    "invalid": "#c8423b",
    "error": "#8e2c6e",
    "started": "#8e2c6e",
    "ungraded": "#7f8fa6",
    "missing": "#9e9e9e",
}


def _plain(text: str) -> str:
    """Escape ``$`` so that matplotlib draws the text as written, not as math."""
    return text.replace("$", r"\$")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _shorten(text: str, width: int) -> str:
    return textwrap.shorten(text, width=width, placeholder="…")


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI)


def _band_color(rate: float) -> str:
    for lowest, color, _ in RATE_BANDS:
        if rate >= lowest:
            return color
    return RATE_BANDS[-1][1]


def plot_scores(
    scores: Sequence[float],
    max_score: float,
    statuses: Sequence[tuple[str, int]],
    path: Path,
    assignment: str,
) -> None:
    """Draw the histogram of autograded scores beside the count of each status."""
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    histogram_axes, status_axes = figure.subplots(
        1, 2, gridspec_kw={"width_ratios": [2.2, 1]}
    )

    # At most 60 bins of a whole number of points each, with edges halfway between
    # whole points, so that each whole score falls inside one bin.
    width = max(1, math.ceil(max_score / 60))
    bin_count = math.ceil((max_score + 1) / width)
    edges = [index * width - 0.5 for index in range(bin_count + 1)]
    histogram_axes.hist(scores, bins=edges, color="#5b7fb5", edgecolor="white")
    mean = statistics.fmean(scores)
    median = statistics.median(scores)
    histogram_axes.axvline(
        mean, color="#c8423b", linestyle="--", linewidth=1.6, label=f"mean {mean:.1f}"
    )
    histogram_axes.axvline(
        median,
        color="#222222",
        linestyle=":",
        linewidth=1.8,
        label=f"median {median:g}",
    )
    histogram_axes.set_xlim(-width, max_score + width)
    submissions = _count(len(scores), "submission")
    histogram_axes.set_title(
        f"{_plain(assignment)}: autograded scores of {submissions}",
        fontsize=FONT_SIZE + 2,
    )
    histogram_axes.set_xlabel(
        f"autograded score (points out of {max_score:g})", fontsize=FONT_SIZE
    )
    histogram_axes.set_ylabel("submissions", fontsize=FONT_SIZE)
    histogram_axes.yaxis.get_major_locator().set_params(integer=True)
    histogram_axes.legend(fontsize=FONT_SIZE, loc="upper left")
    histogram_axes.tick_params(labelsize=FONT_SIZE)
    histogram_axes.grid(axis="y", alpha=0.3)

    names = [status for status, _ in statuses]
    counts = [count for _, count in statuses]
    positions = range(len(names))
    bars = status_axes.barh(
        positions, counts, color=[STATUS_COLORS.get(name, "#7f8fa6") for name in names]
    )
    status_axes.bar_label(bars, padding=3, fontsize=FONT_SIZE)
    status_axes.set_yticks(list(positions), labels=names, fontsize=FONT_SIZE)
    status_axes.invert_yaxis()
    status_axes.set_xlim(0, max(counts) * 1.2 + 0.5)
    status_axes.xaxis.get_major_locator().set_params(integer=True)
    status_axes.set_title(
        f"status of {_count(sum(counts), 'student')}", fontsize=FONT_SIZE + 2
    )
    status_axes.set_xlabel("students", fontsize=FONT_SIZE)
    status_axes.tick_params(labelsize=FONT_SIZE)
    _save(figure, path)


def plot_pass_rates(
    checks: Sequence[CheckSummary], path: Path, assignment: str, submissions: int
) -> None:
    """Draw one bar per check with its pass rate, grouped by task, hardest on top.

    ``checks`` must already be in the order to draw, each task's checks
    together. Long descriptions are shortened, and the HTML table shows them
    in full.
    """
    rows: list[tuple[str, CheckSummary | None]] = []
    for check in checks:
        if not rows or rows[-1][1] is None or rows[-1][1].grade_id != check.grade_id:
            task = [item for item in checks if item.grade_id == check.grade_id]
            mean = statistics.fmean(item.pass_rate for item in task)
            header = f"{check.grade_id}: {len(task)} checks, mean {mean:.0%}"
            rows.append((header, None))
        rows.append((_shorten(check.description, LABEL_WIDTH), check))

    height = 2.0 + 0.27 * max(len(rows), 2)
    figure = Figure(figsize=(12, height), layout="constrained")
    axes = figure.subplots()
    positions = list(range(len(rows)))
    for position, (_, check) in zip(positions, rows):
        if check is None:
            axes.axhline(position, color="#cccccc", linewidth=0.8)
            continue
        rate = check.pass_rate
        axes.barh(position, rate * 100, height=0.72, color=_band_color(rate))
        axes.text(
            rate * 100 + 1,
            position,
            f"{rate:.0%} ({check.passed}/{check.total})",
            va="center",
            fontsize=FONT_SIZE - 1,
        )

    if not rows:
        axes.text(50, 0, "no hidden check results in the records", ha="center")
    axes.set_yticks(positions, labels=[_plain(label) for label, _ in rows])
    for label, (_, check) in zip(axes.get_yticklabels(), rows):
        label.set_fontsize(FONT_SIZE - 1)
        if check is None:
            label.set_fontweight("bold")
            label.set_fontsize(FONT_SIZE)
    axes.tick_params(axis="y", length=0)
    axes.set_ylim(max(len(rows), 1) - 0.4, -0.6)
    axes.set_xlim(0, 118)
    axes.set_xticks(range(0, 101, 20))
    axes.set_xlabel("submissions that pass the check (%)", fontsize=FONT_SIZE)
    axes.set_title(
        f"{_plain(assignment)}: pass rate of each hidden check over "
        f"{_count(submissions, 'scored submission')}\n"
        "hardest task first, hardest check first within a task",
        fontsize=FONT_SIZE + 2,
    )
    axes.grid(axis="x", alpha=0.3)
    figure.legend(
        handles=[Patch(color=color, label=label) for _, color, label in RATE_BANDS],
        fontsize=FONT_SIZE - 1,
        loc="outside lower center",
        ncols=len(RATE_BANDS),
    )
    _save(figure, path)
