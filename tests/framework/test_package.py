"""Tests for the public exports of minitorch and its import dependencies."""

import subprocess
import sys

import minitorch

PUBLIC_NAMES = [
    "Module",
    "Linear",
    "Sequential",
    "MSELoss",
    "SoftmaxCrossEntropyLoss",
    "SGD",
    "numerical_gradient",
    "check_module_gradient",
    "assert_module_gradient",
    "check_parameter_gradients",
    "make_spiral",
]

# Prints the top-level names of the modules that `import minitorch` adds.
NEW_MODULES_SCRIPT = """
import sys
before = set(sys.modules)
import minitorch
added = {name.split(".")[0] for name in set(sys.modules) - before}
print("\\n".join(sorted(added)))
"""


def test_package_exports_public_api():
    for name in PUBLIC_NAMES:
        assert hasattr(minitorch, name), name
        assert name in minitorch.__all__, name


def test_package_version():
    assert minitorch.__version__ == "0.1.0"


def test_package_imports_only_numpy_and_stdlib():
    completed = subprocess.run(
        [sys.executable, "-c", NEW_MODULES_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
    )
    added = set(completed.stdout.split())

    assert "minitorch" in added
    assert "numpy" in added
    for forbidden in ("torch", "matplotlib", "minitorch_grading"):
        assert forbidden not in added, forbidden
    allowed = set(sys.stdlib_module_names) | {"numpy", "minitorch"}
    assert added - allowed == set()
