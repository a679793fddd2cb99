"""The plug-in tables: frameworks by name, converters by ``(framework, target)``.

Entries are ``"module:Class"`` strings, imported only when used, so listing what is
registered (``applicable_targets``) never imports a training framework. Third parties
add entries through the ``modelport.converters`` entry-point group: an entry named
``"<framework>:<target>"`` is a converter, one named ``"<framework>"`` a framework.
Both are :class:`runtime.plugins.PluginTable` s, with the rules every plug-in table
follows: overwriting a registration is refused, an entry point that cannot be used is
left out and reported, and listing imports nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from converters._base import Converter, Framework
from runtime.errors import MissingDependency, UnsupportedFormat
from runtime.plugins import PluginTable

__all__ = [
    "CONVERTER_PLUGINS",
    "ENTRY_POINT_GROUP",
    "FRAMEWORKS",
    "FRAMEWORK_PLUGINS",
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

#: The frameworks modelport ships; detection asks every registered plug-in.
FRAMEWORKS: tuple[str, ...] = (
    "onnx",
    "sklearn",
    "torch",
    "keras",
    "tensorflow",
    "xgboost",
    "lightgbm",
    "catboost",
    "transformers",
)

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


def _framework_key(name: str) -> str | None:
    return None if ":" in name else name


def _converter_key(name: str) -> tuple[str, str] | None:
    if ":" not in name:
        return None
    framework, target = name.split(":", 1)
    if not framework or not target or ":" in target:
        raise ValueError("a converter is named '<framework>:<target>'")
    return framework, target


#: Frameworks by name, in the order detection asks their sniffers.
FRAMEWORK_PLUGINS: PluginTable[str] = PluginTable(
    "framework", ENTRY_POINT_GROUP, _BUILTIN_FRAMEWORKS, key_of=_framework_key
)
#: Converters by ``(framework, target)``.
CONVERTER_PLUGINS: PluginTable[tuple[str, str]] = PluginTable(
    "converter",
    ENTRY_POINT_GROUP,
    _BUILTIN_CONVERTERS,
    key_of=_converter_key,
    label=lambda key: f"{key[0]}->{key[1]}",
)


def register_framework(name: str, entry: str | type) -> None:
    """Register a framework plug-in (a class or ``"module:Class"``); overwriting is refused."""
    FRAMEWORK_PLUGINS.register(name, entry)


def register_converter(framework: str, target: str, entry: str | type) -> None:
    """Register a converter for ``(framework, target)``; overwriting is refused.

    Raises ``RegistrationError`` when the pair is already registered.
    """
    CONVERTER_PLUGINS.register((framework, target), entry)


def registered_frameworks() -> list[str]:
    """Names of every registered framework."""
    return sorted(FRAMEWORK_PLUGINS.names())


def framework_names() -> list[str]:
    """Registered frameworks in registration order (built-ins first): detection's order."""
    return FRAMEWORK_PLUGINS.names()


def framework_class(name: str) -> Any:
    """The plug-in class of ``name`` (imports its module, never the framework library)."""
    found = FRAMEWORK_PLUGINS.resolve(name, _import_error(_EXTRAS.get(name, name)))
    if found is None:
        known = ", ".join(registered_frameworks())
        raise UnsupportedFormat(f"no framework {name!r} is registered; available: {known}")
    return found


def registered_converters() -> list[tuple[str, str]]:
    """Every registered ``(framework, target)`` pair."""
    return sorted(CONVERTER_PLUGINS.names())


def applicable_targets(framework: str) -> list[str]:
    """Targets with a registered converter for ``framework``, in ``TARGETS`` order.

    Imports nothing: safe in the API process.

    >>> applicable_targets("sklearn")
    ['onnx', 'pmml']
    """
    if framework not in FRAMEWORK_PLUGINS:
        known = ", ".join(registered_frameworks())
        raise UnsupportedFormat(f"unknown framework {framework!r}; registered: {known}")
    found = [t for (f, t) in CONVERTER_PLUGINS.names() if f == framework]
    order = {t: i for i, t in enumerate(TARGETS)}
    return sorted(found, key=lambda t: (order.get(t, len(order)), t))


def get_framework(name: str) -> Framework:
    """An instance of the framework plug-in ``name``.

    Raises ``UnsupportedFormat`` (listing what is registered), ``MissingDependency``, or
    ``BrokenPlugin`` (an installed plug-in that cannot be used, and why).
    """
    return framework_class(name)()  # type: ignore[no-any-return]


def get_converter(framework: str, target: str) -> Converter:
    """An instance of the converter registered for ``(framework, target)``.

    Raises ``UnsupportedFormat`` listing the registered pairs, or ``MissingDependency``
    naming the pip extra to install.
    """
    extra = _EXTRAS.get(target if target == "pmml" else framework, framework)
    cls = CONVERTER_PLUGINS.resolve((framework, target), _import_error(extra))
    if cls is None:
        known = ", ".join(f"{f}->{t}" for f, t in registered_converters())
        raise UnsupportedFormat(f"no converter for {framework}->{target}; available: {known}")
    return cls()  # type: ignore[no-any-return]


def _import_error(extra: str) -> Callable[[str, ImportError, str], Exception]:
    """How a plug-in module that does not import is reported: a missing library names
    the pip extra; a missing plug-in module says it is registered but not installed."""

    def report(module_name: str, exc: ImportError, origin: str) -> Exception:
        missing = exc.name or ""
        if missing == module_name or missing.startswith("converters."):
            return UnsupportedFormat(
                f"plug-in module {module_name} ({origin}) is registered but not installed"
            )
        return MissingDependency(
            f"{module_name} needs {missing or 'a library'} which is not installed; "
            f"install it with: pip install 'modelport[{extra}]'"
        )

    return report


def import_optional(module: str, extra: str) -> ModuleType:
    """Import an optional library, or raise ``MissingDependency`` naming the pip extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{module} is not installed; install it with: pip install 'modelport[{extra}]'"
        ) from exc
