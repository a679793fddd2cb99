"""Open Inference Protocol V2 tensors: decoding requests, encoding responses.

A request's tensors arrive as JSON (``data`` flat or nested, row-major) or, with the
binary tensor extension, as raw little-endian bytes after a JSON header whose length is
given by the ``Inference-Header-Content-Length`` header. Every check against the
declared ``shape`` is made before anything is sized from it: arrays are always built
from the data the client actually sent, and the shape only has to agree with it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

__all__ = [
    "DATATYPES",
    "InferRequest",
    "RequestError",
    "decode_request",
    "encode_response",
    "raw_tensor",
    "tensor_from_bytes",
    "tensor_from_values",
    "v2_datatype",
]

#: V2 datatype -> numpy dtype (little-endian, as the binary extension lays bytes out)
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("bool"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_BYTES = "BYTES"
_NUMPY_TO_V2 = {dt.name: name for name, dt in DATATYPES.items()}
# JSON numbers become these numpy kinds; which of them each V2 type takes from JSON
_KINDS = {"BOOL": "b", "UINT": "iu", "INT": "iu", "FP": "iuf"}
_MAX_RANK = 16
_MAX_DIM = 1 << 40


class RequestError(ValueError):
    """A malformed inference request; answered with 400 and ``{"error": message}``."""


def v2_datatype(dtype: str) -> str:
    """The V2 datatype of a signature dtype name (``float32`` -> ``FP32``; strings -> BYTES)."""
    if dtype in ("str", "string", "object", "bytes"):
        return _BYTES
    return _NUMPY_TO_V2.get(dtype, dtype.upper())


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A decoded request: checked arrays by input name, and what to send back how."""

    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: tuple[str, ...] | None  # None: every output
    binary: frozenset[str]  # outputs to return as raw bytes
    binary_all: bool


def decode_request(body: bytes, header_length: str | None) -> InferRequest:
    """Parse a V2 infer request body (JSON, or JSON header + binary tensors).

    Raises :class:`RequestError` saying which field or input is wrong and why.
    """
    head, tail = _split_body(body, header_length)
    try:
        doc = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise RequestError("the request body must be a JSON object with an 'inputs' list")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise RequestError("'inputs' must be a non-empty list of tensors")
    reader = _BinaryReader(tail)
    inputs: dict[str, np.ndarray] = {}
    for i, item in enumerate(raw_inputs):
        name, array = _decode_input(item, i, reader)
        if name in inputs:
            raise RequestError(f"input {name!r} is given twice")
        inputs[name] = array
    reader.check_consumed()
    outputs, binary = _requested_outputs(doc.get("outputs"))
    params = _parameters(doc.get("parameters"), "the request")
    binary_all = params.get("binary_data_output") is True
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError("'id' must be a string")
    return InferRequest(request_id, inputs, outputs, binary, binary_all)


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        size = int(header_length)
    except ValueError:
        size = -1
    if not 0 <= size <= len(body):
        raise RequestError(
            f"Inference-Header-Content-Length is {header_length!r}, but it must be a whole "
            f"number of bytes between 0 and the body's length ({len(body)})"
        )
    return body[:size], body[size:]


def _parameters(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"'parameters' of {where} must be a JSON object")
    return value


def _requested_outputs(value: Any) -> tuple[tuple[str, ...] | None, frozenset[str]]:
    if value is None:
        return None, frozenset()
    if not isinstance(value, list):
        raise RequestError("'outputs' must be a list of {\"name\": ...} objects")
    names: list[str] = []
    binary: set[str] = set()
    for item in value:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise RequestError("each requested output needs a 'name' string")
        if name in names:
            raise RequestError(f"output {name!r} is requested twice")
        names.append(name)
        if _parameters(item.get("parameters"), f"output {name!r}").get("binary_data") is True:
            binary.add(name)
    return tuple(names), frozenset(binary)


