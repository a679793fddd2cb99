"""The constants of the documents that cross package boundaries, defined once.

Every reader (the registry that writes version documents, the runtime that loads
artifacts, the SDK and CLI that download them, the web UI) imports these from here,
the lowest layer, instead of keeping its own copy. See "Contracts" in
docs/architecture.md for which module owns each document.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "ARTIFACT_EXTENSIONS",
    "ARTIFACT_FORMATS",
    "FORMAT_PREFERENCE",
    "PULL_MANIFEST",
    "SERVABLE_STATUSES",
]

#: Artifact statuses whose bytes ``runtime.load`` serves (validation passed).
SERVABLE_STATUSES: tuple[str, ...] = ("passed", "weak")
#: Converted formats, in the order ``runtime.load`` and ``modelport pull`` prefer them.
FORMAT_PREFERENCE: tuple[str, ...] = ("onnx", "pmml", "savedmodel")
#: Every artifact format of a version document: the upload as given, then the converted.
ARTIFACT_FORMATS: tuple[str, ...] = ("source", *FORMAT_PREFERENCE)
#: The file ending of a downloaded artifact (a SavedModel is a deterministic tar).
ARTIFACT_EXTENSIONS: MappingProxyType[str, str] = MappingProxyType(
    {"onnx": ".onnx", "pmml": ".pmml", "savedmodel": ".tar"}
)
#: The manifest ``modelport pull`` writes next to the artifact; ``runtime.load(folder)``
#: reads it.
PULL_MANIFEST = "modelport.json"
