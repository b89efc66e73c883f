"""Tests for the message framing in minitorch_grading.worker.wire."""

from __future__ import annotations

import io
import json
import math
import struct

import numpy as np
import pytest

from minitorch_grading.worker.wire import WireError, read_message, write_message

MAX_HEADER_BYTES = 1 << 16
MAX_ARRAY_BYTES = 1 << 20

ALLOWED_DTYPES = [
    np.bool_,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
]
SHAPES = [(), (5,), (2, 3), (2, 3, 4), (1, 2, 3, 2), (0,), (3, 0, 2)]

# Arrays that must never cross the wire, with the dtype string a forged header
# would carry for them.
REJECTED_ARRAYS = {
    "object": np.array([1, "a", None], dtype=object),
    "unicode": np.array(["ab", "c"]),
    "bytes": np.array([b"ab", b"c"]),
    "structured": np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]),
    "datetime": np.array(["2024-01-01"], dtype="datetime64[D]"),
    "timedelta": np.array([3], dtype="timedelta64[s]"),
    "complex64": np.array([1 + 2j], dtype=np.complex64),
    "complex128": np.array([1 + 2j], dtype=np.complex128),
    "void": np.zeros(2, dtype="V4"),
}
REJECTED_DTYPE_STRINGS = {
    "object": "|O",
    "unicode": "<U3",
    "bytes": "|S3",
    "structured": "<f8,<i4",
    "subarray": "(2,)<f8",
    "datetime": "<M8[ns]",
    "timedelta": "<m8[s]",
    "complex64": "<c8",
    "complex128": "<c16",
    "void": "|V8",
}


def encode(header: dict, arrays: list[np.ndarray] = ()) -> io.BytesIO:
    stream = io.BytesIO()
    write_message(stream, header, list(arrays))
    stream.seek(0)
    return stream


def forge(header: object, payload: bytes = b"", raw: bytes | None = None) -> io.BytesIO:
    """Build a message by hand, bypassing every check that write_message makes."""
    body = raw if raw is not None else json.dumps(header).encode("utf-8")
    return io.BytesIO(struct.pack(">Q", len(body)) + body + payload)


def read(
    stream: io.BytesIO,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_array_bytes: int = MAX_ARRAY_BYTES,
) -> tuple[dict, list[np.ndarray]]:
    return read_message(
        stream, max_header_bytes=max_header_bytes, max_array_bytes=max_array_bytes
    )


