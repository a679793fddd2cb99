"""The ONNX backend: one onnxruntime InferenceSession per loaded model."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from runtime._devices import plan_device
from runtime._dtypes import numpy_dtype_name
from runtime._graphs import GRAPH_CACHE_MAX_BYTES, GraphCache, GraphMiss, options_allow_graphs
from runtime._signature import Dim, Signature, TensorSpec
from runtime.errors import InferenceError, MissingDependency, ModelportError, SignatureError

__all__ = ["OnnxBackend", "SESSION_OPTIONS"]


def _log(message: str, *args: Any) -> None:
    import logging  # rarely needed: not imported on the way to a loaded model

    logging.getLogger("runtime").info(message, *args)


_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
#: The session options ``load``/``load_file`` accept for ONNX models.
SESSION_OPTIONS = (
    "threads",
    "inter_op_threads",
    "optimization",
    "optimized_model_path",
    "graph_cache",
)
_CPU_ONLY = ("CPUExecutionProvider",)
# operators of onnxruntime-extensions (tokenizers and other pre-processing)
_CONTRIB_DOMAIN = "ai.onnx.contrib"


def _session(ort: Any, model: Any, so: Any, providers: list[Any]) -> Any:
    """An InferenceSession. A graph with onnxruntime-extensions operators gets that
    library's custom ops registered, and only then is the library imported."""
    try:
        return ort.InferenceSession(model, sess_options=so, providers=providers)
    except Exception as exc:
        if _CONTRIB_DOMAIN not in str(exc):
            raise
        so.register_custom_ops_library(_extensions_library(exc))
        return ort.InferenceSession(model, sess_options=so, providers=providers)


def _extensions_library(cause: Exception) -> str:
    try:
        from onnxruntime_extensions import get_library_path
    except ImportError:
        raise MissingDependency(
            f"the model uses operators of the {_CONTRIB_DOMAIN} domain (onnxruntime-extensions, "
            "e.g. a tokenizer inside the graph); install them: pip install onnxruntime-extensions"
        ) from cause
    return str(get_library_path())


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


_PROVIDERS: list[str] = []
# Signatures by model sha256 (inputs and outputs are a function of the model's bytes,
# whatever the optimisation): a warm load does not rebuild the same specs again.
_SIGNATURES: dict[str, Signature] = {}


def _signature_of(sess: Any, sha256: str | None) -> Signature:
    known = _SIGNATURES.get(sha256) if sha256 else None
    if known is None:
        known = Signature(_specs(sess.get_inputs()), _specs(sess.get_outputs()))
        if sha256 and len(_SIGNATURES) < 1024:
            _SIGNATURES[sha256] = known
    return known


