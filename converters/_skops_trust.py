"""Which types a ``.skops`` file may contain: a deliberate allow-list.

skops flags many ordinary scikit-learn types as untrusted (``sklearn.tree._tree.Tree``,
functions such as ``numpy.mean`` or ``sklearn.feature_selection.f_classif``). Trusting
whatever a file lists would defeat the point, so a type is trusted only when

* its name lies under ``sklearn``, ``numpy`` or ``scipy``,
* it is not in a module that reads/writes files, fetches data or runs code
  (``numpy.load``, ``scipy.io``, ``sklearn.datasets``, ``numpy.f2py``, ...), and
* (in the worker, where the libraries are imported) the name resolves to a class or
  function that is really defined in one of those packages (no re-exported ``os``).

Outside those packages, only the exact names in ``BOOSTING_TYPES`` are trusted: the
scikit-learn wrappers of XGBoost and LightGBM and their boosters, whose saved state is
the library's own model buffer (XGBoost's ``XGBoosterUnserializeFromBuffer``,
LightGBM's model text), parsed by the library and never unpickled. Whatever else such
an object carries (a custom objective function, a training ``Dataset``) is a type of
its own, checked like any other, so it is refused. CatBoost's wrappers are not listed:
no converter here takes them inside a pipeline (upload a ``.cbm`` instead).

``schema_types`` reads the names from the file's ``schema.json`` without importing
anything, so the API process can refuse a bad file up front.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from pathlib import Path
from typing import Any

from runtime.errors import InvalidUpload

__all__ = ["BOOSTING_TYPES", "check_types", "schema_types", "trusted_type", "untrusted_types"]

ALLOWED_ROOTS = ("sklearn", "numpy", "scipy")

# module prefixes and names that touch files, the network, compilers or test helpers
DENIED_PREFIXES = (
    "numpy.f2py",
    "numpy.distutils",
    "numpy.ctypeslib",
    "numpy.testing",
    "numpy.lib.npyio",
    "numpy.lib.format",
    "numpy.lib._npyio_impl",
    "numpy.lib._datasource",
    "numpy._core.records",
    "numpy.memmap",
    "numpy.load",
    "numpy.loadtxt",
    "numpy.genfromtxt",
    "numpy.fromfile",
    "numpy.save",
    "numpy.savez",
    "numpy.savez_compressed",
    "numpy.savetxt",
    "numpy.tofile",
    "numpy.fromregex",
    "scipy.io",
    "scipy.datasets",
    "scipy.misc",
    "scipy._lib._testutils",
    "sklearn.datasets",
    "sklearn.utils._testing",
    "sklearn.utils._show_versions",
    "sklearn.externals",
)

BOOSTING_TYPES = frozenset(
    {
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
    }
)

# builtins skops treats as safe anyway, plus a few plain containers
_BUILTIN_OK = {
    "builtins.slice",
    "builtins.frozenset",
    "builtins.complex",
    "collections.OrderedDict",
    "collections.defaultdict",
}
# builtins that skops' own nodes name in schema.json (containers and scalars)
_BUILTIN_SCHEMA = _BUILTIN_OK | {
    f"builtins.{n}"
    for n in (
        "dict",
        "list",
        "tuple",
        "set",
        "str",
        "int",
        "float",
        "bool",
        "bytes",
        "bytearray",
        "NoneType",
    )
}


def trusted_type(name: str) -> bool:
    """Policy check on a dotted type name, without importing anything."""
    if name in _BUILTIN_OK or name in BOOSTING_TYPES:
        return True
    root = name.split(".", 1)[0]
    if root not in ALLOWED_ROOTS:
        return False
    return not any(name == p or name.startswith(p + ".") for p in DENIED_PREFIXES)


def _resolves_inside(name: str) -> bool:
    """The dotted name imports to an object defined in an allowed package."""
    if name in _BUILTIN_OK:
        return True
    if name in BOOSTING_TYPES:
        return _defined_as(name)
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        module = getattr(obj, "__module__", None) or ""
        return module.split(".", 1)[0] in ALLOWED_ROOTS and trusted_type(
            f"{module}.{getattr(obj, '__qualname__', parts[-1])}"
        )
    return False


def _defined_as(name: str) -> bool:
    """``module.Class`` imports to a class defined under exactly that name."""
    module_name, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, type) and f"{obj.__module__}.{obj.__qualname__}" == name


def schema_types(path: Path) -> list[str]:
    """Every ``module.Class`` named in a ``.skops`` file's schema.json (nothing imported)."""
    try:
        with zipfile.ZipFile(path) as zf:
            schema = json.loads(zf.read("schema.json"))
    except (KeyError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidUpload(f"not a readable .skops file (schema.json): {exc}") from exc
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module, cls = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(cls, str):
                found.add(f"{module}.{cls}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


def _refuse(bad: list[str]) -> InvalidUpload:
    return InvalidUpload(
        "the .skops file contains types outside the trusted scikit-learn/numpy/scipy "
        f"allow-list: {', '.join(bad)}. Only estimators built from scikit-learn, numpy and "
        "scipy types are accepted; remove the custom parts or convert the model to ONNX "
        "yourself and upload the .onnx file"
    )


def check_types(path: Path) -> None:
    """Cheap up-front check (API process): refuse files naming non-allowed types."""
    bad = [t for t in schema_types(path) if t not in _BUILTIN_SCHEMA and not trusted_type(t)]
    if bad:
        raise _refuse(bad)


def untrusted_types(path: Path) -> list[str]:
    """The types skops would flag, each checked against the policy and resolved (worker).

    Returns the list to pass to ``skops.io.load(trusted=...)``; raises ``InvalidUpload``
    naming every type that is not allowed.
    """
    import skops.io as sio

    flagged = list(sio.get_untrusted_types(file=str(path)))
    bad = [t for t in flagged if not (trusted_type(t) and _resolves_inside(t))]
    if bad:
        raise _refuse(bad)
    return flagged
