"""Converter options: declared by the framework plug-ins, checked here once per upload.

Each framework plug-in declares the options its ``load`` reads
(``Framework.options``: name -> :class:`OptionSpec`). An upload's ``options`` may use
any option a registered framework declares; each value is checked against that
declaration (type, then the declared ``check``). ``allow_pickle`` is no option: it is
server policy and travels in the worker request's ``policy``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from converters._base import OptionSpec
from converters._registry import framework_class, framework_names
from runtime.errors import InvalidUpload, MissingDependency, UnsupportedFormat

__all__ = ["OPTIONS_MAX_BYTES", "check_options", "declared_options"]

OPTIONS_MAX_BYTES = 16 * 1024


def declared_options() -> dict[str, OptionSpec]:
    """Every option a registered framework reads, in registration order."""
    found: dict[str, OptionSpec] = {}
    for name in framework_names():
        try:
            cls = framework_class(name)
        except (MissingDependency, UnsupportedFormat):
            continue
        specs: Mapping[str, OptionSpec] = getattr(cls, "options", {})
        for key, spec in specs.items():
            found.setdefault(key, spec)
    return found


def check_options(options: Any) -> dict[str, Any]:
    """The upload's converter options, checked against the plug-ins' declarations.

    Raises ``InvalidUpload`` naming the key and listing the allowed ones.
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InvalidUpload(
            'options must be a JSON object, e.g. {"input_shapes": {"x": [null, 4]}}'
        )
    specs = declared_options()
    unknown = sorted(str(k) for k in options if k not in specs)
    if unknown:
        raise InvalidUpload(
            f"unknown option(s) {', '.join(map(repr, unknown))}; "
            f"allowed options: {', '.join(specs)}"
        )
    for key, value in options.items():
        spec = specs[key]
        if not isinstance(value, spec.kind):
            raise InvalidUpload(f"option {key!r} must be {spec.example}, got {value!r:.60}")
    if len(json.dumps(options)) > OPTIONS_MAX_BYTES:
        raise InvalidUpload(f"options are larger than {OPTIONS_MAX_BYTES // 1024} KiB")
    for key, value in options.items():
        check = specs[key].check
        if check is not None:
            check(value)
    return dict(options)
