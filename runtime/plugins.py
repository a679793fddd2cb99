"""The plug-in table: named entries with one set of rules, wherever modelport takes plug-ins.

The runtime's loaders (by artifact format), the converters' frameworks (by name) and
converters (by ``(framework, target)``), and the server commands of the ``modelport``
command line are each kept in a :class:`PluginTable`. The rules are the same for all:

* an entry is an object or a ``"module:attr"`` string, imported only when it is used,
  so listing what is registered imports nothing;
* built-ins come first, then the entry points of installed distributions (read once,
  on first use), then entries registered by a call: that is the order of ``names()``;
* registering a name that is taken is refused with :class:`RegistrationError`,
  naming what holds it; built-ins are never replaced;
* an entry point that cannot be used (its name taken, its value not ``module:attr``,
  its name not one the table understands) is left out, logged once as a warning and
  listed by ``broken()``; asking for it raises :class:`RegistrationError` saying why.
  One damaged distribution does not stop every other plug-in from working;
* an entry whose module cannot be imported is reported with where it came from.

>>> table = PluginTable("loader", None, {"onnx": "runtime._onnx:OnnxBackend"})
>>> table.register("csv", "acme.loaders:CsvBackend")
>>> table.names()
['onnx', 'csv']
>>> try:
...     table.register("onnx", "acme.loaders:Faster")
... except RegistrationError as exc:
...     print(exc)  # doctest: +ELLIPSIS
loader 'onnx' is already registered (built in: runtime._onnx:OnnxBackend); refusing ...
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from runtime.errors import ModelportError

__all__ = ["BrokenPlugin", "PluginEntry", "PluginTable", "RegistrationError"]

log = logging.getLogger("modelport.plugins")

K = TypeVar("K", bound=Hashable)

_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


class RegistrationError(ModelportError, ValueError):
    """A plug-in is registered under a name that is taken, or its entry is malformed."""


class BrokenPlugin(RegistrationError):
    """An installed plug-in cannot be used: its entry point was refused, or its module
    does not import. The message names the distribution it came from."""


@dataclass(frozen=True, slots=True)
class PluginEntry:
    """One registered plug-in: the object or ``"module:attr"``, and where it came from."""

    target: Any
    origin: str  # "built in", "entry point of <dist> <version>", "registered"

    def describe(self) -> str:
        """``module:attr`` of the entry, whether given as a string or as an object."""
        if isinstance(self.target, str):
            return self.target
        module = getattr(self.target, "__module__", "?")
        return f"{module}:{getattr(self.target, '__qualname__', self.target)!s}"


def _no_key_parser(name: str) -> Any:
    return name


def _target_of(ep: Any) -> str | None:
    """``module:attr`` of an entry point (extras dropped), None when it is not one."""
    try:
        module, attr = ep.module, ep.attr
    except AttributeError:  # the value does not parse at all
        return None
    if not module or not attr or not _TARGET.fullmatch(f"{module}:{attr}"):
        return None
    return f"{module}:{attr}"


class PluginTable(Generic[K]):
    """Plug-ins of one kind, by key.

    ``what`` names the kind in messages (``"loader"``); ``group`` is the entry-point
    group to read (None: no entry points); ``key_of`` turns an entry point's name into
    the table's key, returns None for a name that belongs to another table sharing the
    group, and raises ``ValueError`` for a malformed one; ``label`` writes a key for
    messages.
    """

    def __init__(
        self,
        what: str,
        group: str | None,
        builtins: Mapping[K, Any],
        *,
        key_of: Callable[[str], K | None] = _no_key_parser,
        label: Callable[[K], str] = repr,
    ) -> None:
        self.what = what
        self.group = group
        self._key_of = key_of
        self._label = label
        self._builtins = {k: PluginEntry(v, "built in") for k, v in builtins.items()}
        self._entries: dict[K, PluginEntry] | None = None
        self._broken: list[str] = []
        self._broken_keys: dict[K, str] = {}
        self._lock = threading.RLock()

    # -- reading -----------------------------------------------------------------------
    def _table(self) -> dict[K, PluginEntry]:
        entries = self._entries
        if entries is None:
            with self._lock:
                if self._entries is None:
                    self._entries = self._with_entry_points()
                entries = self._entries
        return entries

    def _with_entry_points(self) -> dict[K, PluginEntry]:
        entries = dict(self._builtins)
        if self.group is None:
            return entries
        from importlib import metadata

        try:
            found = list(metadata.entry_points(group=self.group))
        except Exception as exc:  # noqa: BLE001 - damaged metadata must not stop the built-ins
            log.warning("cannot read the %r entry points: %s", self.group, exc)
            return entries
        for ep in found:
            dist = getattr(ep, "dist", None)
            origin = "entry point"
            if dist is not None:
                origin = f"entry point of {dist.name} {dist.version}"
            try:
                key = self._key_of(ep.name)
            except ValueError as exc:
                self._refuse(None, ep.name, origin, f"its name does not parse: {exc}")
                continue
            if key is None:
                continue  # an entry of another table in the same group
            target = _target_of(ep)
            if target is None:
                self._refuse(key, ep.name, origin, f"its value {ep.value!r} is not 'module:attr'")
            elif key in entries:
                held = entries[key]
                reason = f"the name is taken ({held.origin}: {held.describe()})"
                self._refuse(None, ep.name, origin, reason)
            else:
                entries[key] = PluginEntry(target, origin)
        return entries

    def _refuse(self, key: K | None, name: str, origin: str, reason: str) -> None:
        message = f"{self.what} plug-in {name!r} ({origin}) is left out: {reason}"
        self._broken.append(message)
        if key is not None:
            self._broken_keys[key] = message
        log.warning("%s", message)

    def names(self) -> list[K]:
        """Every registered key, in registration order (built-ins first)."""
        return list(self._table())

    def targets(self) -> dict[K, str]:
        """Every registered key -> ``module:attr`` (imports nothing)."""
        return {k: e.describe() for k, e in self._table().items()}

    def broken(self) -> list[str]:
        """Why each entry point that was left out was left out (one message each)."""
        self._table()
        return list(self._broken)

    def __contains__(self, key: object) -> bool:
        return key in self._builtins or key in self._table()

    def entry(self, key: K) -> PluginEntry | None:
        """The entry of ``key`` or None. Built-ins are answered without reading entry
        points (that costs milliseconds, and a built-in can never be replaced)."""
        found = self._builtins.get(key)
        if found is None:
            found = self._table().get(key)
        if found is None and key in self._broken_keys:
            raise BrokenPlugin(self._broken_keys[key])
        return found

    def resolve(
        self,
        key: K,
        on_import_error: Callable[[str, ImportError, str], Exception] | None = None,
    ) -> Any:
        """The object registered as ``key`` (importing its module), or None if unknown.

        A module that does not import raises what ``on_import_error(module, exc, origin)``
        returns,
        else :class:`BrokenPlugin` naming where the entry came from.
        """
        found = self.entry(key)
        if found is None:
            return None
        if not isinstance(found.target, str):
            return found.target
        module_name, _, attr = found.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModelportError:
            raise  # MissingDependency from the plug-in itself: it names its pip extra
        except ImportError as exc:
            if on_import_error is not None:
                raise on_import_error(module_name, exc, found.origin) from exc
            raise BrokenPlugin(
                f"{self.what} {self._label(key)} ({found.origin}: {found.target}) cannot be "
                f"imported: {exc}"
            ) from exc
        obj: Any = module
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise BrokenPlugin(
                    f"{self.what} {self._label(key)} ({found.origin}) is registered as "
                    f"{found.target!r} but {module_name} has no {attr!r}"
                ) from None
        return obj

    # -- writing -----------------------------------------------------------------------
    def register(self, key: K, target: Any) -> None:
        """Add ``target`` (an object or ``"module:attr"``) as ``key``; a taken key is
        refused with :class:`RegistrationError`."""
        entry = PluginEntry(target, "registered")
        if isinstance(target, str) and not _TARGET.fullmatch(target):
            raise RegistrationError(
                f"{self.what} {self._label(key)}: {target!r} is not 'module:attr'"
            )
        with self._lock:
            entries = self._table()
            held = entries.get(key)
            if held is not None:
                raise RegistrationError(
                    f"{self.what} {self._label(key)} is already registered ({held.origin}: "
                    f"{held.describe()}); refusing to replace it with {entry.describe()}. "
                    "Pick another name."
                )
            entries[key] = entry

    def snapshot(self) -> dict[K, PluginEntry]:
        """The current entries, for :meth:`restore` (tests that register temporarily)."""
        return dict(self._table())

    def restore(self, snapshot: Mapping[K, PluginEntry]) -> None:
        """Put back the entries of an earlier :meth:`snapshot`."""
        with self._lock:
            self._entries = dict(snapshot)
