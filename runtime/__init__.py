"""modelport runtime: load registered models as data and run them with onnxruntime.

>>> import runtime
>>> m = runtime.load("fraud-clf:3")          # doctest: +SKIP
>>> m.predict(X)                             # doctest: +SKIP

Importing this package is cheap: numpy, onnxruntime, httpx and the optional backends
are imported when a model is loaded, not before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime._refs import ModelRef, check_alias, check_name
from runtime._signature import Signature, TensorSpec
from runtime.errors import ModelportError

if TYPE_CHECKING:
    from runtime._cache import Cache
    from runtime._devices import devices
    from runtime._load import load
    from runtime._loaders import load_file, loaders, register_loader
    from runtime._model import Model, ModelInfo

__all__ = [
    "Cache",
    "Model",
    "ModelInfo",
    "ModelRef",
    "ModelportError",
    "Signature",
    "TensorSpec",
    "check_alias",
    "check_name",
    "devices",
    "load",
    "load_file",
    "loaders",
    "register_loader",
]

_LAZY = {
    "Cache": "runtime._cache",
    "load": "runtime._load",
    "Model": "runtime._model",
    "ModelInfo": "runtime._model",
    "devices": "runtime._devices",
    "load_file": "runtime._loaders",
    "loaders": "runtime._loaders",
    "register_loader": "runtime._loaders",
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
