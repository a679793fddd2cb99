"""modelport runtime: load registered models as data and run them with onnxruntime.

>>> import runtime
>>> m = runtime.load("fraud-clf:3")          # doctest: +SKIP
>>> m.predict(X)                             # doctest: +SKIP

References: ``name:3``, ``name`` / ``name:latest``, ``name@alias``, or a local path (an
``.onnx``/``.pmml`` file, a SavedModel folder, a tar of one, a ``modelport pull`` folder).
``runtime.load_file(path)`` loads a local artifact without any registry.

The documents the registry serves are typed here, once: :class:`ModelDoc`,
:class:`VersionDoc`, :class:`ArtifactDoc`, :class:`SourceDoc`, :class:`ValidationReport`,
:class:`JobDoc` and :class:`Problem` (``from_json(mapping)`` / ``to_json()``; see
``runtime/_wire.py``).

Environment: ``MODELPORT_URL`` (registry, default http://127.0.0.1:8000),
``MODELPORT_TOKEN``, ``MODELPORT_CACHE`` (default ``$MODELPORT_HOME/cache`` or
``~/.cache/modelport``) and ``MODELPORT_CACHE_MAX`` (e.g. ``2G``; LRU eviction).

A loaded :class:`Model` offers ``predict`` (first output), ``predict_proba``
(classifiers), ``run`` (every output by name), ``signature`` and ``info``; inputs are an
array, a dict of arrays or a pandas DataFrame, checked against the signature on every
call (:class:`~runtime.errors.SignatureError`). ``device="cpu"|"cuda"|"cuda:N"|"auto"``
picks onnxruntime execution providers; ``runtime.devices()`` lists what is available.

Importing this package is cheap: numpy, onnxruntime, httpx and the optional backends
are imported when a model is loaded, not before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime._documents import (
    ARTIFACT_EXTENSIONS,
    ARTIFACT_FORMATS,
    FORMAT_PREFERENCE,
    PULL_MANIFEST,
    SERVABLE_STATUSES,
)
from runtime._refs import MAX_VERSION, ModelRef, check_alias, check_name
from runtime._signature import Signature, TensorSpec
from runtime.errors import ModelportError

if TYPE_CHECKING:
    from runtime._aliases import AliasEvent, AliasTarget, parse_weights
    from runtime._cache import Cache
    from runtime._devices import devices
    from runtime._load import load
    from runtime._loaders import load_file, loaders, register_loader
    from runtime._model import Model, ModelInfo
    from runtime._wire import (
        ArtifactDoc,
        JobDoc,
        ModelDoc,
        Problem,
        PullManifest,
        SourceDoc,
        ValidationReport,
        VersionDoc,
    )

__all__ = [
    "ARTIFACT_EXTENSIONS",
    "ARTIFACT_FORMATS",
    "FORMAT_PREFERENCE",
    "PULL_MANIFEST",
    "SERVABLE_STATUSES",
    "AliasEvent",
    "AliasTarget",
    "ArtifactDoc",
    "Cache",
    "JobDoc",
    "Model",
    "ModelDoc",
    "ModelInfo",
    "MAX_VERSION",
    "ModelRef",
    "ModelportError",
    "Problem",
    "PullManifest",
    "Signature",
    "SourceDoc",
    "TensorSpec",
    "ValidationReport",
    "VersionDoc",
    "check_alias",
    "check_name",
    "devices",
    "load",
    "load_file",
    "loaders",
    "parse_weights",
    "register_loader",
]

_LAZY = {
    "AliasEvent": "runtime._aliases",
    "AliasTarget": "runtime._aliases",
    "parse_weights": "runtime._aliases",
    "Cache": "runtime._cache",
    "load": "runtime._load",
    "Model": "runtime._model",
    "ModelInfo": "runtime._model",
    "devices": "runtime._devices",
    "load_file": "runtime._loaders",
    "loaders": "runtime._loaders",
    "register_loader": "runtime._loaders",
    "ArtifactDoc": "runtime._wire",
    "JobDoc": "runtime._wire",
    "ModelDoc": "runtime._wire",
    "Problem": "runtime._wire",
    "PullManifest": "runtime._wire",
    "SourceDoc": "runtime._wire",
    "ValidationReport": "runtime._wire",
    "VersionDoc": "runtime._wire",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
