"""Conversion queues: one per heavy framework group, so each can run in its own image."""

from __future__ import annotations

from converters import framework_group

__all__ = ["QUEUES", "queue_for", "queue_names"]

#: queue -> the source frameworks its workers convert. ``sklearn`` workers need Java
#: (PMML); ONNX uploads only need onnxruntime and ride along with them.
QUEUES: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn", "onnx"),
    "torch": ("torch",),
    "tensorflow": ("keras", "tensorflow"),
}


def queue_for(framework: str) -> str:
    """The queue whose workers convert ``framework``: its fork-server group (plug-in
    frameworks, group ``other``, go to ``sklearn``)."""
    group = framework_group(framework)
    return group if group in QUEUES else "sklearn"


def queue_names() -> list[str]:
    """Every conversion queue, in a stable order."""
    return list(QUEUES)
