"""Export registered models for serving engines: a Triton model repository, a KServe
InferenceService manifest.

Everything comes from the registry's REST API through the SDK (version documents, alias
weights, verified artifact downloads); nothing here imports the server side.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clients._types import ArtifactInfo, VersionInfo
from runtime import SERVABLE_STATUSES, AliasTarget, ModelRef, Signature, TensorSpec
from runtime.errors import ArtifactNotFound, InvalidModelRef, UnsupportedFormat

if TYPE_CHECKING:
    from clients._registry import Registry

__all__ = [
    "LAYOUTS",
    "Exported",
    "export_kserve",
    "export_triton",
    "kserve_manifest",
    "resolve_export",
    "triton_config",
]

LAYOUTS = ("triton", "kserve")
_SERVABLE = SERVABLE_STATUSES
_TRITON_TYPES = {
    "bool": "TYPE_BOOL",
    "uint8": "TYPE_UINT8",
    "uint16": "TYPE_UINT16",
    "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64",
    "int8": "TYPE_INT8",
    "int16": "TYPE_INT16",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "float16": "TYPE_FP16",
    "float32": "TYPE_FP32",
    "float64": "TYPE_FP64",
    "str": "TYPE_STRING",
    "object": "TYPE_STRING",
    "bytes": "TYPE_STRING",
}


@dataclass(frozen=True, slots=True)
class Exported:
    """What a reference exports: its versions (with weights) and their ONNX artifacts."""

    ref: ModelRef
    versions: tuple[VersionInfo, ...]
    weights: tuple[tuple[int, int], ...]

    @property
    def name(self) -> str:
        return self.ref.name

    def onnx(self, info: VersionInfo) -> ArtifactInfo:
        for art in info.artifacts:
            if art.format == "onnx" and art.status in _SERVABLE:
                return art
        raise ArtifactNotFound(
            f"{info.name}:{info.version} has no validated onnx artifact; serving engines "
            "load ONNX, so convert it to onnx (push with --targets onnx) first"
        )

    def signature(self, info: VersionInfo) -> Signature:
        return self.onnx(info).signature or info.spec


def resolve_export(reg: Registry, ref: str) -> Exported:
    """The versions ``ref`` names: one for ``name:N`` / ``latest``, an alias's whole split."""
    parsed = ModelRef.parse(ref)
    if parsed.alias is not None:
        target: AliasTarget = reg.alias(parsed.name, parsed.alias).target
        weights = target.weights
    else:
        weights = ((reg.show(parsed).version, 100),)
    versions = tuple(reg.show(ModelRef(parsed.name, version=v)) for v, _ in weights)
    exported = Exported(parsed, versions, weights)
    for info in versions:
        exported.onnx(info)  # fail before writing anything
    return exported


# -- Triton ----------------------------------------------------------------------------


def _batched(sig: Signature) -> bool:
    """True when every tensor's first axis is the batch (dynamic) axis."""
    tensors = (*sig.inputs, *sig.outputs)
    return bool(tensors) and all(
        t.shape is not None and len(t.shape) >= 1 and not isinstance(t.shape[0], int)
        for t in tensors
    )


def _tensor(spec: TensorSpec, batched: bool) -> str:
    dtype = _TRITON_TYPES.get(spec.dtype)
    if dtype is None:
        raise UnsupportedFormat(
            f"tensor {spec.name!r} has dtype {spec.dtype!r}, which Triton has no type for"
        )
    if spec.shape is None:
        raise UnsupportedFormat(
            f"tensor {spec.name!r} has no known shape; Triton needs its dims in config.pbtxt"
        )
    dims = [d if isinstance(d, int) else -1 for d in spec.shape]
    lines = [f"    name: {json.dumps(spec.name)}", f"    data_type: {dtype}"]
    if batched:
        dims = dims[1:]
        if not dims:  # one value per batch item: Triton wants [1] reshaped to a scalar
            lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
            return "  {\n" + "\n".join(lines) + "\n  }"
    lines.append(f"    dims: [ {', '.join(str(d) for d in dims)} ]")
    return "  {\n" + "\n".join(lines) + "\n  }"


def triton_config(
    name: str,
    sig: Signature,
    versions: Sequence[int],
    max_batch_size: int = 64,
    parameters: dict[str, str] | None = None,
) -> str:
    """``config.pbtxt`` for an ONNX model (protobuf text of Triton's ModelConfig).

    With a dynamic first axis on every tensor the model batches: ``max_batch_size`` is
    set, the batch axis leaves ``dims`` and dynamic batching is on; otherwise
    ``max_batch_size: 0`` and ``dims`` are the full shapes (-1 for a dynamic axis).
    """
    batched = _batched(sig) and max_batch_size > 0
    out = [
        f"name: {json.dumps(name)}",
        'platform: "onnxruntime_onnx"',
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch_size if batched else 0}",
        "version_policy: { specific: { versions: [ "
        + ", ".join(str(v) for v in sorted(versions))
        + " ] } }",
        "input [\n" + ",\n".join(_tensor(t, batched) for t in sig.inputs) + "\n]",
        "output [\n" + ",\n".join(_tensor(t, batched) for t in sig.outputs) + "\n]",
    ]
    if batched:
        out.append("dynamic_batching { }")
    for key, value in sorted((parameters or {}).items()):
        out.append(
            f"parameters: {{ key: {json.dumps(key)} "
            f"value: {{ string_value: {json.dumps(value)} }} }}"
        )
    return "\n".join(out) + "\n"


