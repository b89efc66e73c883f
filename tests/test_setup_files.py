"""The setup files agree with each other."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def pip_requirements(path: Path) -> set[str]:
    """Requirement lines of a pip file, following -r includes."""
    lines: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            lines |= pip_requirements(path.parent / line[3:].strip())
        else:
            lines.add(line)
    return lines


def conda_pip_requirements() -> set[str]:
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    for dependency in environment["dependencies"]:
        if isinstance(dependency, dict) and "pip" in dependency:
            return set(dependency["pip"])
    raise AssertionError("environment.yml has no pip section")


def test_environment_yml_matches_requirements():
    assert conda_pip_requirements() == pip_requirements(REPO / "requirements-test.txt")


def test_environment_yml_pins_python_311():
    environment = yaml.safe_load((REPO / "environment.yml").read_text())

    assert "python=3.11" in environment["dependencies"]


def test_requirements_pin_nbgrader_and_torch():
    grading = (REPO / "grading" / "pyproject.toml").read_text()

    assert '"nbgrader==0.9.6"' in grading
    assert "torch==2.13.0" in pip_requirements(REPO / "requirements-test.txt")


def test_ci_runs_make_test():
    script = (REPO / ".ci" / "run").read_text()

    assert "make test" in script