def _decode_input(item: Any, index: int, reader: _BinaryReader) -> tuple[str, np.ndarray]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise RequestError(f"inputs[{index}] must be an object with a 'name' string")
    name: str = item["name"]
    datatype = _datatype(name, item.get("datatype"))
    shape = _shape(name, item.get("shape"))
    count = math.prod(shape)
    params = _parameters(item.get("parameters"), f"input {name!r}")
    size = params.get("binary_data_size")
    if size is not None:
        if "data" in item:
            raise RequestError(f"input {name!r} has both 'data' and binary_data_size")
        return name, reader.tensor(name, datatype, shape, count, size)
    if "data" not in item:
        raise RequestError(f"input {name!r} has no 'data' (nor a binary_data_size parameter)")
    return name, _from_json(name, datatype, shape, count, item["data"])


def _datatype(name: str, datatype: Any) -> str:
    if datatype != _BYTES and datatype not in DATATYPES:
        known = ", ".join([*DATATYPES, _BYTES])
        raise RequestError(f"input {name!r}: datatype {datatype!r} is not one of {known}")
    return str(datatype)


def tensor_from_bytes(name: str, datatype: Any, shape: Any, raw: bytes) -> np.ndarray:
    """One input tensor from its raw little-endian bytes (BYTES elements length-prefixed),
    as gRPC's ``raw_input_contents`` carries it; the byte length must fit ``shape``."""
    kind = _datatype(name, datatype)
    dims = _shape(name, shape)
    return _BinaryReader(raw).tensor(name, kind, dims, math.prod(dims), len(raw))


def tensor_from_values(name: str, datatype: Any, shape: Any, values: list[Any]) -> np.ndarray:
    """One input tensor from a flat list of typed elements (gRPC's ``contents``); the
    element count is checked against ``shape`` before any array is built."""
    kind = _datatype(name, datatype)
    dims = _shape(name, shape)
    count = math.prod(dims)
    if len(values) != count:
        raise _mismatch(name, dims, count, len(values), "elements")
    return _from_json(name, kind, dims, count, values)


def raw_tensor(value: Any) -> tuple[str, list[int], bytes]:
    """An output's V2 datatype, shape and raw little-endian bytes."""
    array = np.asarray(value)
    return _output_datatype(array), list(array.shape), _raw_bytes(array)


