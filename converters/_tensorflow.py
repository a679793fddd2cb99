"""TensorFlow SavedModel uploads (a folder packed as ``.zip`` / ``.tar.gz`` / ``.tgz``).

The archive is extracted member by member (``converters._archive``), the model is
loaded with ``tf.saved_model.load`` and served through its ``serving_default``
signature, matched by input *name* (signature inputs have no reliable order).

Also home of the helpers the Keras plug-in shares (same stack): TensorSpec <->
signature, input generation, tf2onnx through ``from_function``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from converters._archive import (
    archive_kind,
    extract_archive,
    find_saved_model_root,
    list_members,
)
from converters._base import NO_PICKLES, ConversionOutput, OptionSpec, Sample, Tolerance
from converters._postprocess import POSTPROCESS_OPTION, PREPROCESS_OPTION
from converters._protocol import ServerPolicy
from converters._torch_onnx import finish_onnx
from runtime import Signature, TensorSpec
from runtime.errors import ConversionError, InvalidUpload

__all__ = [
    "ONNX_OPSET",
    "SavedModelSource",
    "TensorFlowFramework",
    "TensorFlowToOnnx",
    "TensorFlowToSavedModel",
    "generate_inputs",
    "tf2onnx_convert",
    "tf_versions",
]

ONNX_OPSET = 17
SERVING = "serving_default"


def _has_saved_model(names: Sequence[str]) -> bool:
    for name in names:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if parts and parts[-1] == "saved_model.pb" and len(parts) <= 2:
            return True
    return False


class TensorFlowFramework:
    """Recognises and loads archived SavedModel folders."""

    name: ClassVar[str] = "tensorflow"
    extensions: ClassVar[tuple[str, ...]] = (".zip", ".tar.gz", ".tgz")
    accepts: ClassVar[str] = "TensorFlow SavedModel folder packed as .zip, .tar.gz or .tgz"

    options: ClassVar[Mapping[str, OptionSpec]] = {
        "postprocess": POSTPROCESS_OPTION,
        "preprocess": PREPROCESS_OPTION,
    }

    def sniff(self, path: Path, filename: str, policy: ServerPolicy = NO_PICKLES) -> bool:
        return _has_saved_model(list_members(path))

    def explain(self, path: Path, filename: str) -> str | None:
        """A tar ``sniff`` refused: its saved_model.pb is missing or too deep."""
        if archive_kind(path) != "tar":
            return None
        return "is a tar archive without saved_model.pb at its root or inside one top folder."

    def load(
        self, path: Path, filename: str, options: Mapping[str, Any], policy: ServerPolicy
    ) -> SavedModelSource:
        """Extract safely, then ``tf.saved_model.load`` (worker process only)."""
        folder = Path(tempfile.mkdtemp(prefix="savedmodel-", dir=path.parent))
        root = find_saved_model_root(extract_archive(path, folder / "extracted"))
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(str(root))
        except Exception as exc:
            raise InvalidUpload(
                f"{filename!r} holds a saved_model.pb that tf.saved_model.load cannot "
                f"read: {_short(exc)}"
            ) from exc
        signatures = dict(loaded.signatures)
        if SERVING not in signatures:
            found = ", ".join(sorted(signatures)) or "none"
            raise InvalidUpload(
                f"the SavedModel has no {SERVING!r} signature (found: {found}); save it with "
                "tf.saved_model.save(obj, dir, signatures={'serving_default': fn})"
            )
        return SavedModelSource(loaded, signatures[SERVING], root)


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- shared TF-stack helpers --------------------------------------------------------------


def tensor_spec(name: str, spec: Any, batch_leading: bool = True) -> TensorSpec:
    """A runtime TensorSpec from a tf.TensorSpec / KerasTensor; unknown axis 0 = ``batch``."""
    dims: list[int | str | None] = []
    shape = list(spec.shape) if spec.shape is not None else []
    for axis, dim in enumerate(shape):
        if dim is None:
            dims.append("batch" if axis == 0 and batch_leading else None)
        else:
            dims.append(int(dim))
    dtype = spec.dtype if isinstance(spec.dtype, str) else spec.dtype.name
    return TensorSpec(name, "str" if dtype == "string" else str(dtype), tuple(dims))


def generate_inputs(specs: Sequence[TensorSpec], rows: int, seed: int = 0) -> dict[str, Any]:
    """Random inputs for ``specs``: row 0 zeros, row 1 large magnitudes, the rest normal."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for spec in specs:
        shape = tuple(
            rows if (i == 0 and not isinstance(d, int)) else (d if isinstance(d, int) else 4)
            for i, d in enumerate(spec.shape or (None, 1))
        )
        if spec.dtype == "bool":
            out[spec.name] = rng.random(shape) < 0.5
        elif spec.dtype == "str":
            out[spec.name] = rng.choice(np.array(["a", "b", "c"], dtype=object), size=shape)
        elif np.issubdtype(np.dtype(spec.dtype), np.integer):
            out[spec.name] = rng.integers(0, 10, size=shape).astype(spec.dtype)
        else:
            data = rng.standard_normal(shape)
            if rows > 2:
                data[0] = 0.0
                data[1] *= 100.0
            out[spec.name] = data.astype(spec.dtype)
    return out


