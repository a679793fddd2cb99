"""The model interface every backend presents: predict, predict_proba, run, signature, info."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from runtime._inputs import InputPlan, batch_rows
from runtime._signature import Signature
from runtime.errors import SignatureError

__all__ = ["Backend", "Model", "ModelInfo"]

PROBA_NAMES = ("probabilities", "probability", "output_probability", "probas", "proba")


@dataclass(frozen=True)
class ModelInfo:
    """Where a loaded model came from.

    ``origin`` says how the bytes were obtained: ``file`` (a local path), ``cache``
    (the local cache, no download) or ``download`` (fetched from the registry now).
    ``graph`` (ONNX on the CPU): ``cached`` when the session opened the cached optimised
    graph, ``saved`` when it optimised the model now and cached the result, else None.
    ``alias`` and ``weights`` are set when the model was loaded through an alias
    (``name@production``): ``version`` is the version picked from the alias's split.
    """

    name: str | None
    version: int | None
    format: str
    sha256: str | None
    framework: str | None
    path: Path
    origin: str = "file"
    registry: str | None = None
    device: str = "cpu"
    providers: tuple[str, ...] = field(default_factory=tuple)
    graph: str | None = None
    alias: str | None = None
    weights: dict[int, int] | None = None


class Backend(Protocol):
    """What a format's loader returns: a runnable graph with its own signature.

    ``run`` takes checked feeds and the output names wanted (None = all, in signature
    order) and returns the outputs in that order.
    """

    signature: Signature
    thread_safe: bool
    providers: tuple[str, ...]

    def run(self, output_names: list[str] | None, feeds: dict[str, Any]) -> list[Any]: ...


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(parts, axis=0) if first.ndim else first
    if isinstance(first, list):
        return [item for part in parts for item in part]
    return first


def _proba_array(value: Any) -> np.ndarray:
    """A (rows, classes) array; a ZipMap output (list of dicts) is laid out by sorted class."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        classes = sorted(value[0])
        return np.array([[row[c] for c in classes] for row in value], dtype=np.float32)
    return np.asarray(value)


class Model:
    """A loaded model. Thread-safe: one instance may serve many threads at once.

    >>> m = runtime.load_file("model.onnx")   # doctest: +SKIP
    >>> m.predict(x)                          # the first output
    >>> m.run({"x": x})                       # every output by name
    """

    def __init__(
        self,
        backend: Backend,
        info: ModelInfo,
        signature: Signature | None = None,
        batch_size: int | None = None,
    ) -> None:
        self._backend = backend
        self.info = info
        self.signature = signature or backend.signature
        self._plan = _plan_for(backend.signature)
        outputs = backend.signature.output_names
        if not outputs:
            raise SignatureError(f"model {info.path} declares no outputs")
        self._outputs = outputs
        self._primary = [outputs[0]]
        self._proba = self._find_proba(backend.signature)
        self._batch_size = _check_batch_size(batch_size)
        run = backend.run
        if not backend.thread_safe:
            run = _locked(run)
        self._run: Callable[[list[str] | None, dict[str, Any]], list[Any]] = run

    @staticmethod
    def _find_proba(sig: Signature) -> str | None:
        names = sig.output_names
        for candidate in PROBA_NAMES:
            if candidate in names:
                return candidate
        if len(names) == 2 and sig.outputs[0].dtype in ("int64", "str", "int32"):
            return names[1]  # classifier convention: (label, probabilities)
        return None

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    @property
    def input_names(self) -> list[str]:
        return list(self._plan.names)

    def check_inputs(self, x: Any) -> dict[str, np.ndarray]:
        """The feeds ``run`` would pass to the model for ``x``, checked against the signature
        (names, dtypes with the safe casts, ranks, fixed dims).

        Raises :class:`SignatureError` saying which input is wrong and why.
        """
        return self._plan.feeds(x)

    def predict(self, x: Any, *, batch_size: int | None = None) -> Any:
        """The primary (first) output for ``x`` (array, dict of arrays or DataFrame).

        Raises :class:`SignatureError` when ``x`` does not match the signature.
        """
        return self._outputs_for(self._primary, x, batch_size)[0]

    def predict_proba(self, x: Any, *, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, shape (rows, classes), for classifiers.

        Raises :class:`SignatureError` when the model has no probability output.
        """
        if self._proba is None:
            raise SignatureError(
                f"model {self.info.name or self.info.path} has no probability output "
                f"(outputs: {', '.join(self._outputs)}); use predict() or run()"
            )
        return _proba_array(self._outputs_for([self._proba], x, batch_size)[0])

    def run(self, inputs: Any, *, batch_size: int | None = None) -> dict[str, Any]:
        """Every output, by name, in signature order."""
        outs = self._outputs_for(self._outputs, inputs, batch_size)
        return dict(zip(self._outputs, outs, strict=True))

    def _outputs_for(self, names: list[str], x: Any, batch_size: int | None) -> list[Any]:
        """The named outputs for ``x``, in row batches when a batch size applies."""
        feeds = self._plan.feeds(x)
        size = self._batch_size if batch_size is None else batch_size
        if size is None:
            return self._run(names, feeds)
        return self._batched(names, feeds, size)

    def _batched(self, names: list[str], feeds: dict[str, Any], size: int) -> list[Any]:
        size = _check_batch_size(size) or 1
        rows = batch_rows(feeds)
        if rows <= size:
            return self._run(names, feeds)
        chunks = [
            self._run(names, {k: v[start : start + size] for k, v in feeds.items()})
            for start in range(0, rows, size)
        ]
        return [_concat([c[i] for c in chunks]) for i in range(len(names))]

    def __repr__(self) -> str:
        who = self.info.name or self.info.path.name
        ver = f":{self.info.version}" if self.info.version is not None else ""
        return f"<Model {who}{ver} format={self.info.format} device={self.info.device}>"


_PLANS: dict[Signature, InputPlan] = {}


def _plan_for(signature: Signature) -> InputPlan:
    """The input plan of a signature; plans hold no state after construction, so models
    with equal signatures (the same model loaded again) share one."""
    plan = _PLANS.get(signature)
    if plan is None:
        plan = InputPlan(signature)
        if len(_PLANS) < 1024:
            _PLANS[signature] = plan
    return plan


def _check_batch_size(size: int | None) -> int | None:
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"batch_size must be a positive integer, got {size!r}")
    return size


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    lock = threading.Lock()

    def run(names: Sequence[str] | None, feeds: dict[str, Any]) -> Any:
        with lock:
            return fn(names, feeds)

    return run
