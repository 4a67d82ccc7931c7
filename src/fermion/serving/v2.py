"""The Open Inference Protocol (KServe V2) over HTTP: request parsing, including the
binary tensor extension that Triton's clients use by default, and responses.

A Fermion model takes one input: encoded images or strings as BYTES, or ready-made
tensors (FP32 images [N, C, H, W], numeric rows [N, F]). It answers with
`probabilities` (FP32 [N, classes]) and `label` (BYTES [N]); a regression model with
`value` (FP32 [N])."""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from fermion.errors import InvalidInput

HEADER_LENGTH = "inference-header-content-length"
NUMPY_TYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
NUMERIC = {
    "FP16",
    "FP32",
    "FP64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
}


@dataclass
class V2Input:
    name: str
    datatype: str
    shape: list[int]
    values: list[Any] | np.ndarray  # BYTES: a list of bytes/str; otherwise an array


@dataclass
class V2Request:
    id: str | None
    input: V2Input
    outputs: list[str] | None  # the outputs asked for; None means all
    binary: set[str]  # outputs to send as binary data ("*": all of them)


@dataclass
class V2Output:
    name: str
    datatype: str  # FP32, INT32 or BYTES
    values: np.ndarray | list[str]  # FP32: an array in its shape; BYTES: strings
    dims: list[int] | None = None  # BYTES of more than one dimension: values flattened

    @property
    def shape(self) -> list[int]:
        if isinstance(self.values, np.ndarray):
            return list(self.values.shape)
        return self.dims or [len(self.values)]


def _split_binary(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        n = int(header_length)
    except ValueError:
        raise InvalidInput(
            f"Inference-Header-Content-Length {header_length!r} is not a number"
        ) from None
    if not 0 < n <= len(body):
        raise InvalidInput("Inference-Header-Content-Length is larger than the body")
    return body[:n], body[n:]


def _decode_bytes_tensor(blob: bytes, count: int, name: str) -> list[bytes]:
    """BYTES in the binary extension: each element is a 4-byte little-endian length and
    that many bytes."""
    items, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise InvalidInput(f"input {name!r}: truncated BYTES element")
        (length,) = struct.unpack_from("<I", blob, offset)
        offset += 4
        items.append(blob[offset : offset + length])
        offset += length
    if offset != len(blob) or len(items) != count:
        raise InvalidInput(f"input {name!r}: {len(items)} BYTES elements for shape of {count}")
    return items


def parse_request(body: bytes, header_length: str | None) -> V2Request:
    head, binary = _split_binary(body, header_length)
    try:
        request = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not JSON: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise InvalidInput('a V2 inference request is a JSON object with an "inputs" list')
    inputs = request["inputs"]
    if len(inputs) != 1:
        raise InvalidInput(f"the model takes exactly one input; the request has {len(inputs)}")
    spec = inputs[0]
    if not isinstance(spec, dict):
        raise InvalidInput("each input is an object with name, shape, datatype and data")
    name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
    if not isinstance(name, str) or not isinstance(datatype, str):
        raise InvalidInput("each input needs a name and a datatype")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and d >= 0 for d in shape)
    ):
        raise InvalidInput(f"input {name!r}: shape must be a list of non-negative integers")
    if datatype not in NUMPY_TYPES and datatype != "BYTES":
        raise InvalidInput(f"input {name!r}: unknown datatype {datatype!r}")
    values = _values(spec, name, datatype, shape, binary)
    outputs = request.get("outputs")
    wanted = None
    binary = {"*"} if _parameters(request).get("binary_data_output") is True else set()
    if isinstance(outputs, list):
        asked = [o for o in outputs if isinstance(o, dict)]
        wanted = [o.get("name") for o in asked]
        binary |= {o.get("name") for o in asked if _parameters(o).get("binary_data") is True}
    return V2Request(request.get("id"), V2Input(name, datatype, shape, values), wanted, binary)


def _parameters(spec: dict[str, Any]) -> dict[str, Any]:
    parameters = spec.get("parameters")
    return parameters if isinstance(parameters, dict) else {}


def _values(spec: dict[str, Any], name: str, datatype: str, shape: list[int], binary: bytes) -> Any:
    """The input's data: from the binary part of the body, or from its JSON "data"."""
    count = int(np.prod(shape))
    size = (spec.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or size > len(binary):
            raise InvalidInput(f"input {name!r}: binary_data_size does not match the body")
        blob = binary[:size]
        if datatype == "BYTES":
            values: Any = _decode_bytes_tensor(blob, count, name)
        else:
            dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
            if size != count * dtype.itemsize:
                raise InvalidInput(
                    f"input {name!r}: {size} bytes do not make shape {shape} of {datatype}"
                )
            values = np.frombuffer(blob, dtype=dtype).reshape(shape)
    else:
        data = spec.get("data")
        if not isinstance(data, list):
            raise InvalidInput(f'input {name!r} has no "data" list')
        if datatype == "BYTES":
            values = list(_flatten(data))
            if len(values) != count or not all(isinstance(v, str) for v in values):
                raise InvalidInput(
                    f"input {name!r}: BYTES data must be {count} strings for shape {shape}"
                )
        else:
            values = _numbers(data, datatype, name)
            if values.size != count:
                raise InvalidInput(
                    f"input {name!r}: {values.size} values do not fill shape {shape}"
                )
            values = values.reshape(shape)
    return values


def _numbers(data: list[Any], datatype: str, name: str) -> np.ndarray:
    """A numeric tensor's JSON data, flat (row-major) or nested, as one flat array.
    NumPy reads a flat or evenly nested list in C; only an uneven nesting (allowed: the
    count is what must match) walks the list in Python, about 45 µs per thousand values
    more."""
    dtype = NUMPY_TYPES[datatype]
    refused = (TypeError, ValueError, OverflowError)
    with contextlib.suppress(*refused):  # uneven, or not numbers: see below
        return np.asarray(data, dtype=dtype).reshape(-1)
    try:
        return np.asarray(list(_flatten(data)), dtype=dtype)
    except refused:
        raise InvalidInput(f"input {name!r}: data are not all {datatype} values") from None


def _flatten(data: list[Any]) -> Any:
    for item in data:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def response(
    model_name: str,
    version: str,
    request: V2Request,
    outputs: list[V2Output],
) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers. Outputs asked for as binary data follow the
    JSON part as raw little-endian values (BYTES: a 4-byte length before each element);
    `Inference-Header-Content-Length` says where the JSON ends."""
    described, blobs = [], []
    for output in outputs:
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": output.datatype,
            "shape": output.shape,
        }
        if "*" in request.binary or output.name in request.binary:
            blob = _encode_binary(output)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif isinstance(output.values, np.ndarray):
            entry["data"] = output.values.reshape(-1).tolist()
        else:
            entry["data"] = output.values
        described.append(entry)
    body: dict[str, Any] = {"model_name": model_name, "model_version": version}
    if request.id is not None:
        body["id"] = request.id
    body["outputs"] = described
    head = orjson.dumps(body)
    if not blobs:
        return head, {}
    return head + b"".join(blobs), {HEADER_LENGTH: str(len(head))}


def _encode_binary(output: V2Output) -> bytes:
    if isinstance(output.values, np.ndarray):
        little_endian = np.dtype(NUMPY_TYPES[output.datatype]).newbyteorder("<")
        return np.ascontiguousarray(output.values, dtype=little_endian).tobytes()
    parts = []
    for text in output.values:
        data = text.encode("utf-8")
        parts += [struct.pack("<I", len(data)), data]
    return b"".join(parts)


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})
