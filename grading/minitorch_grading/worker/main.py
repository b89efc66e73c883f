"""Worker process that runs one submission's code and serves the grader's requests.

Started by ``minitorch_grading.sandbox`` as ``python -I main.py FRAMEWORK_DIR``.
It imports only the standard library, numpy and ``wire.py`` next to it, never
the grader's checks or reference implementations. Requests arrive on standard
input and responses leave on standard output. Before any submission code runs,
both streams move to private descriptors and descriptors 0, 1 and 2 point at
``/dev/null``, so ``print`` and ``input`` in submission code cannot reach the
protocol.
"""

from __future__ import annotations

import builtins
import os
import sys
import time
import traceback
import types
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import wire  # noqa: E402

MAX_REQUEST_HEADER_BYTES = 1 << 20
MAX_REQUEST_ARRAY_BYTES = 256 << 20
MAX_TEXT_CHARS = 2000
MAX_LIST_ITEMS = 20_000


# Cell magics whose body is ordinary Python that should still run.
_RUN_BODY_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


class _IPythonStub:
    """Stands in for ``get_ipython()``: line magics do nothing, and the body
    of a timing or capturing cell magic runs as plain Python."""

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace

    def run_line_magic(self, *args, **kwargs):
        return None

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        if name in _RUN_BODY_MAGICS:
            exec(compile(cell, "<cell magic>", "exec"), self.namespace)
        return None

    def system(self, *args, **kwargs):
        return None

    def getoutput(self, *args, **kwargs):
        return []


