"""Build the bundled example submissions from the release and source notebooks.

Each example is the released notebook with every solution cell filled in from
the instructor's solution, then changed the way a student's mistake would
change it. The table below is the single record of what each example gets
wrong and of the autograded score an instructor would give it. Tests and
``make demo`` compare the grader's scores with it.

Run from the repository root after ``nbgrader generate_assignment``::

    python examples/build_examples.py
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source" / "activations" / "activations.ipynb"
RELEASE = ROOT / "release" / "activations" / "activations.ipynb"
OUTPUT = ROOT / "examples" / "submissions"

MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)

ANSWER = (
    "The central difference at 0 is (max(0, h) - max(0, -h)) / 2h = 0.5, the "
    "average of the slopes on either side, while backward returns 0, the value "
    "chosen for the kink. ReLU has no derivative at 0, so neither number is wrong; "
    "finite differences only make sense away from kinks."
)

SPEC_RELU = """class ReLU(Activation):
    def __init__(self):
        super().__init__()
        
    def forward(self, x):
        self.x = x
        # Element-wise maximum: threshold negative values to 0
        return np.maximum(0, x)
        
    def backward(self, grad_output):
        # Derivative of ReLU is 1 where x > 0, and 0 where x <= 0
        local_derivative = (self.x > 0).astype(float)
        
        # Chain rule: multiply local derivative by incoming gradient element-wise
        grad_input = local_derivative * grad_output
        return grad_input
        
    def parameters(self):
        return []
        
    def grads(self):
        return []