def sample_array(dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(7)
    if dtype is np.bool_:
        return rng.random(shape) > 0.5
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return np.asarray(rng.normal(scale=100.0, size=shape)).astype(dtype)


class ChunkedStream(io.RawIOBase):
    """Binary stream whose read returns at most one byte, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self.data.read(min(size, 1))


# Round trips -----------------------------------------------------------------


def test_wire_header_round_trips() -> None:
    header = {"op": "call", "args": [1, 2.5, None, True, "text"], "nested": {"k": []}}

    received, arrays = read(encode(header))

    assert received == dict(header, arrays=[])
    assert arrays == []


def test_wire_header_keeps_non_finite_floats() -> None:
    received, _ = read(encode({"values": [math.inf, -math.inf, math.nan]}))

    assert received["values"][:2] == [math.inf, -math.inf]
    assert math.isnan(received["values"][2])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALLOWED_DTYPES, ids=lambda d: np.dtype(d).name)
def test_wire_array_round_trips(dtype: type, shape: tuple[int, ...]) -> None:
    array = sample_array(dtype, shape)

    _, (received,) = read(encode({}, [array]))

    assert received.dtype == array.dtype
    assert received.shape == shape
    np.testing.assert_array_equal(received, array)


def test_wire_zero_dim_array_stays_zero_dim() -> None:
    _, (received,) = read(encode({}, [np.array(3.5)]))

    assert received.shape == ()
    assert received.ndim == 0
    assert received[()] == 3.5


def test_wire_numpy_scalar_becomes_zero_dim() -> None:
    _, (received,) = read(encode({}, [np.float32(1.5)]))

    assert isinstance(received, np.ndarray)
    assert received.shape == ()
    assert received.dtype == np.float32


def test_wire_big_endian_array_keeps_values() -> None:
    array = np.arange(6, dtype=">f8").reshape(2, 3)

    _, (received,) = read(encode({}, [array]))

    np.testing.assert_array_equal(received, array)


NON_CONTIGUOUS = {
    "step": lambda a: a[:, ::2],
    "transpose": lambda a: a.T,
    "fortran": np.asfortranarray,
    "reversed": lambda a: a[::-1, ::-1],
    "column": lambda a: a[:, 1],
    "broadcast": lambda a: np.broadcast_to(a[0], (3, 4)),
}


@pytest.mark.parametrize("make_view", NON_CONTIGUOUS.values(), ids=NON_CONTIGUOUS)
def test_wire_non_contiguous_array_round_trips(make_view) -> None:
    view = make_view(np.arange(12, dtype=np.float64).reshape(3, 4))

    _, (received,) = read(encode({}, [view]))

    assert received.shape == view.shape
    np.testing.assert_array_equal(received, view)


def test_wire_received_arrays_are_writable() -> None:
    _, (received,) = read(encode({}, [np.arange(3)]))

    received[0] = 10

    assert received[0] == 10


def test_wire_several_arrays_keep_their_order() -> None:
    arrays = [np.arange(3, dtype=np.int8), np.array(2.0), np.ones((2, 2), bool)]

    header, received = read(encode({"op": "x"}, arrays))

    assert [a.dtype for a in received] == [a.dtype for a in arrays]
    assert [a.shape for a in received] == [a.shape for a in arrays]
    assert header["arrays"] == [
        {"dtype": "|i1", "shape": [3]},
        {"dtype": "<f8", "shape": []},
        {"dtype": "|b1", "shape": [2, 2]},
    ]


def test_wire_messages_read_one_after_another() -> None:
    stream = io.BytesIO()
    write_message(stream, {"n": 1}, [np.arange(4)])
    write_message(stream, {"n": 2}, [np.arange(2.0)])
    stream.seek(0)

    first, (first_array,) = read(stream)
    second, (second_array,) = read(stream)

    assert (first["n"], second["n"]) == (1, 2)
    np.testing.assert_array_equal(first_array, np.arange(4))
    np.testing.assert_array_equal(second_array, np.arange(2.0))


def test_wire_short_reads_are_completed() -> None:
    data = encode({"op": "x"}, [np.arange(5, dtype=np.int32)]).getvalue()

    header, (received,) = read(ChunkedStream(data))

    assert header["op"] == "x"
    np.testing.assert_array_equal(received, np.arange(5))


# Rejected dtypes ---------------------------------------------------------------


@pytest.mark.parametrize("array", REJECTED_ARRAYS.values(), ids=REJECTED_ARRAYS)
def test_wire_write_rejects_dtype(array: np.ndarray) -> None:
    with pytest.raises(WireError, match=r"arrays of dtype .* cannot be sent"):
        write_message(io.BytesIO(), {}, [array])


def test_wire_write_rejection_writes_nothing() -> None:
    stream = io.BytesIO()

    with pytest.raises(WireError, match="cannot be sent"):
        write_message(stream, {}, [np.arange(3), REJECTED_ARRAYS["object"]])

    assert stream.getvalue() == b""


@pytest.mark.parametrize(
    "dtype", REJECTED_DTYPE_STRINGS.values(), ids=REJECTED_DTYPE_STRINGS
)
def test_wire_read_rejects_forged_dtype(dtype: str) -> None:
    header = {"arrays": [{"dtype": dtype, "shape": [2]}]}
    stream = forge(header, payload=bytes(64))
    header_end = len(stream.getvalue()) - 64

    with pytest.raises(WireError, match=r"arrays of dtype .* are not accepted"):
        read(stream)

    assert stream.tell() == header_end


@pytest.mark.parametrize(
    "description",
    [
        {"shape": [1]},
        {"dtype": "garbage", "shape": [1]},
        {"dtype": "10000000000000000000000f8", "shape": [1]},
    ],
    ids=["missing", "unknown", "huge-subarray"],
)
def test_wire_read_rejects_invalid_dtype(description: dict) -> None:
    with pytest.raises(WireError, match="invalid array dtype"):
        read(forge({"arrays": [description]}))


# Size limits -------------------------------------------------------------------


def test_wire_header_over_limit_rejected_before_reading() -> None:
    stream = encode({"text": "x" * 200})

    with pytest.raises(
        WireError, match=r"message header of \d+ bytes exceeds the limit of 100 bytes"
    ):
        read(stream, max_header_bytes=100)

    assert stream.tell() == 8


def test_wire_header_at_limit_accepted() -> None:
    stream = encode({"text": "x"})
    header_length = len(stream.getvalue()) - 8

    header, _ = read(stream, max_header_bytes=header_length)

    assert header["text"] == "x"


def test_wire_forged_header_length_rejected() -> None:
    stream = io.BytesIO(struct.pack(">Q", 2**63) + b"{}")

    with pytest.raises(WireError, match="exceeds the limit"):
        read(stream)


def test_wire_array_over_limit_rejected_before_payload() -> None:
    stream = encode({}, [np.zeros(200, dtype=np.float64)])
    header_end = len(stream.getvalue()) - 1600

    with pytest.raises(
        WireError,
        match=r"arrays in the message total at least 1600 bytes, which exceeds the "
        r"limit of 1000 bytes \(at the array of shape \(200,\) and dtype float64\)",
    ):
        read(stream, max_array_bytes=1000)

    assert stream.tell() == header_end


def test_wire_total_over_limit_rejected_early() -> None:
    arrays = [np.zeros(100, dtype=np.uint8), np.zeros(100, dtype=np.uint8)]
    stream = encode({}, arrays)
    header_end = len(stream.getvalue()) - 200

    with pytest.raises(
        WireError, match="total at least 200 bytes, which exceeds the limit of 150"
    ):
        read(stream, max_array_bytes=150)

    assert stream.tell() == header_end


def test_wire_array_total_at_limit_accepted() -> None:
    arrays = [np.zeros(100, dtype=np.uint8), np.zeros(50, dtype=np.uint8)]

    _, received = read(encode({}, arrays), max_array_bytes=150)

    assert [a.size for a in received] == [100, 50]


def test_wire_forged_huge_shape_rejected() -> None:
    stream = forge({"arrays": [{"dtype": "<f8", "shape": [2**40, 2**40]}]})

    with pytest.raises(
        WireError, match="total at least 9671406556917033397649408 bytes, which exceeds"
    ):
        read(stream)


# Malformed shapes --------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [[-1], [2, -3], [True], [1.5], ["2"], [None], [[2]], "3", 3, None, [1] * 33],
    ids=[
        "negative",
        "negative-inner",
        "bool",
        "float",
        "string-item",
        "null-item",
        "nested",
        "string",
        "int",
        "null",
        "rank-33",
    ],
)
def test_wire_read_rejects_invalid_shape(shape: object) -> None:
    stream = forge({"arrays": [{"dtype": "<f8", "shape": shape}]}, payload=bytes(8))

    with pytest.raises(WireError, match="invalid array shape"):
        read(stream)


def test_wire_read_rejects_missing_shape() -> None:
    with pytest.raises(WireError, match="invalid array shape None"):
        read(forge({"arrays": [{"dtype": "<f8"}]}))


@pytest.mark.parametrize(
    "shape", [[0, 2**70], [0, 2**62], [0] + [2**31] * 4], ids=["2^70", "2^62", "4x2^31"]
)
def test_wire_read_rejects_unrepresentable_empty_shape(shape: list[int]) -> None:
    with pytest.raises(WireError, match="invalid array shape"):
        read(forge({"arrays": [{"dtype": "<f8", "shape": shape}]}))


def test_wire_read_accepts_rank_32_shape() -> None:
    stream = forge({"arrays": [{"dtype": "|u1", "shape": [1] * 32}]}, bytes(1))

    _, (received,) = read(stream)

    assert received.ndim == 32


# Malformed headers -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"a": 1', b"\xff\xfe{}", b"", b'{"n": ' + b"1" * 5000 + b"}"],
    ids=["syntax", "unterminated", "not-utf8", "empty", "long-integer"],
)
def test_wire_read_rejects_invalid_json(body: bytes) -> None:
    with pytest.raises(WireError, match="message header is not valid JSON"):
        read(forge(None, raw=body))


def test_wire_read_rejects_deeply_nested_json() -> None:
    body = b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"

    with pytest.raises(WireError, match="nested too deeply"):
        read(forge(None, raw=body), max_header_bytes=len(body))


@pytest.mark.parametrize(
    "body", [b"[1, 2]", b"3", b'"text"', b"null", b"true"], ids=str
)
def test_wire_read_rejects_non_object_header(body: bytes) -> None:
    with pytest.raises(WireError, match="message header must be a JSON object"):
        read(forge(None, raw=body))


@pytest.mark.parametrize("arrays", [{}, "x", 3, None], ids=str)
def test_wire_read_rejects_arrays_field_not_list(arrays: object) -> None:
    with pytest.raises(WireError, match="field 'arrays' must be a list"):
        read(forge({"arrays": arrays}))


@pytest.mark.parametrize("description", [3, "<f8", [2], None], ids=str)
def test_wire_read_rejects_description_not_object(description: object) -> None:
    with pytest.raises(WireError, match="array description must be an object"):
        read(forge({"arrays": [description]}))


# Truncated streams -------------------------------------------------------------


def test_wire_empty_stream_raises_eof() -> None:
    with pytest.raises(EOFError, match="stream closed with 8 of 8 bytes unread"):
        read(io.BytesIO(b""))


def test_wire_truncated_length_raises_eof() -> None:
    with pytest.raises(EOFError, match="stream closed with 5 of 8 bytes unread"):
        read(io.BytesIO(b"\x00\x00\x00"))


def test_wire_truncated_header_raises_eof() -> None:
    data = encode({"op": "x"}).getvalue()

    with pytest.raises(EOFError, match="stream closed with 3 of"):
        read(io.BytesIO(data[:-3]))


def test_wire_truncated_payload_raises_eof() -> None:
    data = encode({}, [np.arange(4, dtype=np.int64)]).getvalue()

    with pytest.raises(EOFError, match="stream closed with 5 of 32 bytes unread"):
        read(io.BytesIO(data[:-5]))