def _shorten(text: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return text[: MAX_TEXT_CHARS - 20] + " ... (shortened)"


def _describe_error(error: BaseException) -> dict:
    """Summarise an exception raised by submission code, keeping its frames only."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename.startswith("<cell")
    ]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(error), error)
    try:
        message = str(error)
    except Exception:  # a hostile __str__ must not stop the worker
        message = "<message could not be converted to text>"
    return {
        "type": type(error).__name__,
        "message": _shorten(message),
        "traceback": _shorten("".join(lines)),
    }


class Session:
    """The submission's global namespace and the objects handed to the grader."""

    def __init__(self) -> None:
        self.namespace: dict = {
            "__name__": "__main__",
            "__builtins__": __builtins__,
            "get_ipython": lambda: stub,
            "display": lambda *args, **kwargs: None,
        }
        stub = _IPythonStub(self.namespace)
        self.injected = frozenset(self.namespace)
        self.objects: dict[int, object] = {}
        self.next_handle = 1

    def pack(self, value, arrays: list) -> object:
        """Encode ``value`` as JSON-ready data, appending arrays to ``arrays``."""
        if value is None or isinstance(value, (bool, str)):
            return value if not isinstance(value, str) else _shorten(value)
        if isinstance(value, (int, float)) and type(value) in (int, float):
            return value
        if isinstance(value, (np.ndarray, np.generic)):
            array = np.asarray(value)
            if isinstance(array, np.ndarray) and type(array) is not np.ndarray:
                array = array.view(np.ndarray)
            if array.dtype.kind not in wire.ALLOWED_KINDS:
                return {"$unsupported": f"an ndarray of dtype {array.dtype}"}
            arrays.append(array)
            return {"$array": len(arrays) - 1}
        if (
            type(value) in (list, tuple)
            and value
            and all(
                type(item) in (int, float) or isinstance(item, np.floating)
                for item in value
            )
        ):
            # A long list of numbers, such as a loss history, travels as one
            # float64 array instead of one JSON number or 0-d array each.
            arrays.append(np.array(value, dtype=np.float64))
            return {"$numbers": len(arrays) - 1, "tuple": type(value) is tuple}
        if type(value) in (list, tuple):
            if len(value) > MAX_LIST_ITEMS:
                kind = type(value).__name__
                return {"$unsupported": f"a {kind} of {len(value)} items"}
            items = [self.pack(item, arrays) for item in value]
            return items if type(value) is list else {"$tuple": items}
        handle = self.next_handle
        self.next_handle += 1
        self.objects[handle] = value
        return {"$handle": handle, "type": type(value).__qualname__}

    def unpack(self, value, arrays: list) -> object:
        """Decode arguments sent by the grader."""
        if isinstance(value, list):
            return [self.unpack(item, arrays) for item in value]
        if isinstance(value, dict):
            if "$array" in value:
                return arrays[value["$array"]]
            if "$handle" in value:
                return self.objects[value["$handle"]]
            if "$tuple" in value:
                return tuple(self.unpack(item, arrays) for item in value["$tuple"])
            return {key: self.unpack(item, arrays) for key, item in value.items()}
        return value

    def resolve(self, target: dict) -> object:
        if "global" in target:
            name = target["global"]
            if name not in self.namespace:
                raise NameError(f"name '{name}' is not defined")
            return self.namespace[name]
        return self.objects[target["$handle"]]

    # Requests -------------------------------------------------------------

    def op_load(self, request: dict, arrays: list) -> dict:
        results = []
        for cell in request["cells"]:
            index = cell["index"]
            try:
                code = compile(cell["source"], f"<cell {index}>", "exec")
                exec(code, self.namespace)
            except BaseException as error:  # noqa: BLE001 - report, keep going
                # KeyboardInterrupt and SystemExit too: the grader, not submission
                # code, decides when this process stops.
                results.append({"index": index, "error": _describe_error(error)})
            else:
                results.append({"index": index, "error": None})
        return {"cells": results}

    def op_inspect(self, request: dict, arrays: list) -> dict:
        name = request["name"]
        classes = sorted(
            key
            for key, value in self.namespace.items()
            if isinstance(value, type)
            and not key.startswith("_")
            and key not in self.injected
            and getattr(value, "__module__", None) == "__main__"
        )
        functions = sorted(
            key
            for key, value in self.namespace.items()
            if isinstance(value, types.FunctionType)
            and not key.startswith("_")
            and key not in self.injected
            and getattr(value, "__module__", None) == "__main__"
        )
        info: dict = {"classes": classes, "functions": functions, "kind": "missing"}
        if name in self.namespace:
            value = self.namespace[name]
            if isinstance(value, type):
                info["kind"] = "class"
                info["mro"] = [
                    f"{c.__module__}.{c.__qualname__}" for c in value.__mro__
                ]
                info["abstract"] = sorted(getattr(value, "__abstractmethods__", ()))
            elif callable(value):
                info["kind"] = "function"
            else:
                info["kind"] = "other"
                info["type"] = type(value).__qualname__
        return info

    def op_call(self, request: dict, arrays: list) -> dict:
        target = self.resolve(request["target"])
        method = request.get("method")
        function = getattr(target, method) if method else target
        args = self.unpack(request.get("args", []), arrays)
        kwargs = self.unpack(request.get("kwargs", {}), arrays)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # numpy's default error handling, whatever submission code set.
            with np.errstate(
                over="warn", divide="warn", invalid="warn", under="ignore"
            ):
                started = time.perf_counter()
                result = function(*args, **kwargs)
                seconds = time.perf_counter() - started

        out_arrays: list = []
        if request.get("brief"):
            # Only what the grader asked to know: an array's dtype and shape,
            # not its values, and not the arguments afterwards.
            value = self.pack(result, out_arrays)
            if isinstance(value, dict) and "$array" in value:
                array = out_arrays.pop()
                value = {
                    "$array_info": {
                        "dtype": array.dtype.str,
                        "shape": list(array.shape),
                    }
                }
            args_after = []
        else:
            value = self.pack(result, out_arrays)
            args_after = [self.pack(arg, out_arrays) for arg in args]
        response = {
            "value": value,
            "args_after": args_after,
            "warnings": [
                _shorten(f"{w.category.__name__}: {w.message}") for w in caught[:20]
            ],
            "seconds": seconds,
        }
        response["_arrays"] = out_arrays
        return response

    def op_getattr(self, request: dict, arrays: list) -> dict:
        target = self.resolve(request["target"])
        out_arrays: list = []
        value = getattr(target, request["name"])
        return {"value": self.pack(value, out_arrays), "_arrays": out_arrays}

    def op_probe(self, request: dict, arrays: list) -> dict:
        """Instantiate a minimal concrete subclass of the named class."""
        base = self.resolve({"global": request["name"]})
        probe_class = type(
            "_GraderProbe",
            (base,),
            {"forward": lambda self, x: x, "backward": lambda self, grad: grad},
        )
        out_arrays: list = []
        return {"value": self.pack(probe_class(), out_arrays), "_arrays": out_arrays}

    def op_isinstance(self, request: dict, arrays: list) -> dict:
        target = self.resolve(request["target"])
        return {
            "mro": [f"{c.__module__}.{c.__qualname__}" for c in type(target).__mro__]
        }


def _no_input(prompt: object = "") -> str:
    raise EOFError(
        "input() is not available while the notebook is graded: standard input is "
        "closed. Pass values as arguments instead."
    )


def _move_standard_streams() -> tuple:
    """Keep the protocol on private descriptors and point 0, 1, 2 at /dev/null."""
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    responses = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdin = open(os.devnull, encoding="utf-8")
    builtins.input = _no_input
    sys.stdout = open(os.devnull, "w", encoding="utf-8")
    sys.stderr = open(os.devnull, "w", encoding="utf-8")
    return requests, responses


def main() -> None:
    # The grader passes the folder its own minitorch comes from, so that both
    # processes use the same framework.
    if len(sys.argv) > 1:
        sys.path.insert(1, sys.argv[1])
    requests, responses = _move_standard_streams()
    session = Session()
    handlers = {
        "load": session.op_load,
        "inspect": session.op_inspect,
        "call": session.op_call,
        "getattr": session.op_getattr,
        "isinstance": session.op_isinstance,
        "probe": session.op_probe,
    }
    while True:
        try:
            request, arrays = wire.read_message(
                requests,
                max_header_bytes=MAX_REQUEST_HEADER_BYTES,
                max_array_bytes=MAX_REQUEST_ARRAY_BYTES,
            )
        except EOFError:
            return

        handler = handlers.get(request.get("op"))
        out_arrays: list = []
        try:
            if handler is None:
                raise ValueError(f"unknown request {request.get('op')!r}")
            response = handler(request, arrays)
            out_arrays = response.pop("_arrays", [])
            response["ok"] = True
        except BaseException as error:  # noqa: BLE001 - every failure is reported
            response = {"ok": False, "error": _describe_error(error)}
        try:
            wire.write_message(responses, response, out_arrays)
        except (TypeError, ValueError, RecursionError, wire.WireError) as error:
            # write_message encodes the whole message before writing any byte,
            # so the stream is still intact. json.dumps raises ValueError for an
            # int of more than sys.get_int_max_str_digits() digits.
            wire.write_message(
                responses, {"ok": False, "error": _describe_error(error)}
            )


if __name__ == "__main__":
    main()
