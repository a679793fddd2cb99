"""Element types: onnxruntime type strings to the numpy dtype names of a signature."""

from __future__ import annotations

__all__ = ["ONNX_TO_NUMPY", "numpy_dtype_name"]

ONNX_TO_NUMPY: dict[str, str] = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "str",
}


def numpy_dtype_name(onnx_type: str) -> str:
    """``tensor(float)`` -> ``float32``; non-tensor types (sequences, maps) pass unchanged."""
    return ONNX_TO_NUMPY.get(onnx_type, onnx_type)
