"""The ONNX backend: one onnxruntime InferenceSession per loaded model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime._devices import plan_device
from runtime._dtypes import numpy_dtype_name
from runtime._signature import Dim, Signature, TensorSpec
from runtime.errors import InferenceError, ModelportError, SignatureError

__all__ = ["OnnxBackend", "SESSION_OPTIONS"]

_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
#: The session options ``load``/``load_file`` accept for ONNX models.
SESSION_OPTIONS = ("threads", "inter_op_threads", "optimization", "optimized_model_path")


def _dim(d: Any) -> Dim:
    if isinstance(d, int):
        return d if d >= 0 else None
    return d if isinstance(d, str) and d else None


def _specs(args: list[Any]) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(
            a.name,
            numpy_dtype_name(a.type),
            None if a.shape is None else tuple(_dim(d) for d in a.shape),
        )
        for a in args
    )


def _session_options(ort: Any, options: dict[str, Any]) -> Any:
    so = ort.SessionOptions()
    threads = options.get("threads")
    if threads is not None:
        so.intra_op_num_threads = int(threads)
    inter = options.get("inter_op_threads")
    if inter is not None:
        so.inter_op_num_threads = int(inter)
    level = options.get("optimization")
    if level is not None:
        if level not in _LEVELS:
            raise ValueError(f"optimization={level!r}: choose one of {', '.join(_LEVELS)}")
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[level])
    cache = options.get("optimized_model_path")
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        so.optimized_model_filepath = str(cache)
    return so


class OnnxBackend:
    """Runs an ``.onnx`` file with onnxruntime on the chosen device.

    The optimised graph can be kept on disk (``optimized_model_path``): loading that
    file later skips graph optimisation.
    """

    format = "onnx"
    thread_safe = True  # InferenceSession.run may be called from many threads

    def __init__(
        self, path: Path, *, device: str = "cpu", fallback: bool = False, **options: Any
    ) -> None:
        unknown = sorted(set(options) - set(SESSION_OPTIONS))
        if unknown:
            raise TypeError(
                f"unknown session option(s) {', '.join(unknown)}; ONNX models take "
                f"{', '.join(SESSION_OPTIONS)}"
            )
        import onnxruntime as ort
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        plan = plan_device(device, ort.get_available_providers(), fallback=fallback)
        try:
            so = _session_options(ort, options)
            sess = ort.InferenceSession(str(path), sess_options=so, providers=list(plan.providers))
        except (state.Fail, state.InvalidGraph, state.InvalidProtobuf, state.NoSuchFile) as exc:
            raise ModelportError(f"onnxruntime cannot load {path}: {exc}") from exc
        self.session = sess
        self.device = plan.device
        self.providers = tuple(sess.get_providers())
        self.signature = Signature(_specs(sess.get_inputs()), _specs(sess.get_outputs()))
        # The public run() re-validates the feed names on every call; our input plan has
        # done that already, so the hot path calls the session's native run directly.
        native = getattr(sess, "_sess", None)
        self._native = native.run if native is not None and hasattr(native, "run") else None
        self._public = sess.run
        self._bad_input = (state.InvalidArgument,)
        self._ep_fail = (state.EPFail,)

    def run(self, output_names: list[str] | None, feeds: dict[str, Any]) -> list[Any]:
        try:
            if self._native is not None and output_names:
                return self._native(output_names, feeds, None)  # type: ignore[no-any-return]
            return self._public(output_names, feeds)  # type: ignore[no-any-return]
        except self._ep_fail:
            return self._public(output_names, feeds)  # type: ignore[no-any-return]
        except self._bad_input as exc:
            raise SignatureError(f"onnxruntime refused the inputs: {exc}") from exc
        except Exception as exc:
            if isinstance(exc, ModelportError):
                raise
            raise InferenceError(f"onnxruntime failed running the model: {exc}") from exc