def export_triton(reg: Registry, exported: Exported, out: Path, max_batch_size: int = 64) -> Path:
    """Write ``out/<model>/<N>/model.onnx`` per version and ``out/<model>/config.pbtxt``."""
    sigs = {info.version: exported.signature(info) for info in exported.versions}
    first = next(iter(sigs.values()))
    for version, sig in sigs.items():
        if sig.to_dict() != first.to_dict():
            raise UnsupportedFormat(
                f"{exported.name}:{version} has another signature than "
                f"{exported.name}:{exported.versions[0].version}; one Triton model serves "
                "versions of one signature, so export them separately"
            )
    folder = out / exported.name
    for info in exported.versions:
        target = folder / str(info.version) / "model.onnx"
        target.parent.mkdir(parents=True, exist_ok=True)
        reg.pull(ModelRef(exported.name, version=info.version), "onnx", target)
    params = {
        "modelport.ref": str(exported.ref),
        "modelport.registry": reg.url,
        "modelport.weights": " ".join(f"{v}={w}" for v, w in exported.weights),
    }
    for info in exported.versions:
        params[f"modelport.sha256.{info.version}"] = str(exported.onnx(info).sha256)
    text = triton_config(exported.name, first, list(sigs), max_batch_size, params)
    config = folder / "config.pbtxt"
    config.write_text(text, encoding="utf-8")
    return folder


# -- KServe ----------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def _service_name(name: str) -> str:
    """A DNS-1035 label for the InferenceService (lowercase, '-' for '.' and '_')."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if text and not text[0].isalpha():
        text = "m-" + text
    text = text[:63].rstrip("-")
    if not _DNS_LABEL.fullmatch(text):
        raise InvalidModelRef(f"cannot derive a Kubernetes name from {name!r}; pass --service")
    return text


def kserve_manifest(
    exported: Exported, registry_url: str, service: str | None = None, namespace: str | None = None
) -> dict[str, Any]:
    """An ``InferenceService`` (serving.kserve.io/v1beta1) serving the ONNX artifact over
    the V2 protocol. A weighted alias becomes a canary: ``storageUri`` is the canary
    version and ``canaryTrafficPercent`` its weight (KServe sends the rest to the
    previously rolled-out revision, which should be the primary version)."""
    if len(exported.weights) > 2:
        raise UnsupportedFormat(
            f"{exported.ref} splits between {len(exported.weights)} versions; a KServe "
            "InferenceService splits between two revisions only (canary and previous)"
        )
    target = AliasTarget(exported.name, exported.ref.alias or "export", exported.weights)
    primary = target.version
    canary = target.canary[0] if target.canary else None
    chosen = canary[0] if canary else primary
    info = next(i for i in exported.versions if i.version == chosen)
    art = exported.onnx(info)
    uri = f"{registry_url}/api/v1/models/{exported.name}/versions/{chosen}/artifacts/onnx"
    annotations = {
        "modelport.io/ref": str(exported.ref),
        "modelport.io/registry": registry_url,
        "modelport.io/version": str(chosen),
        "modelport.io/sha256": str(art.sha256),
        "modelport.io/weights": " ".join(f"{v}={w}" for v, w in exported.weights),
    }
    if canary:
        annotations["modelport.io/primary-version"] = str(primary)
    metadata: dict[str, Any] = {
        "name": service or _service_name(exported.name),
        "labels": {"app.kubernetes.io/managed-by": "modelport"},
        "annotations": annotations,
    }
    if namespace:
        metadata["namespace"] = namespace
    predictor: dict[str, Any] = {
        "model": {
            "modelFormat": {"name": "onnx"},
            "protocolVersion": "v2",
            "storageUri": uri,
        }
    }
    if canary:
        predictor["canaryTrafficPercent"] = canary[1]
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def export_kserve(
    reg: Registry,
    exported: Exported,
    out: Path | None,
    service: str | None = None,
    namespace: str | None = None,
) -> str:
    """The manifest as JSON (which kubectl reads like YAML), written to ``out`` if given."""
    text = json.dumps(kserve_manifest(exported, reg.url, service, namespace), indent=2) + "\n"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return text
