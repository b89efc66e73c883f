"""Build submissions that try to cheat or to break the grader.

Every case starts from the same honest but wrong submission, ``zeros``, whose
activations return arrays of zeros, and adds one attack. An attack that gains
nothing scores what ``zeros`` scores; one that also breaks the submission's
own code scores less. The expected score of each case is in the table below,
and ``tests/course/test_adversarial.py`` grades them all with
``nbgrader autograde`` beside an honest student whose grades must not change.

Run from the repository root after ``nbgrader generate_assignment``::

    python examples/build_adversarial.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_examples import RELEASE, ROOT, SOURCE, solutions_by_id  # noqa: E402

OUTPUT = ROOT / "examples" / "adversarial"

ZEROS_FORWARD = "        self.x = x\n        return np.zeros_like(x)\n"
ZEROS_BACKWARD = "        return np.zeros_like(grad_output)\n"

# The marker lets the test find processes that a submission left behind.
MARKER = "minitorch-adversarial-marker"

ATTACKS = {
    "patch-numpy": (
        "np.allclose replaced by a function that always returns True",
        "np.allclose = lambda *args, **kwargs: True\n"
        "np.testing.assert_allclose = lambda *args, **kwargs: None\n"
        "np.array_equal = lambda *args, **kwargs: True\n",
    ),
    "ipython-ast-transformer": (
        "an IPython AST transformer that deletes every assert",
        "import ast\n\n\nclass DropAsserts(ast.NodeTransformer):\n"
        "    def visit_Assert(self, node):\n        return None\n\n\n"
        "get_ipython().ast_transformers.append(DropAsserts())\n",
    ),
    "ipython-input-transformer": (
        "an IPython input transformer that turns every later cell into pass",
        "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n",
    ),
    "custom-exception-handler": (
        "an IPython exception handler that hides every error",
        "get_ipython().set_custom_exc(\n"
        "    (BaseException,), lambda *args, **kwargs: None\n)\n",
    ),
    "fake-grading-module": (
        "a fake grading module planted in sys.modules",
        "import sys\nimport types\n\n"
        "fake = types.ModuleType('minitorch_grading')\nfake.contract = fake\n"
        "fake.fail = lambda message: None\n"
        "sys.modules['minitorch_grading'] = fake\n"
        "sys.modules['minitorch_grading.contract'] = fake\n",
    ),
    "read-solution-from-disk": (
        "the solution read from the source notebook and rerun after every cell",
        "import glob\nimport json\nimport os\n\nstolen = []\n"
        "# The course directory is usually an ancestor of the working directory.\n"
        "folder = os.getcwd()\n"
        "while folder != os.path.dirname(folder):\n"
        "    folder = os.path.dirname(folder)\n"
        "    stolen += glob.glob(folder + '/source/activations/activations.ipynb')\n"
        "for root in ['/tmp', '/work', '/home', '/root', '/srv']:\n"
        "    if stolen:\n        break\n"
        "    for name in ['source/activations/activations.ipynb',\n"
        "                 'minitorch_grading/contract.py']:\n"
        "        try:\n"
        "            stolen += glob.glob(f'{root}/**/{name}', recursive=True)[:1]\n"
        "        except OSError:\n            pass\n"
        "solution = []\n"
        "for path in stolen:\n"
        "    try:\n        source = open(path).read()\n"
        "    except OSError:\n        continue\n"
        "    if path.endswith('.ipynb'):\n"
        "        for cell in json.loads(source)['cells']:\n"
        "            text = ''.join(cell['source'])\n"
        "            if 'BEGIN SOLUTION' in text and 'class ' in text:\n"
        "                solution.append(text)\n"
        "solution = '\\n'.join(solution)\n\n\n"
        "def rerun_solution(*args):\n"
        "    # Silently, so that no error output gives the cheat away.\n"
        "    try:\n        exec(solution, get_ipython().user_ns)\n"
        "    except Exception:\n        pass\n\n\n"
        "# Run the solution again after each cell, over the student's own classes.\n"
        "try:\n"
        "    get_ipython().events.register('post_run_cell', rerun_solution)\n"
        "except NameError:\n    pass\n",
    ),
    "write-gradebook": (
        "an attempt to zero every other student's grade in gradebook.db",
        "import glob\nimport sqlite3\n\n"
        "paths = []\n"
        "for root in ['/tmp', '/work', '/home', '/root', '/srv']:\n"
        "    paths += glob.glob(f'{root}/**/gradebook.db', recursive=True)[:3]\n"
        "for path in paths:\n"
        "    try:\n"
        "        with sqlite3.connect(path) as db:\n"
        "            db.execute('UPDATE grade SET auto_score = 0')\n"
        "    except Exception:\n        pass\n",
    ),
    "detached-process": (
        "a detached process that would edit files after grading ends",
        "import subprocess\nimport sys\n\n"
        "subprocess.Popen(\n"
        f"    [sys.executable, '-c', 'import time; time.sleep(60)', '{MARKER}'],\n"
        "    start_new_session=True,\n"
        "    stdout=subprocess.DEVNULL,\n    stderr=subprocess.DEVNULL,\n)\n",
    ),
    "megabytes-of-output": (
        "ten megabytes printed to stdout and stderr",
        "import sys\n\nprint('x' * 5_000_000)\n"
        "print('y' * 5_000_000, file=sys.stderr)\n",
    ),
    "fork-bomb": (
        "a fork bomb: fork until the system refuses, and keep every child alive",
        "import os\nimport time\n\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            while True:\n                time.sleep(1)\n"
        "except OSError:\n    pass\n",
    ),
    "detects-grading": (
        "code that looks for signs of grading (NBGRADER_EXECUTION, IPython's type)",
        "import os\n\n"
        "GRADED = 'NBGRADER_EXECUTION' in os.environ or type(get_ipython()).__name__ "
        "!= 'ZMQInteractiveShell'\n",
    ),
}

# Attacks inside ReLU.forward, as replacements of the zeros forward.
FORWARD_ATTACKS = {
    "always-equal-object": (
        "ReLU.forward returns an object that compares equal to anything",
        "        class Equal:\n"
        "            def __eq__(self, other):\n                return True\n"
        "            __array_priority__ = 1000\n"
        "        return Equal()\n",
    ),
    "lying-ndarray-subclass": (
        "ReLU.forward returns an ndarray subclass that lies about its values",
        "        class Liar(np.ndarray):\n"
        "            def __eq__(self, other):\n"
        "                return np.ones(np.shape(other), bool)\n"
        "            def __array__(self, *args, **kwargs):\n"
        "                return np.maximum(np.asarray(self.base), 0)\n"
        "        return np.zeros_like(x).view(Liar)\n",
    ),
    "exit-in-forward": (
        "ReLU.forward calls os._exit(0)",
        "        import os\n        os._exit(0)\n",
    ),
    "segfault-in-forward": (
        "ReLU.forward dereferences a null pointer through ctypes",
        "        import ctypes\n        ctypes.string_at(0)\n",
    ),
    "loop-ignoring-signals": (
        "ReLU.forward loops forever with SIGINT and SIGTERM ignored",
        "        import signal\n"
        "        signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "        while True:\n            pass\n",
    ),
    "memory-bomb": (
        "ReLU.forward allocates 100 GB",
        "        hoard = bytearray(100 * 10**9)\n        return hoard\n",
    ),
    "input-in-forward": (
        "ReLU.forward waits for input()",
        "        input('value? ')\n",
    ),
}

# Autograded points of each case, checked by tests/course/test_adversarial.py.
# ``zeros`` earns the Activation base class and the checks that zeros cannot
# fail (unchanged arguments, speed, subclassing, finite differences of a
# constant function, training with Tanh). An attack in ReLU.forward also loses
# the ReLU checks that need a working forward.
ZEROS_SCORE = 29.0
EXPECTED_SCORES = {
    "zeros": ZEROS_SCORE,
    **{name: ZEROS_SCORE for name in ATTACKS},
    "always-equal-object": ZEROS_SCORE - 4,
    "lying-ndarray-subclass": ZEROS_SCORE,
    "exit-in-forward": ZEROS_SCORE - 5,
    "segfault-in-forward": ZEROS_SCORE - 5,
    "loop-ignoring-signals": ZEROS_SCORE - 5,
    "memory-bomb": ZEROS_SCORE - 4,
    "input-in-forward": ZEROS_SCORE - 4,
}


def zeros_solutions(solutions: dict[str, str]) -> dict[str, str]:
    """Return the instructor's solution with every activation returning zeros."""
    result = dict(solutions)
    for grade_id in (
        "relu_solution",
        "leaky_relu_solution",
        "sigmoid_solution",
        "tanh_solution",
        "gelu_solution",
    ):
        source = result[grade_id]
        head, _, rest = source.partition("    def forward(self, x):\n")
        _, _, tail = rest.partition("    def backward(self, grad_output):\n")
        result[grade_id] = (
            head
            + "    def forward(self, x):\n"
            + ZEROS_FORWARD
            + "\n"
            + "    def backward(self, grad_output):\n"
            + ZEROS_BACKWARD
        )
    return result


