"""The ``preprocess`` upload option: a registered scikit-learn version in front of a network.

At upload the reference is checked and pinned (``scaler@prod`` becomes ``scaler:3``), so
a resumed job composes the same version; when the job is prepared, the worker gets that
version's source and its validated ONNX artifact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from converters import POSTPROCESS_FRAMEWORKS
from registry._domain import USABLE_STATUSES, Artifact, ModelVersion
from runtime import ModelRef
from runtime.errors import InvalidModelRef, InvalidUpload, ModelportError

if TYPE_CHECKING:
    from registry._metadata import MetadataStore

__all__ = ["check_composable", "pin_preprocess", "preprocess_blobs"]

_HINT = 'e.g. {"preprocess": {"model": "scaler:1"}}'


def _onnx(version: ModelVersion) -> Artifact | None:
    for art in version.artifacts:
        if art.format == "onnx" and art.status in USABLE_STATUSES and art.sha256:
            return art
    return None


def pin_preprocess(metadata: MetadataStore, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with ``preprocess.model`` pinned to ``name:N``; InvalidUpload if the
    reference is malformed, missing, not scikit-learn or has no validated ONNX."""
    opts = dict(options)
    raw = opts.get("preprocess")
    if raw is None:
        return opts
    if set(raw) != {"model"} or not isinstance(raw.get("model"), str):
        raise InvalidUpload(f"option 'preprocess' takes one key, model (a reference), {_HINT}")
    try:
        ref = ModelRef.parse(raw["model"])
        version = metadata.get_version(ref)
    except InvalidModelRef as exc:
        raise InvalidUpload(f"preprocess model: {exc}") from exc
    except (LookupError, ModelportError) as exc:
        raise InvalidUpload(f"preprocess model {ref} is not registered: {exc}") from exc
    label = f"{version.name}:{version.version}"
    if version.framework != "sklearn":
        raise InvalidUpload(
            f"preprocess model {label} is a {version.framework} model; name a scikit-learn "
            "transformer (e.g. a fitted StandardScaler or ColumnTransformer)"
        )
    if _onnx(version) is None:
        raise InvalidUpload(
            f"preprocess model {label} has no validated ONNX artifact yet (status "
            f"{version.status}); wait until it is ready"
        )
    opts["preprocess"] = {"model": label}
    return opts


def check_composable(framework: str, options: Mapping[str, Any]) -> None:
    """Refuse pre/post-processing for frameworks they do not apply to."""
    for key in ("preprocess", "postprocess"):
        if key in options and framework not in POSTPROCESS_FRAMEWORKS:
            raise InvalidUpload(
                f"option {key!r} applies to {', '.join(POSTPROCESS_FRAMEWORKS)} uploads, "
                f"not {framework}"
            )


def preprocess_blobs(
    metadata: MetadataStore, options: Mapping[str, Any]
) -> tuple[str, str, str, str] | None:
    """(source sha256, source filename, onnx sha256, ``name:N``) of the pinned version."""
    raw = options.get("preprocess")
    if not raw:
        return None
    ref = ModelRef.parse(str(raw["model"]))
    version = metadata.get_version(ref)
    art = _onnx(version)
    if art is None or art.sha256 is None:
        raise InvalidUpload(f"preprocess model {ref} has no validated ONNX artifact")
    return version.source.sha256, version.source.filename, art.sha256, str(ref)
