"""The worker protocol: what the registry asks a conversion worker, and what it answers.

Both documents are frozen, versioned and plain JSON, so a worker in another process, or
on another machine that receives them as a task message, reads exactly what the
registry wrote. Paths inside them are relative to the job folder (``JOB_DIR``)::

    JOB_DIR/request.json    WorkerRequest.to_json()
    JOB_DIR/input/...       the upload and the sample, as the request names them
    JOB_DIR/out/<format>/   what the converters wrote
    JOB_DIR/progress.json   {"target", "stage", "done", "total"} while the job runs
    JOB_DIR/result.json     WorkerResult.to_json()

The user's converter ``options`` and the server's :class:`ServerPolicy` are separate
fields: nothing an uploader sends can change the policy.

>>> req = WorkerRequest(source="input/model.onnx", filename="model.onnx", framework="onnx")
>>> WorkerRequest.from_json(req.to_json()) == req
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from converters._errors import ProtocolError

__all__ = [
    "PROGRESS_FILE",
    "PROTOCOL_VERSION",
    "PreprocessInput",
    "REQUEST_FILE",
    "RESULT_FILE",
    "ArtifactResult",
    "ProtocolError",
    "ServerPolicy",
    "WorkerRequest",
    "WorkerResult",
]

#: Bumped on any change a reader of the previous version would misread.
PROTOCOL_VERSION = 1
REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"
PROGRESS_FILE = "progress.json"


@dataclass(frozen=True, slots=True)
class ServerPolicy:
    """What the server allows a worker to do; set by the operator, never by an upload."""

    allow_pickle: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"allow_pickle": self.allow_pickle}

    @classmethod
    def from_dict(cls, data: Any) -> ServerPolicy:
        data = _object(data, "policy")
        return cls(allow_pickle=_typed(data, "allow_pickle", bool, False))


@dataclass(frozen=True, slots=True)
class PreprocessInput:
    """A registered scikit-learn preprocessing version to compose in front of the upload:
    its source (run for validation) and its validated ONNX artifact (composed)."""

    source: str  #: relative to the job folder
    filename: str  #: the preprocessing upload's own file name
    onnx: str  #: its ONNX artifact, relative to the job folder
    ref: str  #: ``name:N``, for lineage

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "filename": self.filename,
            "onnx": self.onnx,
            "ref": self.ref,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PreprocessInput:
        data = _object(data, "preprocess")
        return cls(
            source=_typed(data, "source", str),
            filename=_typed(data, "filename", str),
            onnx=_typed(data, "onnx", str),
            ref=_typed(data, "ref", str),
        )


@dataclass(frozen=True, slots=True)
class WorkerRequest:
    """One conversion job: the upload to load and the targets to produce."""

    source: str  #: the upload, relative to the job folder
    filename: str  #: the name the uploader gave (its ending is a hint only)
    framework: str | None = None  #: None: the worker detects it
    targets: tuple[str, ...] = ()  #: empty: every applicable target
    sample: str | None = None  #: the validation sample, relative to the job folder
    atol: float | None = None  #: None: the converter's default
    rtol: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  #: the uploader's, checked
    policy: ServerPolicy = field(default_factory=ServerPolicy)
    preprocess: PreprocessInput | None = None  #: set by the registry, never by an upload
    protocol: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        tolerance = None
        if self.atol is not None or self.rtol is not None:
            tolerance = {"atol": self.atol, "rtol": self.rtol}
        return {
            "protocol": self.protocol,
            "source": self.source,
            "filename": self.filename,
            "framework": self.framework,
            "targets": list(self.targets),
            "sample": self.sample,
            "tolerance": tolerance,
            "options": dict(self.options),
            "policy": self.policy.to_dict(),
            "preprocess": None if self.preprocess is None else self.preprocess.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Any) -> WorkerRequest:
        data = _object(data, "request")
        _check_protocol(data, "request")
        tolerance = _object(_or_empty(data, "tolerance"), "tolerance")
        return cls(
            source=_typed(data, "source", str),
            filename=_typed(data, "filename", str, "upload") or "upload",
            framework=_typed(data, "framework", str, None) or None,
            targets=tuple(_strings(data, "targets")),
            sample=_typed(data, "sample", str, None) or None,
            atol=_number(tolerance, "atol"),
            rtol=_number(tolerance, "rtol"),
            options=_object(_or_empty(data, "options"), "options"),
            policy=ServerPolicy.from_dict(_or_empty(data, "policy")),
            preprocess=(
                None
                if data.get("preprocess") is None
                else PreprocessInput.from_dict(data["preprocess"])
            ),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> WorkerRequest:
        return cls.from_dict(_loads(text, "request"))


@dataclass(frozen=True, slots=True)
class ArtifactResult:
    """What became of one target: a converted, validated artifact or the reason why not.

    ``status`` is one of ``passed | weak | failed | error | skipped``; ``path`` (a file
    or a folder relative to the job folder) is set when something was written.
    """

    format: str
    status: str
    path: str | None = None
    media_type: str | None = None
    signature: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    converter: dict[str, Any] | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "status": self.status,
            "path": self.path,
            "media_type": self.media_type,
            "signature": self.signature,
            "validation": self.validation,
            "converter": self.converter,
            "error": self.error,
            "timings": dict(self.timings),
            "traceback": self.traceback,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ArtifactResult:
        data = _object(data, "artifact")
        return cls(
            format=_typed(data, "format", str),
            status=_typed(data, "status", str),
            path=_typed(data, "path", str, None),
            media_type=_typed(data, "media_type", str, None),
            signature=_typed(data, "signature", dict, None),
            validation=_typed(data, "validation", dict, None),
            converter=_typed(data, "converter", dict, None),
            error=_typed(data, "error", str, None),
            timings=_typed(data, "timings", dict, None) or {},
            traceback=_typed(data, "traceback", str, None),
        )


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """The worker's answer. ``error`` set and no artifacts: the upload could not be loaded."""

    framework: str | None = None
    signature: dict[str, Any] | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    artifacts: tuple[ArtifactResult, ...] = ()
    error: str | None = None
    traceback: str | None = None
    protocol: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "framework": self.framework,
            "signature": self.signature,
            "lineage": self.lineage,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "error": self.error,
            "traceback": self.traceback,
        }

    def to_json(self) -> str:
        """Strict JSON: numpy scalars become numbers, non-finite floats strings."""
        return json.dumps(_plain(self.to_dict()), indent=2, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Any) -> WorkerResult:
        data = _object(data, "result")
        _check_protocol(data, "result")
        items = data.get("artifacts") or []
        if not isinstance(items, list):
            raise ProtocolError("result artifacts must be a list")
        return cls(
            framework=_typed(data, "framework", str, None),
            signature=_typed(data, "signature", dict, None),
            lineage=_typed(data, "lineage", dict, None) or {},
            artifacts=tuple(ArtifactResult.from_dict(i) for i in items),
            error=_typed(data, "error", str, None),
            traceback=_typed(data, "traceback", str, None),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> WorkerResult:
        return cls.from_dict(_loads(text, "result"))


# -- decoding helpers ------------------------------------------------------------------

_MISSING: Any = object()


def _loads(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"the {what} document is not valid JSON: {exc}") from None


def _or_empty(data: dict[str, Any], key: str) -> Any:
    value = data.get(key)
    return {} if value is None else value


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"the {what} document must be a JSON object")
    return value


def _check_protocol(data: dict[str, Any], what: str) -> None:
    version = data.get("protocol", _MISSING)
    if version != PROTOCOL_VERSION:
        shown = "none" if version is _MISSING else repr(version)
        raise ProtocolError(
            f"the {what} speaks worker protocol {shown}; this side speaks "
            f"{PROTOCOL_VERSION}: run the same modelport release on the registry and workers"
        )


def _typed(data: dict[str, Any], key: str, kind: type, default: Any = _MISSING) -> Any:
    value = data.get(key, default)
    if value is _MISSING:
        raise ProtocolError(f"the worker protocol document lacks {key!r}")
    if value is None and default is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ProtocolError(f"{key!r} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"{key!r} must be a list of strings")
    return value


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"{key!r} must be a number")
    return float(value)


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python numbers, non-finite floats to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    item = getattr(value, "item", None)  # numpy scalars, without importing numpy
    if callable(item) and getattr(value, "shape", None) == ():
        return _plain(item())
    return str(value)