def _shape(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or len(value) > _MAX_RANK:
        raise RequestError(
            f"input {name!r}: 'shape' must be a list of at most {_MAX_RANK} dimensions"
        )
    for dim in value:
        if type(dim) is not int or not 0 <= dim <= _MAX_DIM:
            raise RequestError(
                f"input {name!r}: shape {value} is invalid: every dimension must be a "
                "non-negative integer"
            )
    return tuple(value)


def _mismatch(name: str, shape: tuple[int, ...], count: int, given: int, unit: str) -> RequestError:
    return RequestError(
        f"input {name!r}: shape {list(shape)} holds {count} elements, but the data has "
        f"{given} {unit}"
    )


def _from_json(
    name: str, datatype: str, shape: tuple[int, ...], count: int, data: Any
) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    try:
        array = np.array(data)
    except (ValueError, TypeError, RecursionError):
        raise RequestError(
            f"input {name!r}: 'data' is ragged (nested lists of different lengths); send it "
            "flat in row-major order or nested to match the shape"
        ) from None
    if array.size != count:
        raise _mismatch(name, shape, count, int(array.size), "elements")
    if count == 0:
        raise RequestError(f"input {name!r}: shape {list(shape)} holds no elements")
    return _typed(name, datatype, array).reshape(shape)


def _typed(name: str, datatype: str, array: np.ndarray) -> np.ndarray:
    kind = array.dtype.kind
    if datatype == _BYTES:
        if kind != "U":
            raise RequestError(f"input {name!r}: BYTES data must be strings")
        return array
    family = datatype.rstrip("0123456789")
    if kind not in _KINDS[family]:
        what = {
            "U": "strings",
            "b": "booleans",
            "f": "numbers that are not integers of at most 64 bits",
        }.get(kind, "values that are not numbers (null, objects, or integers beyond 64 bits)")
        raise RequestError(f"input {name!r}: {datatype} data holds {what}")
    target = DATATYPES[datatype]
    if family in ("INT", "UINT"):
        info = np.iinfo(target)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise RequestError(f"input {name!r}: a value lies outside the range of {datatype}")
    elif family == "FP" and target.itemsize < 8 and array.size:
        limit = float(np.finfo(target).max)
        if float(np.abs(array).max()) > limit:
            raise RequestError(f"input {name!r}: a value overflows {datatype}")
    return array.astype(target, copy=False)


class _BinaryReader:
    """Hands out consecutive slices of the binary part of a request."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def tensor(
        self, name: str, datatype: str, shape: tuple[int, ...], count: int, size: Any
    ) -> np.ndarray:
        left = len(self.data) - self.offset
        if type(size) is not int or not 0 <= size <= left:
            raise RequestError(
                f"input {name!r}: binary_data_size {size!r} must be a whole number of bytes "
                f"no larger than the {left} bytes left in the body"
            )
        if count == 0:
            raise RequestError(f"input {name!r}: shape {list(shape)} holds no elements")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        if datatype == _BYTES:
            return _strings(name, chunk, shape, count)
        dtype = DATATYPES[datatype]
        if size != count * dtype.itemsize:
            raise _mismatch(name, shape, count, size, f"bytes ({dtype.itemsize} per element)")
        return np.frombuffer(chunk, dtype=dtype).reshape(shape)

    def check_consumed(self) -> None:
        left = len(self.data) - self.offset
        if left:
            raise RequestError(
                f"{left} bytes follow the binary tensors the inputs declare; check each "
                "input's binary_data_size and the Inference-Header-Content-Length header"
            )


def _strings(name: str, chunk: memoryview, shape: tuple[int, ...], count: int) -> np.ndarray:
    """BYTES elements: each a 4-byte little-endian length, then that many bytes."""
    if count * 4 > len(chunk):
        raise _mismatch(name, shape, count, len(chunk), "bytes (each element needs >= 4)")
    items: list[str] = []
    pos = 0
    raw = chunk.tobytes()
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise RequestError(f"input {name!r}: BYTES data ends inside a length prefix")
        (length,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + length > len(raw):
            raise RequestError(f"input {name!r}: a BYTES element runs past its data")
        try:
            items.append(raw[pos : pos + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(f"input {name!r}: a BYTES element is not UTF-8 text") from None
        pos += length
        if len(items) > count:
            break
    if len(items) != count:
        raise _mismatch(name, shape, count, len(items), "elements")
    return np.array(items).reshape(shape)


def encode_response(
    doc: dict[str, Any], outputs: list[tuple[str, Any]], binary: frozenset[str], binary_all: bool
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary tensors follow it."""
    tensors: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, value in outputs:
        array = np.asarray(value)
        tensor: dict[str, Any] = {
            "name": name,
            "datatype": _output_datatype(array),
            "shape": list(array.shape),
        }
        if binary_all or name in binary:
            raw = _raw_bytes(array)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = _json_data(array)
        tensors.append(tensor)
    doc["outputs"] = tensors
    head = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return head, None
    return b"".join([head, *chunks]), len(head)


def _output_datatype(array: np.ndarray) -> str:
    if array.dtype.kind in "UOS":
        return _BYTES
    return _NUMPY_TO_V2.get(array.dtype.name, array.dtype.name.upper())


def _json_data(array: np.ndarray) -> Any:
    """The flat data of a tensor for JSON: numeric arrays go to orjson as they are."""
    flat = array.ravel()
    if flat.dtype.kind == "S":
        return [b.decode("utf-8", "replace") for b in flat.tolist()]
    if flat.dtype.kind in "OU":
        return [str(v) for v in flat.tolist()]
    if flat.dtype == np.float16:
        return flat.astype(np.float32)
    return np.ascontiguousarray(flat)


def _raw_bytes(array: np.ndarray) -> bytes:
    if array.dtype.kind in "UOS":
        parts = []
        for value in array.ravel().tolist():
            data = value if isinstance(value, bytes) else str(value).encode()
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