"""


# The lines of Sigmoid.backward that compute s = sigmoid(self.x).
SIGMOID_OF_X = (
    "        z = np.exp(-np.abs(self.x))\n"
    "        s = np.where(self.x >= 0, 1 / (1 + z), z / (1 + z))\n"
)


@dataclass(frozen=True)
class Example:
    """One bundled submission: edits given as (cell grade_id, old text, new
    text), plus code cells inserted after the imports or appended at the end."""

    name: str
    mistake: str
    expected_score: float
    edits: tuple[tuple[str, str, str], ...] = ()
    extra_cells: tuple[str, ...] = field(default=())
    final_cells: tuple[str, ...] = field(default=())
    untouched_release: bool = False


FULL = 59.0  # autograded points; the written answer is graded by hand

EXAMPLES = [
    Example("correct", "none: the instructor's solution", FULL),
    Example(
        "untouched-release",
        "the released stub, submitted as it is",
        0.0,
        untouched_release=True,
    ),
    Example(
        "spec-relu",
        "ReLU pasted verbatim from the framework's specification page",
        FULL,
        edits=(("relu_solution", "*", SPEC_RELU),),
    ),
    Example(
        "stderr-and-warnings",
        "correct code that prints to stderr and triggers numpy warnings",
        FULL,
        edits=(
            (
                "relu_solution",
                "        self.x = x\n",
                "        self.x = x\n        print('ReLU.forward', x.shape, "
                "file=sys.stderr)\n",
            ),
        ),
        extra_cells=(
            "import sys\nimport warnings\n\nprint('starting', file=sys.stderr)\n"
            "np.log(np.zeros(2))  # RuntimeWarning: divide by zero\n"
            "warnings.warn('a warning of the student\\'s own')\n",
        ),
    ),
    Example(
        "relu-derivative-one-at-zero",
        "ReLU.backward uses x >= 0, so the derivative at 0 is 1",
        FULL - 1,
        edits=(("relu_solution", "(self.x > 0)", "(self.x >= 0)"),),
    ),
    Example(
        "naive-sigmoid",
        "Sigmoid computes 1 / (1 + exp(-x)) directly and overflows at x = -1000",
        FULL - 1,
        edits=(
            (
                "sigmoid_solution",
                "        # exp(-|x|) lies in (0, 1], so neither branch can overflow.\n"
                "        z = np.exp(-np.abs(x))\n"
                "        return np.where(x >= 0, 1 / (1 + z), z / (1 + z))\n",
                "        return 1 / (1 + np.exp(-x))\n",
            ),
            (
                "sigmoid_solution",
                SIGMOID_OF_X,
                "        s = 1 / (1 + np.exp(-self.x))\n",
            ),
        ),
    ),
    Example(
        "sigmoid-of-sigmoid",
        "Sigmoid.backward computes s = sigmoid(sigmoid(x)) before s (1 - s)",
        FULL - 5,
        edits=(
            (
                "sigmoid_solution",
                SIGMOID_OF_X,
                "        s = 1 / (1 + np.exp(-self.forward(self.x)))\n",
            ),
        ),
    ),
    Example(
        "backward-writes-grad-output",
        "Tanh.backward multiplies grad_output in place and returns it",
        FULL - 1,
        edits=(
            (
                "tanh_solution",
                "        return (1 - t * t) * grad_output\n",
                "        grad_output *= 1 - t * t\n        return grad_output\n",
            ),
        ),
    ),
    Example(
        "forward-modifies-input",
        "ReLU.forward zeroes the negative entries of its input in place",
        FULL - 1,
        edits=(
            (
                "relu_solution",
                "        return np.maximum(x, 0)\n",
                "        x[x < 0] = 0\n        return x\n",
            ),
        ),
    ),
    Example(
        "float32-to-float64",
        "GELU.forward multiplies by np.sqrt(2 / np.pi), a float64 scalar",
        FULL - 1,
        edits=(
            (
                "gelu_solution",
                "        u = (2 / np.pi) ** 0.5 * (x + 0.044715 * x**3)\n",
                "        u = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)\n",
            ),
        ),
    ),
    Example(
        "gelu-exact-erf",
        "GELU uses the exact erf form instead of the tanh approximation",
        FULL - 4,
        edits=(
            (
                "gelu_solution",
                "        u = (2 / np.pi) ** 0.5 * (x + 0.044715 * x**3)\n"
                "        return 0.5 * x * (1 + np.tanh(u))\n",
                "        return 0.5 * x * (1 + erf(x / 2**0.5))\n",
            ),
            (
                "gelu_solution",
                "        c = (2 / np.pi) ** 0.5\n"
                "        t = np.tanh(c * (x + 0.044715 * x**3))\n"
                "        du = c * (1 + 3 * 0.044715 * x**2)\n"
                "        return (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du) * "
                "grad_output\n",
                "        cdf = 0.5 * (1 + erf(x / 2**0.5))\n"
                "        pdf = np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi)\n"
                "        return (cdf + x * pdf) * grad_output\n",
            ),
        ),
        extra_cells=(
            "import math\n\n\ndef erf(x):\n"
            "    return np.vectorize(math.erf, otypes=[x.dtype])(x)\n",
        ),
    ),
    Example(
        "backward-uses-first-input",
        "Sigmoid.forward stores x only on its first call",
        FULL - 3,
        edits=(
            (
                "sigmoid_solution",
                "        self.x = x\n",
                "        if self.x is None:\n            self.x = x\n",
            ),
        ),
    ),
    Example(
        "python-loop",
        "Tanh loops over the elements in Python: correct but far too slow",
        FULL - 1,
        edits=(
            (
                "tanh_solution",
                "        return np.tanh(x)\n",
                "        out = np.empty_like(x)\n"
                "        for index in np.ndindex(x.shape):\n"
                "            out[index] = np.tanh(x[index])\n"
                "        return out\n",
            ),
        ),
    ),
    Example(
        "renamed-class",
        "the GELU class is called Gelu",
        FULL - 10,
        edits=(
            ("gelu_solution", "class GELU(Activation):", "class Gelu(Activation):"),
        ),
    ),
    Example(
        "abstract-forward-returns-none",
        "Activation.forward and backward return None instead of raising",
        FULL - 1,
        edits=(
            (
                "activation_base_solution",
                '        raise NotImplementedError(f"{type(self).__name__} must '
                'implement forward")\n',
                "        pass\n",
            ),
            (
                "activation_base_solution",
                '        raise NotImplementedError(f"{type(self).__name__} must '
                'implement backward")\n',
                "        pass\n",
            ),
        ),
    ),
    Example(
        "leaky-relu-fixed-slope",
        "LeakyReLU ignores its negative_slope argument and always uses 0.01",
        FULL - 1,
        edits=(
            ("leaky_relu_solution", "self.negative_slope * x", "0.01 * x"),
            ("leaky_relu_solution", "1.0, self.negative_slope)", "1.0, 0.01)"),
        ),
    ),
    Example(
        "hanging-class-body",
        "an endless loop in the body of class Tanh, so that cell never finishes",
        FULL - 14,
        edits=(
            (
                "tanh_solution",
                '    """Tanh(x), the hyperbolic tangent."""\n',
                '    """Tanh(x), the hyperbolic tangent."""\n\n'
                "    while True:\n        pass\n",
            ),
        ),
    ),
    Example(
        "exit-in-last-cell",
        "a last cell that calls os._exit(0), ending the process that runs it",
        FULL,
        extra_cells=(),
        final_cells=("import os\n\nos._exit(0)\n",),
    ),
    Example(
        "cell-magic-and-array-losses",
        "%%time on the training cell and the losses returned as a float32 array",
        FULL,
        edits=(
            ("spiral_training_solution", "# Task 7", "%%time\n# Task 7"),
            (
                "spiral_training_solution",
                "    return model, losses\n",
                "    return model, np.array(losses, dtype=np.float32)\n",
            ),
        ),
    ),
    Example(
        "plt-in-training",
        "train_spiral_classifier calls plt, which only a skipped plotting cell imports",
        FULL - 4,
        edits=(
            (
                "spiral_training_solution",
                "    return model, losses\n",
                "    plt.plot(losses)\n    plt.close()\n    return model, losses\n",
            ),
        ),
    ),
    Example(
        "parameters-empty-array",
        "Activation.parameters() and grads() return np.array([]) instead of []",
        FULL - 1,
        edits=(
            (
                "activation_base_solution",
                "    def parameters(self):\n        return []\n",
                "    def parameters(self):\n        return np.array([])\n",
            ),
            (
                "activation_base_solution",
                "    def grads(self):\n        return []\n",
                "    def grads(self):\n        return np.array([])\n",
            ),
        ),
    ),
    Example(
        "backward-without-grad-output",
        "Sigmoid.backward returns the local derivative without grad_output",
        FULL - 4,
        edits=(
            (
                "sigmoid_solution",
                "        return s * (1 - s) * grad_output\n",
                "        return s * (1 - s)\n",
            ),
        ),
    ),
    Example(
        "undertrained-network",
        "the spiral network trains for 5 epochs and stays near chance",
        FULL - 4,
        edits=(("spiral_training_solution", "range(1000)", "range(5)"),),
    ),
]


def strip_markers(source: str) -> str:
    """Remove nbgrader's solution markers, keeping the solution itself."""
    return MARKER.sub("", source)


