"""Keras uploads: ``.keras`` (Keras 3) and legacy ``.h5``.

The model's config is read as JSON *before* anything is deserialised, so a
``Lambda`` layer (arbitrary Python) is refused by name without ever being loaded;
then ``keras.saving.load_model(..., safe_mode=True)`` loads the rest.

Input and output names come from that original config (input layer names, output
layer names), not from the loaded tensors: Keras may rename inputs between save and
load, and a Keras SavedModel signature sorts inputs alphabetically. Everything
downstream matches inputs by these names.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from converters._base import NO_PICKLES, ConversionOutput, OptionSpec, Sample, Tolerance
from converters._postprocess import POSTPROCESS_OPTION, PREPROCESS_OPTION
from converters._protocol import ServerPolicy
from converters._tensorflow import generate_inputs, tensor_spec, tf2onnx_convert, tf_versions
from runtime import Signature
from runtime.errors import ConversionError, InvalidUpload

__all__ = ["KerasFramework", "KerasSource", "KerasToOnnx", "KerasToSavedModel", "read_config"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_REFUSED_LAYERS = ("Lambda", "TFOpLambda")


def _kind(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
        weights = "metadata.json" in names or "model.weights.h5" in names
        return "keras" if "config.json" in names and weights else None
    except (OSError, zipfile.BadZipFile):
        pass
    with open(path, "rb") as fh:
        if fh.read(8) != _HDF5_MAGIC:
            return None
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py comes with tensorflow/keras
        return "h5"
    try:
        with h5py.File(path, "r") as fh:
            return "h5" if "model_config" in fh.attrs else None
    except OSError:
        return None


def read_config(path: Path) -> dict[str, Any]:
    """The model config JSON, read without deserialising anything."""
    kind = _kind(path)
    try:
        if kind == "keras":
            with zipfile.ZipFile(path) as zf:
                return dict(json.loads(zf.read("config.json")))
        if kind == "h5":
            import h5py

            with h5py.File(path, "r") as fh:
                raw = fh.attrs["model_config"]
            return dict(json.loads(raw.decode() if isinstance(raw, bytes) else raw))
    except (OSError, KeyError, ValueError) as exc:
        raise InvalidUpload(f"the Keras model config could not be read: {exc}") from exc
    raise InvalidUpload(
        "not a Keras model; accepted: a Keras 3 .keras file or a legacy .h5 with a model config"
    )


def _layers(node: Any) -> Iterator[dict[str, Any]]:
    """Every layer-like dict of the config, nested models and wrappers included."""
    if isinstance(node, dict):
        if "class_name" in node:
            yield node
        for value in node.values():
            yield from _layers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _layers(item)


def _refuse_unsafe(config: dict[str, Any], filename: str) -> None:
    for layer in _layers(config):
        if layer.get("class_name") in _REFUSED_LAYERS:
            name = (layer.get("config") or {}).get("name") or layer.get("name") or "?"
            raise InvalidUpload(
                f"{filename!r} contains a {layer['class_name']} layer named {name!r}; Lambda "
                "layers hold arbitrary Python code and are refused. Replace it with a "
                "registered custom layer or built-in layers, then save again"
            )


def _names(entries: Any) -> list[str]:
    """``[["a", 0, 0], ["b", 0, 0]]`` or ``["a", 0, 0]`` (one) -> ``["a", "b"]``."""
    if not entries:
        return []
    if isinstance(entries, list) and entries and isinstance(entries[0], str):
        return [entries[0]]
    out = []
    for entry in entries:
        if isinstance(entry, list) and entry and isinstance(entry[0], str):
            out.append(entry[0])
        elif isinstance(entry, dict) and "config" in entry:  # keras_history dicts
            history = entry["config"].get("keras_history") or []
            if history:
                out.append(str(history[0]))
    return out


def config_names(config: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(input names, output names) as written in the saved config."""
    body = config.get("config") or {}
    inputs = _names(body.get("input_layers"))
    outputs = _names(body.get("output_layers"))
    layers = body.get("layers") or []
    if config.get("class_name") == "Sequential" and layers:
        first = layers[0]
        if first.get("class_name") == "InputLayer":
            inputs = [first["config"]["name"]]
        outputs = [(layers[-1].get("config") or {}).get("name", "output")]
    return inputs, outputs


class KerasFramework:
    """Recognises and loads Keras uploads."""

    name: ClassVar[str] = "keras"
    extensions: ClassVar[tuple[str, ...]] = (".keras", ".h5")
    accepts: ClassVar[str] = "Keras (.keras, legacy .h5)"

    options: ClassVar[Mapping[str, OptionSpec]] = {
        "postprocess": POSTPROCESS_OPTION,
        "preprocess": PREPROCESS_OPTION,
    }

    def sniff(self, path: Path, filename: str, policy: ServerPolicy = NO_PICKLES) -> bool:
        return _kind(path) is not None

    def explain(self, path: Path, filename: str) -> str | None:
        """An HDF5 file ``sniff`` refused: weights without the model's config."""
        with open(path, "rb") as fh:
            if fh.read(8) != _HDF5_MAGIC:
                return None
        return (
            "is an HDF5 file without a Keras model_config (weights only?). "
            "Save the whole model with model.save('model.keras')."
        )

    def load(
        self, path: Path, filename: str, options: Mapping[str, Any], policy: ServerPolicy
    ) -> KerasSource:
        """Refuse Lambda layers from the config, then load with safe_mode (worker only)."""
        config = read_config(path)
        _refuse_unsafe(config, filename)
        import keras

        suffix = ".keras" if _kind(path) == "keras" else ".h5"
        with tempfile.TemporaryDirectory() as tmp:
            named = Path(tmp) / f"model{suffix}"  # keras picks the format by suffix
            shutil.copyfile(path, named)
            try:
                model = keras.saving.load_model(str(named), safe_mode=True, compile=False)
            except Exception as exc:
                raise InvalidUpload(
                    f"{filename!r} could not be loaded with keras.saving.load_model "
                    f"(safe_mode=True): {' '.join(str(exc).split())[:300]}"
                ) from exc
        return KerasSource(model, config)