def build(release_nb, solutions: dict[str, str], extra: str = "", forward: str = ""):
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            source = solutions[grade_id]
            if forward and grade_id == "relu_solution":
                source = source.replace(
                    ZEROS_FORWARD, "        self.x = x\n" + forward, 1
                )
            cell.source = source
    if extra:
        nb.cells.insert(2, nbformat.v4.new_code_cell(extra, id="attack"))
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the adversarial submissions.")
    parser.add_argument(
        "--output", type=Path, default=OUTPUT, help="folder to write the submissions to"
    )
    output = parser.parse_args(argv).output

    release_nb = nbformat.read(RELEASE, as_version=4)
    solutions = zeros_solutions(solutions_by_id(nbformat.read(SOURCE, as_version=4)))
    cases = {
        "zeros": (
            "every activation returns zeros; no attack",
            build(release_nb, solutions),
        )
    }
    for name, (attack, code) in ATTACKS.items():
        cases[name] = (attack, build(release_nb, solutions, extra=code))
    for name, (attack, code) in FORWARD_ATTACKS.items():
        cases[name] = (attack, build(release_nb, solutions, forward=code))

    for name, (_, nb) in cases.items():
        path = output / name / "activations.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
    listing = {
        name: {"attack": attack, "expected_score": EXPECTED_SCORES[name]}
        for name, (attack, _) in cases.items()
    }
    (output / "attacks.json").write_text(json.dumps(listing, indent=2) + "\n")
    print(f"wrote {len(cases)} submissions to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
