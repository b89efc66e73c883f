"""Select the code cells of an nbgrader notebook that the grader runs.

Shared by the nbgrader preprocessor and the student self-check. Neither this
module nor its imports load the hidden checks.
"""

from __future__ import annotations

import ast

from IPython.core.inputtransformer2 import TransformerManager
from nbformat import NotebookNode
from nbgrader import utils

from minitorch.selfcheck import SKIP_TAGS as FRAMEWORK_SKIP_TAGS

# Tags of cells the grader does not run: plots and the notebook's self-check
# cell. The students' own self-check (minitorch.selfcheck) skips the same tags.
SKIP_TAGS: tuple[str, ...] = tuple(sorted(FRAMEWORK_SKIP_TAGS))


def is_test_cell(cell: NotebookNode) -> bool:
    """Return whether ``cell`` is an autograded test cell (graded, not a solution)."""
    return (
        cell.cell_type == "code"
        and utils.is_grade(cell)
        and not utils.is_solution(cell)
    )


def submission_code(nb: NotebookNode, skip_tags: set[str]) -> list[tuple[int, str]]:
    """Return the code cells to run, as (cell index, Python source) pairs.

    Test cells are left out because the hidden checks replace them, and so are
    cells tagged with one of ``skip_tags`` (plots and demonstrations). IPython
    syntax such as ``%matplotlib inline`` is turned into plain Python here, by
    IPython's own transformer, so the worker needs no IPython.
    """
    transformer = TransformerManager()
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        if skip_tags & set(cell.get("metadata", {}).get("tags", [])):
            continue
        try:
            source = transformer.transform_cell(cell.source)
        except SyntaxError:
            source = cell.source  # the worker reports the syntax error
        cells.append((index, source))
    return cells


def skipped_names(nb: NotebookNode, skip_tags: set[str]) -> frozenset[str]:
    """Names that the skipped cells define at top level (imports, defs, assignments).

    Submission code that uses one of them works in Jupyter but not when graded,
    so the grader's NameError message points at the skipped cell.
    """
    transformer = TransformerManager()
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not skip_tags & set(cell.get("metadata", {}).get("tags", [])):
            continue
        try:
            tree = ast.parse(transformer.transform_cell(cell.source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update(
                    (alias.asname or alias.name).split(".")[0] for alias in node.names
                )
            elif isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(names)
