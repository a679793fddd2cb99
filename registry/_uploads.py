"""Parsing and checking of an upload's fields: file names, tags, options, tolerance, sample."""

from __future__ import annotations

import json
import math
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from converters import OPTIONS_MAX_BYTES
from converters import check_options as converter_options
from registry._blobs import StagedBlob
from runtime.errors import InvalidUpload

__all__ = [
    "check_options",
    "check_tags",
    "check_tolerance",
    "clean_filename",
    "parse_options",
    "parse_tags",
    "safe_suffix",
    "sample_kind",
]

_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,12}")


def clean_filename(filename: str | None) -> str:
    """The last path component of a client's file name (display only, never a path)."""
    raw = (filename or "").strip()
    base = PureWindowsPath(PurePosixPath(raw).name).name.strip()
    base = "".join(ch for ch in base if ch.isprintable())[:255]
    if not base or base in (".", ".."):
        raise InvalidUpload(
            "the uploaded file has no name; send it with a file name like 'model.onnx'"
        )
    return base


def safe_suffix(filename: str) -> str:
    """A file ending such as ``.onnx`` or ``.tar.gz`` made only of letters and digits."""
    parts = PurePosixPath(filename.lower()).suffixes[-2:]
    kept = [p for p in parts if _SAFE_SUFFIX.fullmatch(p)]
    if len(kept) == 2 and kept[0] != ".tar":
        kept = kept[1:]
    return "".join(kept)


def check_tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise InvalidUpload(
            'tags must be a JSON object of strings, e.g. {"team": "fraud", "stage": "dev"}'
        )
    if len(tags) > 64 or any(len(k) > 128 or len(v) > 1024 for k, v in tags.items()):
        raise InvalidUpload(
            "too many or too long tags: at most 64, keys <= 128 and values <= 1024 characters"
        )
    return dict(tags)


def parse_tags(raw: str | None) -> dict[str, str]:
    """Parse the ``tags`` form field (a JSON object of strings)."""
    if raw is None or raw.strip() == "":
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidUpload(
            f'tags is not valid JSON ({raw[:60]!r}); send an object like {{"team": "fraud"}}'
        ) from None
    return check_tags(value)


def check_options(options: Any) -> dict[str, Any]:
    """Converter options, checked against what the framework plug-ins declare."""
    return converter_options(options)


def parse_options(raw: str | None) -> Any:
    """Decode the ``options`` form field; ``Registry.create_version`` checks the value."""
    if raw is None or raw.strip() == "":
        return None
    if len(raw.encode()) > OPTIONS_MAX_BYTES:
        raise InvalidUpload(f"options are larger than {OPTIONS_MAX_BYTES // 1024} KiB")
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidUpload(
            f"options is not valid JSON ({raw[:60]!r}); send an object like "
            '{"input_shapes": {"x": [null, 4]}}'
        ) from None
    return value


def check_tolerance(tolerance: dict[str, float] | None) -> dict[str, float] | None:
    if tolerance is None:
        return None
    for key, value in tolerance.items():
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise InvalidUpload(f"{key} must be a finite number >= 0, got {value!r}")
    return {k: float(v) for k, v in tolerance.items()}


def sample_kind(filename: str | None, staged: StagedBlob) -> str:
    suffix = safe_suffix(clean_filename(filename))
    with staged.path.open("rb") as fh:
        head = fh.read(6)
    if suffix == ".npy" and head == b"\x93NUMPY":
        return "npy"
    if suffix == ".npz" and head[:2] == b"PK":
        return "npz"
    raise InvalidUpload(
        f"sample {filename!r} is not a NumPy .npy or .npz file; save inputs with "
        "numpy.save('sample.npy', x) or numpy.savez('sample.npz', x=x)"
    )
