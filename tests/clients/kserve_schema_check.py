"""Check a KServe manifest (a JSON file) against the model classes KServe generates from its
OpenAPI schema: ``python kserve_schema_check.py MANIFEST [CLASS]``, run by a python that has
the ``kserve`` package (its own venv: it pins protobuf<7). CLASS defaults to
``V1beta1InferenceService``.

Every key must be a field of the class at its position (by ``attribute_map``), every value
must have the declared type (``list[...]``, ``dict(str, ...)``, nested classes, Kubernetes
core classes from the ``kubernetes`` client), and required fields must be there: each object
is built with client-side validation on, and a field left out is required when its setter
refuses ``None``. Prints one line per problem and exits 1, or exits 0 when the manifest fits.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import kserve.models
import kubernetes.client.models
import pydantic
from kserve.configuration import Configuration

# kserve's generated code writes list[X] and dict(str, X); the kubernetes client's
# List[X] and Dict[str, X]
LIST = re.compile(r"[Ll]ist\[(.+)\]$")
DICT = re.compile(r"(?:dict\(str, (.+)\)|Dict\[str, (.+)\])$")
NUMBER = (int, float)
# JSON forms of the schema's scalar types (quantities are "1Gi" or plain numbers)
SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": NUMBER,
    "bool": (bool,),
    "datetime": (str,),
    "date": (str,),
    "bytes": (str,),
    "V1Time": (str,),
    "ResourceQuantity": (str, *NUMBER),
}
STRICT = Configuration()
STRICT.client_side_validation = True


def model_class(name: str) -> type | None:
    for package in (kserve.models, kubernetes.client.models):
        cls = getattr(package, name, None)
        if isinstance(cls, type) and hasattr(cls, "attribute_map"):
            return cls
    return None


def is_scalar(value: Any, kinds: tuple[type, ...]) -> bool:
    # JSON true/false are not numbers, although Python's bool is an int
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


def walk(value: Any, kind: str, path: str, problems: list[str]) -> Any:
    """The object ``value`` builds as ``kind``, or None after recording why it does not."""
    if kind == "object":
        return value
    if match := LIST.match(kind):
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list ({kind}), got {type(value).__name__}")
            return None
        return [walk(item, match[1], f"{path}[{i}]", problems) for i, item in enumerate(value)]
    if match := DICT.match(kind):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map ({kind}), got {type(value).__name__}")
            return None
        inner = match[1] or match[2]
        return {k: walk(v, inner, f"{path}.{k}", problems) for k, v in value.items()}
    if kind in SCALARS:
        if not is_scalar(value, SCALARS[kind]):
            problems.append(f"{path}: expected {kind}, got {json.dumps(value)}")
        return value
    cls = model_class(kind)
    if cls is None:
        problems.append(f"{path}: the schema's type {kind!r} is unknown to this checker")
        return None
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object ({kind}), got {type(value).__name__}")
        return None
    return build(cls, value, path, problems)


def build(cls: type, value: dict[str, Any], path: str, problems: list[str]) -> Any:
    fields = {key: attr for attr, key in cls.attribute_map.items()}
    kwargs = {}
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{path}.{key}: not a field of {cls.__name__}")
            continue
        kwargs[fields[key]] = walk(item, cls.openapi_types[fields[key]], f"{path}.{key}", problems)
    try:
        if issubclass(cls, pydantic.BaseModel):  # the kubernetes client's models
            return cls(**kwargs)
        obj = cls(**kwargs, local_vars_configuration=STRICT)
    except (ValueError, TypeError) as exc:
        problems.append(f"{path}: {cls.__name__} refuses it: {exc}")
        return None
    for attr in cls.openapi_types.keys() - kwargs.keys():
        try:
            setattr(obj, attr, None)
        except ValueError:
            problems.append(f"{path}.{cls.attribute_map[attr]}: required by {cls.__name__}")
    return obj


def main() -> int:
    manifest = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    kind = sys.argv[2] if len(sys.argv) > 2 else "V1beta1InferenceService"
    problems: list[str] = []
    walk(manifest, kind, "$", problems)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