def tf_versions(**extra: str) -> dict[str, str]:
    import tensorflow as tf

    versions = {"tensorflow": tf.__version__}
    versions.update(extra)
    return versions


def tf2onnx_convert(
    fn: Callable[..., Any], inputs: Sequence[TensorSpec], wanted: Signature, out_dir: Path
) -> ConversionOutput:
    """``fn(*tensors)`` traced as a ``tf.function`` and converted with tf2onnx.

    ``wanted`` gives the names the ONNX graph must carry (inputs in ``inputs`` order,
    outputs in ``fn``'s flattened output order).
    """
    import onnx
    import tensorflow as tf
    import tf2onnx

    signature = [
        tf.TensorSpec(
            [None if isinstance(d, str) else d for d in s.shape or ()],
            tf.string if s.dtype == "str" else tf.as_dtype(s.dtype),
            name=s.name,
        )
        for s in inputs
    ]
    function = tf.function(fn, input_signature=signature, autograph=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as tmp:
        raw = Path(tmp) / "model.onnx"
        try:
            tf2onnx.convert.from_function(
                function, input_signature=signature, opset=ONNX_OPSET, output_path=str(raw)
            )
        except Exception as exc:
            raise ConversionError(f"tf2onnx failed: {_short(exc)}") from exc
        artifact, artifact_sig, opset = finish_onnx(raw, wanted, out_dir)
    info = {
        "name": "tf2onnx.convert.from_function",
        "versions": tf_versions(tf2onnx=tf2onnx.__version__, onnx=onnx.__version__),
        "opset": opset,
    }
    media = "application/onnx" if artifact.is_file() else "application/x-tar"
    return ConversionOutput(artifact, media, artifact_sig, info)


def _to_numpy(value: Any) -> np.ndarray:
    array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    if array.dtype == object or array.dtype.kind == "S":
        return array.astype(str).astype(object)
    return array


# --- the loaded SavedModel ----------------------------------------------------------------


class SavedModelSource:
    """A SavedModel's ``serving_default`` signature, run on named numpy inputs."""

    framework = "tensorflow"

    def __init__(self, loaded: Any, function: Any, root: Path) -> None:
        self.native = loaded
        self.function = function
        self.root = root
        kwargs = function.structured_input_signature[1]
        if function.structured_input_signature[0]:
            raise InvalidUpload(
                "the serving_default signature takes positional inputs; sign it with named "
                "tf.TensorSpec inputs"
            )
        inputs = tuple(tensor_spec(name, spec) for name, spec in kwargs.items())
        outputs_struct = function.structured_outputs
        if not isinstance(outputs_struct, dict):
            outputs_struct = {"output": outputs_struct}
        # tf.nest flattens dicts in sorted key order: keep that order so ONNX outputs
        # and signature outputs line up.
        outputs = tuple(tensor_spec(k, outputs_struct[k]) for k in sorted(outputs_struct))
        self.signature = Signature(inputs=inputs, outputs=outputs)

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        feeds = {}
        for spec in self.signature.inputs:
            if spec.name not in inputs:
                raise InvalidUpload(
                    f"input {spec.name!r} is missing; the model takes {self.signature.input_names}"
                )
            feeds[spec.name] = tf.constant(inputs[spec.name])
        result = self.function(**feeds)
        if not isinstance(result, dict):
            result = {"output": result}
        return {spec.name: _to_numpy(result[spec.name]) for spec in self.signature.outputs}

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        return generate_inputs(self.signature.inputs, rows, seed)


# --- converters -----------------------------------------------------------------------------


class TensorFlowToOnnx:
    """SavedModel -> ONNX with tf2onnx, names taken from the serving signature."""

    framework: ClassVar[str] = "tensorflow"
    target: ClassVar[str] = "onnx"
    tolerance: ClassVar[Tolerance] = Tolerance(atol=1e-4, rtol=1e-3)

    def applies(self, source: Any) -> str | None:
        return None

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        names = source.signature.input_names
        serving = source.function

        def call(*args: Any) -> Any:
            result = serving(**dict(zip(names, args, strict=True)))
            if isinstance(result, dict):
                return [result[k] for k in sorted(result)]
            return result

        return tf2onnx_convert(call, source.signature.inputs, source.signature, out_dir)


class TensorFlowToSavedModel:
    """SavedModel -> SavedModel: loaded and re-saved (normalised), signatures kept."""

    framework: ClassVar[str] = "tensorflow"
    target: ClassVar[str] = "savedmodel"
    tolerance: ClassVar[Tolerance] = Tolerance(atol=1e-6, rtol=1e-5)

    def applies(self, source: Any) -> str | None:
        return None

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        import tensorflow as tf

        folder = out_dir / "savedmodel"
        try:
            tf.saved_model.save(
                source.native, str(folder), signatures=dict(source.native.signatures)
            )
        except Exception as exc:
            raise ConversionError(f"re-saving the SavedModel failed: {_short(exc)}") from exc
        info = {
            "name": "tf.saved_model.save",
            "versions": tf_versions(),
            "opset": None,
            "signatures": sorted(source.native.signatures),
        }
        signature = Signature(
            inputs=tuple(sorted(source.signature.inputs, key=lambda t: t.name)),
            outputs=tuple(sorted(source.signature.outputs, key=lambda t: t.name)),
        )
        return ConversionOutput(folder, "application/x-tar", signature, info)
