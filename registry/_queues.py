"""Conversion queues: one per heavy framework group, so each can run in its own image."""

from __future__ import annotations

__all__ = ["QUEUES", "queue_for", "queue_names"]

#: queue -> the source frameworks its workers convert. ``sklearn`` workers need Java
#: (PMML); ONNX uploads only need onnxruntime and ride along with them.
QUEUES: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn", "onnx"),
    "torch": ("torch",),
    "tensorflow": ("keras", "tensorflow"),
}


def queue_for(framework: str) -> str:
    """The queue whose workers convert ``framework`` (unknown ones go to ``sklearn``)."""
    for queue, frameworks in QUEUES.items():
        if framework in frameworks:
            return queue
    return "sklearn"


def queue_names() -> list[str]:
    """Every conversion queue, in a stable order."""
    return list(QUEUES)
