"""Run notebook cells for ``minitorch.selfcheck`` in a fresh interpreter.

Started as ``python -m minitorch._selfcheck_child REQUEST PROGRESS``. REQUEST is
a JSON file with the cells to run, ``{"cells": [{"index": 3, "source": "..."}]}``.
Their source is plain Python, with IPython syntax already turned into calls to
``get_ipython()``. PROGRESS receives one JSON line when each cell starts and one
when it ends, so the parent process can tell which cell hung or ended the
process if no end line follows.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any, TextIO

MAX_MESSAGE_CHARS = 2000

# Cell magics whose body is ordinary Python that still has to run.
RUN_BODY_MAGICS = frozenset({"time", "timeit", "capture", "prun"})


class IPythonStub:
    """Replacement for ``get_ipython()``: line magics and shell commands do
    nothing, and the body of a timing or capturing cell magic runs as Python."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace

    def run_line_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def run_cell_magic(self, name: str, line: str, cell: str, *args: Any) -> None:
        if name in RUN_BODY_MAGICS:
            exec(compile(cell, "<cell magic>", "exec"), self.namespace)

    def system(self, *args: Any, **kwargs: Any) -> None:
        return None

    def getoutput(self, *args: Any, **kwargs: Any) -> list[str]:
        return []


def describe_error(error: BaseException) -> dict[str, str]:
    """Return the error's type, message and the traceback of its cell frames."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename.startswith("<cell")
    ]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(error), error)
    try:
        message = str(error)
    except Exception:  # an exception whose __str__ fails still gets reported
        message = "<message could not be converted to text>"
    return {
        "type": type(error).__name__,
        "message": message[:MAX_MESSAGE_CHARS],
        "traceback": "".join(lines)[-MAX_MESSAGE_CHARS:],
    }


def write_event(progress: TextIO, event: dict[str, Any]) -> None:
    progress.write(json.dumps(event) + "\n")
    progress.flush()


def run_cells(request_path: str, progress_path: str) -> None:
    """Run every requested cell in one namespace, recording each outcome."""
    with open(request_path, encoding="utf-8") as file:
        cells = json.load(file)["cells"]
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": __builtins__,
        "display": lambda *args, **kwargs: None,
    }
    stub = IPythonStub(namespace)
    namespace["get_ipython"] = lambda: stub

    with open(progress_path, "a", encoding="utf-8") as progress:
        for cell in cells:
            index = cell["index"]
            write_event(progress, {"event": "start", "index": index})
            try:
                code = compile(cell["source"], f"<cell {index}>", "exec")
                exec(code, namespace)
            except BaseException as error:  # noqa: BLE001 - SystemExit too
                # A cell that calls sys.exit() or raises KeyboardInterrupt is
                # reported like any other error, and the next cell still runs.
                result = describe_error(error)
            else:
                result = None
            write_event(progress, {"event": "end", "index": index, "error": result})


if __name__ == "__main__":
    run_cells(sys.argv[1], sys.argv[2])