def _to_list(result: Any) -> list[Any]:
    if isinstance(result, dict):
        return list(result.values())
    if isinstance(result, list | tuple):
        return list(result)
    return [result]


class KerasSource:
    """A loaded Keras model run on inputs named as in its original config."""

    framework = "keras"

    def __init__(self, model: Any, config: dict[str, Any]) -> None:
        self.native = model
        in_names, out_names = config_names(config)
        tensors = list(model.inputs)
        if len(in_names) != len(tensors):
            in_names = [t.name for t in tensors]
        outputs = list(model.outputs)
        if len(out_names) != len(outputs):
            out_names = (
                [f"output_{i}" for i in range(len(outputs))] if len(outputs) > 1 else ["output"]
            )
        self.signature = Signature(
            inputs=tuple(tensor_spec(n, t) for n, t in zip(in_names, tensors, strict=True)),
            outputs=tuple(tensor_spec(n, t) for n, t in zip(out_names, outputs, strict=True)),
        )

    def call(self, *tensors: Any) -> list[Any]:
        """Run the model on tensors in signature order; outputs in signature order."""
        arg = tensors[0] if len(tensors) == 1 else list(tensors)
        return _to_list(self.native(arg, training=False))

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [n for n in self.signature.input_names if n not in inputs]
        if missing:
            raise InvalidUpload(
                f"inputs {missing} are missing; the model takes {self.signature.input_names}"
            )
        arrays = [np.asarray(inputs[n]) for n in self.signature.input_names]
        outputs = self.call(*arrays)
        return {
            spec.name: np.asarray(value)
            for spec, value in zip(self.signature.outputs, outputs, strict=True)
        }

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        return generate_inputs(self.signature.inputs, rows, seed)


def _keras_version() -> str:
    import keras

    return str(keras.__version__)


class KerasToOnnx:
    """Keras -> ONNX: the model traced in a ``tf.function``, converted by tf2onnx."""

    framework: ClassVar[str] = "keras"
    target: ClassVar[str] = "onnx"
    tolerance: ClassVar[Tolerance] = Tolerance(atol=1e-4, rtol=1e-3)

    def applies(self, source: Any) -> str | None:
        return None

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        output = tf2onnx_convert(source.call, source.signature.inputs, source.signature, out_dir)
        output.converter["versions"]["keras"] = _keras_version()
        return output


class KerasToSavedModel:
    """Keras -> SavedModel via Keras' export archive, one ``serve`` endpoint.

    The endpoint takes the inputs by their config names and returns a dict keyed by
    the output layer names, so the ``serving_default`` signature carries meaningful
    names instead of ``inputs_0`` / ``output_0``.
    """

    framework: ClassVar[str] = "keras"
    target: ClassVar[str] = "savedmodel"
    tolerance: ClassVar[Tolerance] = Tolerance(atol=1e-5, rtol=1e-4)

    def applies(self, source: Any) -> str | None:
        return None

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        import keras
        import tensorflow as tf

        specs = [
            tf.TensorSpec(
                [None if isinstance(d, str) else d for d in s.shape or ()],
                tf.as_dtype(s.dtype),
                name=s.name,
            )
            for s in source.signature.inputs
        ]
        names = source.signature.output_names

        def serve(*tensors: Any) -> dict[str, Any]:
            return dict(zip(names, source.call(*tensors), strict=True))

        folder = out_dir / "savedmodel"
        try:
            archive = keras.export.ExportArchive()
            archive.track(source.native)
            archive.add_endpoint(name="serve", fn=serve, input_signature=specs)
            archive.write_out(str(folder), verbose=False)
        except Exception as exc:
            raise ConversionError(
                f"Keras SavedModel export failed: {' '.join(str(exc).split())[:300]}"
            ) from exc
        # A SavedModel signature is keyed by name and has no order: list names sorted,
        # as every SavedModel reader (the runtime's included) presents them.
        signature = Signature(
            inputs=tuple(sorted(source.signature.inputs, key=lambda t: t.name)),
            outputs=tuple(sorted(source.signature.outputs, key=lambda t: t.name)),
        )
        info = {
            "name": "keras.export.ExportArchive",
            "opset": None,
            "versions": tf_versions(keras=_keras_version()),
            "endpoint": "serve",
        }
        return ConversionOutput(folder, "application/x-tar", signature, info)