def solutions_by_id(source_nb: nbformat.NotebookNode) -> dict[str, str]:
    """Map each solution cell's grade_id to its solution text."""
    solutions = {}
    for cell in source_nb.cells:
        nbgrader = cell.metadata.get("nbgrader", {})
        if nbgrader.get("solution"):
            solutions[nbgrader["grade_id"]] = strip_markers(cell.source)
    return solutions


def build(example: Example, release_nb, solutions: dict[str, str]):
    """Return the notebook of ``example``."""
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    if example.untouched_release:
        return nb

    edited: set[tuple[str, str]] = set()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "relu_kink_answer":
            cell.source = ANSWER
        elif grade_id in solutions:
            source = solutions[grade_id]
            for target, old, new in example.edits:
                if target != grade_id:
                    continue
                if old == "*":
                    source = new
                elif old not in source:
                    raise ValueError(f"{example.name}: {old!r} not found in {grade_id}")
                else:
                    source = source.replace(old, new)
                edited.add((target, old))
            cell.source = source

    position = 2  # after the introduction and the imports cell
    for number, text in enumerate(example.extra_cells):
        # A fixed id keeps rebuilt notebooks byte-identical.
        cell = nbformat.v4.new_code_cell(text, id=f"extra-{number}")
        nb.cells.insert(position + number, cell)

    for number, text in enumerate(example.final_cells):
        nb.cells.append(nbformat.v4.new_code_cell(text, id=f"final-{number}"))

    missing = {(target, old) for target, old, _ in example.edits} - edited
    if missing:
        raise ValueError(f"{example.name}: edits for unknown cells {sorted(missing)}")
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the bundled example submissions."
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=OUTPUT,
        help=(
            f"folder to write the submissions to (default: {OUTPUT.relative_to(ROOT)})"
        ),
    )
    output = parser.parse_args(argv).output

    source_nb = nbformat.read(SOURCE, as_version=4)
    release_nb = nbformat.read(RELEASE, as_version=4)
    solutions = solutions_by_id(source_nb)

    expected = {}
    for example in EXAMPLES:
        nb = build(example, release_nb, solutions)
        path = output / example.name / "activations.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        expected[example.name] = {
            "mistake": example.mistake,
            "expected_score": example.expected_score,
        }
    (output / "expected_scores.json").write_text(json.dumps(expected, indent=2) + "\n")
    print(f"wrote {len(EXAMPLES)} submissions to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
