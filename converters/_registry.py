"""The plug-in tables: frameworks by name, converters by ``(framework, target)``.

Entries are ``"module:Class"`` strings, imported only when used, so listing what is
registered (``applicable_targets``) never imports a training framework. Third parties
add entries through the ``modelport.converters`` entry-point group: an entry named
``"<framework>:<target>"`` is a converter, one named ``"<framework>"`` a framework.
Overwriting a registration is refused.
"""

from __future__ import annotations

import importlib
import threading
from importlib import metadata
from types import ModuleType
from typing import Any

from converters._base import Converter, Framework
from converters._errors import RegistrationError
from runtime.errors import MissingDependency, UnsupportedFormat

__all__ = [
    "ENTRY_POINT_GROUP",
    "TARGETS",
    "applicable_targets",
    "get_converter",
    "framework_class",
    "framework_names",
    "get_framework",
    "import_optional",
    "register_converter",
    "register_framework",
    "registered_converters",
    "registered_frameworks",
]

ENTRY_POINT_GROUP = "modelport.converters"
TARGETS: tuple[str, ...] = ("onnx", "pmml", "savedmodel")

# In the order detection asks their sniffers (ONNX, the costliest check, last);
# entry-point frameworks come after these.
_BUILTIN_FRAMEWORKS: dict[str, str] = {
    "sklearn": "converters._sklearn:SklearnFramework",
    "torch": "converters._torch:TorchFramework",
    "keras": "converters._keras:KerasFramework",
    "tensorflow": "converters._tensorflow:TensorFlowFramework",
    "xgboost": "converters._xgboost:XGBoostFramework",
    "lightgbm": "converters._lightgbm:LightGBMFramework",
    "catboost": "converters._catboost:CatBoostFramework",
    "transformers": "converters._transformers:TransformersFramework",
    "onnx": "converters._onnx:OnnxFramework",
}

_BUILTIN_CONVERTERS: dict[tuple[str, str], str] = {
    ("onnx", "onnx"): "converters._onnx:OnnxPassthrough",
    ("sklearn", "onnx"): "converters._sklearn:SklearnToOnnx",
    ("sklearn", "pmml"): "converters._sklearn_pmml:SklearnToPmml",
    ("torch", "onnx"): "converters._torch:TorchToOnnx",
    ("keras", "onnx"): "converters._keras:KerasToOnnx",
    ("keras", "savedmodel"): "converters._keras:KerasToSavedModel",
    ("tensorflow", "onnx"): "converters._tensorflow:TensorFlowToOnnx",
    ("tensorflow", "savedmodel"): "converters._tensorflow:TensorFlowToSavedModel",
    ("xgboost", "onnx"): "converters._xgboost:XGBoostToOnnx",
    ("xgboost", "pmml"): "converters._xgboost:XGBoostToPmml",
    ("lightgbm", "onnx"): "converters._lightgbm:LightGBMToOnnx",
    ("lightgbm", "pmml"): "converters._lightgbm:LightGBMToPmml",
    ("catboost", "onnx"): "converters._catboost:CatBoostToOnnx",
    ("transformers", "onnx"): "converters._transformers_onnx:TransformersToOnnx",
}

# pip extra that brings each framework's (and target's) libraries
_EXTRAS: dict[str, str] = {
    "onnx": "server",
    "sklearn": "sklearn",
    "torch": "torch",
    "keras": "tensorflow",
    "tensorflow": "tensorflow",
    "pmml": "pmml",
    "xgboost": "boosting",
    "lightgbm": "boosting",
    "catboost": "boosting",
    "transformers": "transformers",
}

_lock = threading.Lock()
_frameworks: dict[str, Any] | None = None
_converters: dict[tuple[str, str], Any] | None = None


def _load_tables() -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    global _frameworks, _converters
    with _lock:
        if _frameworks is None or _converters is None:
            frameworks: dict[str, Any] = dict(_BUILTIN_FRAMEWORKS)
            converters: dict[tuple[str, str], Any] = dict(_BUILTIN_CONVERTERS)
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                _add_entry_point(ep.name, ep.value, frameworks, converters)
            _frameworks, _converters = frameworks, converters
        return _frameworks, _converters


def _add_entry_point(
    name: str, value: str, frameworks: dict[str, Any], converters: dict[tuple[str, str], Any]
) -> None:
    if ":" in name:
        fw, target = name.split(":", 1)
        _put(converters, (fw, target), value, f"converter {fw}->{target}")
    else:
        _put(frameworks, name, value, f"framework {name!r}")