def _available(ort: Any) -> list[str]:
    """onnxruntime's providers, asked once: the set is fixed when the library loads."""
    if not _PROVIDERS:
        _PROVIDERS.extend(ort.get_available_providers())
    return _PROVIDERS


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

    On the CPU the optimised graph is cached (``graph_cache``, on by default; see
    :mod:`runtime._graphs`) when the model's sha256 is known: later loads skip graph
    optimisation. ``optimized_model_path`` saves the optimised graph to a path of your
    choosing instead. ``graph`` says what happened: ``"cached"`` (opened the cached
    optimised graph), ``"saved"`` (optimised now and cached) or None. ``graph_only``
    raises :class:`GraphMiss` instead of reading ``path`` when no cached graph serves:
    the caller has not verified ``path`` yet.
    """

    format = "onnx"
    thread_safe = True  # InferenceSession.run may be called from many threads

    def __init__(
        self,
        path: Path,
        *,
        device: str = "cpu",
        fallback: bool = False,
        sha256: str | None = None,
        cache_root: Path | None = None,
        graph_only: bool = False,
        verify: str = "full",
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(SESSION_OPTIONS))
        if unknown:
            raise TypeError(
                f"unknown session option(s) {', '.join(unknown)}; ONNX models take "
                f"{', '.join(SESSION_OPTIONS)}"
            )
        import onnxruntime as ort
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        plan = plan_device(device, _available(ort), fallback=fallback)
        providers = list(plan.providers)
        refused = (state.Fail, state.InvalidGraph, state.InvalidProtobuf, state.NoSuchFile)
        self.graph: str | None = None
        graphs, key = self._graph_cache(
            ort, path, sha256, cache_root, providers, options, checked=graph_only
        )
        sess = None
        if graphs is not None:
            found = graphs.find(key, verify)
            if found is not None:
                cached, data = found
                so = _session_options(ort, {**options, "optimization": "disable"})
                try:
                    sess = _session(ort, str(cached) if data is None else data, so, providers)
                    self.graph = "cached"
                except refused as exc:  # the graph it wrote, and cannot read back
                    _log("runtime: onnxruntime refused its own graph %s (%s)", cached, exc)
                    graphs.drop(cached)
                    graphs.refuse(key)
        if sess is None:
            if graph_only:
                raise GraphMiss(path)
            sess = self._create(ort, path, options, providers, refused, graphs, key)
        self.session = sess
        self.device = plan.device
        self.providers = tuple(sess.get_providers())
        self.signature = _signature_of(sess, sha256)
        # The public run() re-validates the feed names on every call; our input plan has
        # done that already, so the hot path calls the session's native run directly.
        native = getattr(sess, "_sess", None)
        self._native = native.run if native is not None and hasattr(native, "run") else None
        self._public = sess.run
        self._bad_input = (state.InvalidArgument,)
        self._ep_fail = (state.EPFail,)

    @staticmethod
    def _graph_cache(
        ort: Any,
        path: Path,
        sha256: str | None,
        cache_root: Path | None,
        providers: list[Any],
        options: dict[str, Any],
        checked: bool = False,
    ) -> tuple[GraphCache | None, str]:
        """The graph cache to use for this load, if any, and the key of this session.
        ``checked``: the caller knows ``path`` is a cached blob (no need to stat it)."""
        if sha256 is None or tuple(providers) != _CPU_ONLY or not options_allow_graphs(options):
            return None, ""
        level = options.get("optimization") or "all"
        try:
            if not checked:
                st = path.stat()
                if not stat.S_ISREG(st.st_mode) or st.st_size > GRAPH_CACHE_MAX_BYTES:
                    return None, ""
            if cache_root is None:
                from runtime._cache import cache_root as default_root

                cache_root = default_root()
        except OSError:
            return None, ""
        return GraphCache(cache_root, sha256), GraphCache.key(ort.__version__, level, _CPU_ONLY)

    def _create(
        self,
        ort: Any,
        path: Path,
        options: dict[str, Any],
        providers: list[Any],
        refused: tuple[type[Exception], ...],
        graphs: GraphCache | None,
        key: str,
    ) -> Any:
        """A session from the model itself, saving its optimised graph when caching."""
        so = _session_options(ort, options)
        scratch = None
        if graphs is not None and not graphs.refused(key):
            try:
                scratch = graphs.scratch(key)
            except OSError as exc:  # a read-only cache: load without it
                _log("runtime: cannot cache the optimised graph (%s)", exc)
            else:
                so.optimized_model_filepath = str(scratch)
                # onnxruntime warns that a graph optimised at this level suits only this
                # machine: the cache key names the machine, so the warning is noise here
                so.log_severity_level = 3
        try:
            sess = _session(ort, str(path), so, providers)
        except BaseException as exc:
            if scratch is not None:
                scratch.unlink(missing_ok=True)
            if isinstance(exc, refused):
                raise ModelportError(f"onnxruntime cannot load {path}: {exc}") from exc
            raise
        if scratch is not None and graphs is not None and graphs.publish(scratch, key):
            self.graph = "saved"
        return sess

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
