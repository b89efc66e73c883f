"""Framing of the messages between the grader and a worker process.

A message is a JSON header followed by the raw bytes of zero or more numeric
arrays. Nothing is pickled, so reading a message never runs code. The same file
is imported by the grader (as ``minitorch_grading.worker.wire``) and by the
worker script (as a plain module next to it), which imports nothing else of the
grading package.

Layout of one message::

    8 bytes   big-endian length H of the header
    H bytes   UTF-8 JSON object; its "arrays" entry lists {"dtype", "shape"}
    ...       the C-ordered bytes of each listed array, one after another
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

import numpy as np

# Array kinds that may cross the wire: booleans, integers, unsigned integers and
# floats. Object, string, structured and datetime arrays are rejected because
# they either carry Python objects or mean nothing to a numeric check.
ALLOWED_KINDS = frozenset("biuf")

_LENGTH = struct.Struct(">Q")


class WireError(Exception):
    """A message that breaks the framing rules or the size limits."""


def encode_array(array: np.ndarray) -> tuple[dict[str, Any], bytes]:
    """Describe ``array`` and return its description with its raw bytes."""
    # np.ascontiguousarray would turn a 0-d array into shape (1,).
    if not array.flags.c_contiguous:
        array = array.copy(order="C")
    if array.dtype.kind not in ALLOWED_KINDS:
        raise WireError(f"arrays of dtype {array.dtype} cannot be sent")
    description = {"dtype": array.dtype.str, "shape": list(array.shape)}
    return description, array.tobytes()


def write_message(
    stream: BinaryIO, header: dict[str, Any], arrays: list[np.ndarray] = ()
) -> None:
    """Write one message and flush the stream."""
    descriptions = []
    payloads = []
    for array in arrays:
        description, payload = encode_array(array)
        descriptions.append(description)
        payloads.append(payload)

    header = dict(header, arrays=descriptions)
    body = json.dumps(header, allow_nan=True).encode("utf-8")
    stream.write(_LENGTH.pack(len(body)))
    stream.write(body)
    for payload in payloads:
        stream.write(payload)
    stream.flush()


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError(f"stream closed with {remaining} of {size} bytes unread")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def describe_layout(description: Any) -> tuple[np.dtype, tuple, int]:
    """Check one array description and return its dtype, shape and byte count."""
    if not isinstance(description, dict):
        raise WireError(f"array description must be an object, got {description!r}")

    try:
        dtype = np.dtype(str(description["dtype"]))
    except (KeyError, TypeError, ValueError) as error:
        raise WireError(f"invalid array dtype in {description!r}") from error
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None:
        raise WireError(f"arrays of dtype {dtype} are not accepted")

    shape = description.get("shape")
    if not isinstance(shape, list) or len(shape) > 32:
        raise WireError(f"invalid array shape {shape!r}")
    if not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise WireError(f"invalid array shape {shape!r}")

    size = 1
    for n in shape:
        size *= n
    if size == 0:
        # An empty array passes the byte limit whatever its other dimensions,
        # so check that numpy can represent the shape at all.
        try:
            np.empty(shape, dtype=dtype)
        except (ValueError, OverflowError) as error:
            raise WireError(f"invalid array shape {shape!r}: {error}") from error
    return dtype, tuple(shape), size * dtype.itemsize


def read_message(
    stream: BinaryIO, *, max_header_bytes: int, max_array_bytes: int
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Read one message, checking every size against the limits given.

    Raises:
        EOFError: the stream ended before a whole message arrived.
        WireError: the message is malformed or too large.
    """
    (length,) = _LENGTH.unpack(_read_exact(stream, _LENGTH.size))
    if length > max_header_bytes:
        raise WireError(
            f"message header of {length} bytes exceeds the limit of "
            f"{max_header_bytes} bytes"
        )
    body = _read_exact(stream, length)
    try:
        header = json.loads(body.decode("utf-8"))
    except ValueError as error:
        # ValueError covers UnicodeDecodeError, json.JSONDecodeError and integers
        # longer than Python's int-to-string digit limit.
        raise WireError(f"message header is not valid JSON: {error}") from error
    except RecursionError as error:
        raise WireError("message header is nested too deeply") from error
    if not isinstance(header, dict):
        raise WireError("message header must be a JSON object")

    descriptions = header.get("arrays", [])
    if not isinstance(descriptions, list):
        raise WireError("message header field 'arrays' must be a list")

    # Check every description against the total limit before reading any payload.
    layouts = []
    total = 0
    for description in descriptions:
        dtype, shape, nbytes = describe_layout(description)
        total += nbytes
        if total > max_array_bytes:
            raise WireError(
                f"arrays in the message total at least {total} bytes, which exceeds "
                f"the limit of {max_array_bytes} bytes (at the array of shape "
                f"{shape} and dtype {dtype})"
            )
        layouts.append((dtype, shape, nbytes))

    arrays = []
    for dtype, shape, nbytes in layouts:
        data = _read_exact(stream, nbytes)
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape).copy())
    return header, arrays