def _put(table: dict[Any, Any], key: Any, value: Any, what: str) -> None:
    if key in table:
        raise RegistrationError(
            f"{what} is already registered ({_describe(table[key])}); "
            f"refusing to overwrite it with {_describe(value)}. Pick another name."
        )
    table[key] = value


def _describe(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    return f"{getattr(entry, '__module__', '?')}:{getattr(entry, '__qualname__', entry)!s}"


def register_framework(name: str, entry: str | type) -> None:
    """Register a framework plug-in (a class or ``"module:Class"``); overwriting is refused."""
    frameworks, _ = _load_tables()
    with _lock:
        _put(frameworks, name, entry, f"framework {name!r}")


def register_converter(framework: str, target: str, entry: str | type) -> None:
    """Register a converter for ``(framework, target)``; overwriting is refused.

    Raises ``RegistrationError`` when the pair is already registered.
    """
    _, converters = _load_tables()
    with _lock:
        _put(converters, (framework, target), entry, f"converter {framework}->{target}")


def registered_frameworks() -> list[str]:
    """Names of every registered framework."""
    return sorted(_load_tables()[0])


def framework_names() -> list[str]:
    """Registered frameworks in registration order (built-ins first): detection's order."""
    return list(_load_tables()[0])


def framework_class(name: str) -> Any:
    """The plug-in class of ``name`` (imports its module, never the framework library)."""
    frameworks, _ = _load_tables()
    try:
        entry = frameworks[name]
    except KeyError:
        known = ", ".join(sorted(frameworks))
        raise UnsupportedFormat(
            f"no framework {name!r} is registered; available: {known}"
        ) from None
    return _resolve(entry, extra=_EXTRAS.get(name, name))


def registered_converters() -> list[tuple[str, str]]:
    """Every registered ``(framework, target)`` pair."""
    return sorted(_load_tables()[1])


def applicable_targets(framework: str) -> list[str]:
    """Targets with a registered converter for ``framework``, in ``TARGETS`` order.

    Imports nothing: safe in the API process.

    >>> applicable_targets("sklearn")
    ['onnx', 'pmml']
    """
    pairs = _load_tables()[1]
    if framework not in _load_tables()[0]:
        known = ", ".join(registered_frameworks())
        raise UnsupportedFormat(f"unknown framework {framework!r}; registered: {known}")
    found = [t for (f, t) in pairs if f == framework]
    order = {t: i for i, t in enumerate(TARGETS)}
    return sorted(found, key=lambda t: (order.get(t, len(order)), t))


def get_framework(name: str) -> Framework:
    """An instance of the framework plug-in ``name``.

    Raises ``UnsupportedFormat`` (listing what is registered) or ``MissingDependency``.
    """
    return framework_class(name)()  # type: ignore[no-any-return]


def get_converter(framework: str, target: str) -> Converter:
    """An instance of the converter registered for ``(framework, target)``.

    Raises ``UnsupportedFormat`` listing the registered pairs, or ``MissingDependency``
    naming the pip extra to install.
    """
    _, converters = _load_tables()
    try:
        entry = converters[(framework, target)]
    except KeyError:
        known = ", ".join(f"{f}->{t}" for f, t in sorted(converters))
        raise UnsupportedFormat(
            f"no converter for {framework}->{target}; available: {known}"
        ) from None
    extra = _EXTRAS.get(target if target == "pmml" else framework, framework)
    cls = _resolve(entry, extra=extra)
    return cls()  # type: ignore[no-any-return]


def _resolve(entry: Any, extra: str) -> Any:
    if not isinstance(entry, str):
        return entry
    module_name, _, attr = entry.partition(":")
    module = _import(module_name, extra)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UnsupportedFormat(
            f"plug-in {entry!r} is registered but {module_name} has no {attr!r}"
        ) from None


def _import(module_name: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or ""
        if missing == module_name or missing.startswith("converters."):
            raise UnsupportedFormat(
                f"plug-in module {module_name} is registered but not installed"
            ) from exc
        raise MissingDependency(
            f"{module_name} needs {missing or 'a library'} which is not installed; "
            f"install it with: pip install 'modelport[{extra}]'"
        ) from exc


def import_optional(module: str, extra: str) -> ModuleType:
    """Import an optional library, or raise ``MissingDependency`` naming the pip extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{module} is not installed; install it with: pip install 'modelport[{extra}]'"
        ) from exc
