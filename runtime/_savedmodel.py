"""The SavedModel backend, through TensorFlow (extra ``modelport[tensorflow]``).

TensorFlow is imported only when a SavedModel is loaded. The ``serving_default``
signature is served; outputs are ordered by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime._signature import Dim, Signature, TensorSpec
from runtime.errors import DeviceUnavailable, InferenceError, MissingDependency, ModelportError

__all__ = ["SavedModelBackend"]

_SIGNATURE_KEY = "serving_default"


def _import_tf() -> Any:
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise MissingDependency(
            "loading a SavedModel needs TensorFlow: pip install 'modelport[tensorflow]'"
        ) from exc
    return tf


def _spec(name: str, spec: Any) -> TensorSpec:
    shape: tuple[Dim, ...] | None = None
    if spec.shape.rank is not None:
        shape = tuple(
            d if d is not None else ("batch" if i == 0 else None)
            for i, d in enumerate(spec.shape.as_list())
        )
    dtype = "str" if spec.dtype.name == "string" else spec.dtype.name
    return TensorSpec(name, dtype, shape)


class SavedModelBackend:
    """Runs a SavedModel folder's ``serving_default`` signature on the CPU."""

    format = "savedmodel"
    thread_safe = True
    device = "cpu"
    providers: tuple[str, ...] = ("tensorflow",)

    def __init__(self, path: Path, *, device: str = "cpu", fallback: bool = False, **options: Any):
        if device not in ("cpu", "auto") and not fallback:
            raise DeviceUnavailable(
                f"SavedModels are served on the CPU; device {device!r} refused (use the ONNX "
                "artifact for GPU inference)"
            )
        if options:
            raise TypeError(f"SavedModels take no session options; got {', '.join(options)}")
        tf = _import_tf()
        try:
            loaded = tf.saved_model.load(str(path))
            fn = loaded.signatures[_SIGNATURE_KEY]
        except (KeyError, OSError, ValueError) as exc:
            raise ModelportError(f"cannot load the SavedModel at {path}: {exc}") from exc
        self._tf = tf
        self._loaded = loaded  # keeps the function's variables alive
        self._fn = fn
        inputs = fn.structured_input_signature[1]
        outputs = fn.structured_outputs
        self._dtypes = {name: spec.dtype for name, spec in inputs.items()}
        self.signature = Signature(
            tuple(_spec(n, inputs[n]) for n in sorted(inputs)),
            tuple(_spec(n, outputs[n]) for n in sorted(outputs)),
        )

    def run(self, output_names: list[str] | None, feeds: dict[str, Any]) -> list[Any]:
        tf = self._tf
        try:
            with tf.device("/CPU:0"):
                result = self._fn(
                    **{k: tf.constant(v, dtype=self._dtypes[k]) for k, v in feeds.items()}
                )
        except Exception as exc:
            raise InferenceError(f"TensorFlow failed running the SavedModel: {exc}") from exc
        names = output_names or self.signature.output_names
        return [result[n].numpy() for n in names]
