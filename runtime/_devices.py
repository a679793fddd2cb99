"""Devices: ``cpu``, ``cuda``, ``cuda:N``, ``tensorrt[:N]``, ``auto`` -> onnxruntime providers.

The choice is explicit: a model asked to run on ``cuda`` gets the CUDA provider (and CPU
for the operators CUDA lacks), or an error when this machine's onnxruntime has no CUDA
provider; with ``fallback=True`` it warns and runs on CPU instead.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runtime.errors import DeviceUnavailable, InvalidDevice

__all__ = ["DevicePlan", "available_providers", "devices", "plan_device"]

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
_DEVICE_RE = re.compile(r"(cpu|cuda|tensorrt|auto)(?::(\d+))?")

ProviderSpec = str | tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class DevicePlan:
    """The providers to hand to onnxruntime, best first, and the device they amount to."""

    device: str
    providers: tuple[ProviderSpec, ...]


_CPU_PLAN = DevicePlan("cpu", (CPU,))


def available_providers() -> list[str]:
    """The execution providers of the installed onnxruntime."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _gpu_count() -> int:
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 1
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return 1
    return max(1, sum(1 for line in out.stdout.splitlines() if line.startswith("GPU ")))


def devices(providers: Sequence[str] | None = None) -> list[str]:
    """Devices this machine offers, e.g. ``['cpu']`` or ``['cuda:0', 'cuda:1', 'cpu']``.

    >>> runtime.devices()   # doctest: +SKIP
    ['cpu']
    """
    have = list(providers) if providers is not None else available_providers()
    found: list[str] = []
    if CUDA in have:
        n = _gpu_count()
        found += [f"cuda:{i}" for i in range(n)]
        if TENSORRT in have:
            found += [f"tensorrt:{i}" for i in range(n)]
    found.append("cpu")
    return found


def _parse(device: str) -> tuple[str, int]:
    m = _DEVICE_RE.fullmatch(device.strip().lower()) if isinstance(device, str) else None
    if m is None or (m.group(1) in ("cpu", "auto") and m.group(2) is not None):
        raise InvalidDevice(
            f"invalid device {device!r}: use 'cpu', 'cuda', 'cuda:N' (N = GPU index), "
            "'tensorrt', 'tensorrt:N' or 'auto'"
        )
    return m.group(1), int(m.group(2) or 0)


def plan_device(device: str, available: Sequence[str], *, fallback: bool = False) -> DevicePlan:
    """Choose providers for ``device`` among ``available`` ones.

    Raises :class:`InvalidDevice` for a malformed string and :class:`DeviceUnavailable`
    when the device is missing (unless ``fallback``, which warns and picks CPU).
    """
    if device == "cpu":  # the default, asked on every load: no parsing
        return _CPU_PLAN
    kind, index = _parse(device)
    if kind == "cpu":
        return _CPU_PLAN
    if kind == "auto":
        if CUDA in available:
            plan = DevicePlan("cuda:0", ((CUDA, {"device_id": 0}), CPU))
        else:
            plan = DevicePlan("cpu", (CPU,))
        import logging

        logging.getLogger("runtime").info(
            "runtime: device 'auto' chose %s (available providers: %s)",
            plan.device,
            ", ".join(available),
        )
        return plan
    needed = TENSORRT if kind == "tensorrt" else CUDA
    if needed in available:
        opts = {"device_id": index}
        chain: tuple[ProviderSpec, ...] = ((needed, opts),)
        if kind == "tensorrt" and CUDA in available:
            chain += ((CUDA, dict(opts)),)
        return DevicePlan(f"{kind}:{index}", (*chain, CPU))
    message = (
        f"device {device!r} needs onnxruntime's {needed}, but this onnxruntime offers only "
        f"{', '.join(available) or 'nothing'}; install the GPU build "
        "(pip install 'modelport[gpu]', which brings onnxruntime-gpu) on a machine with an "
        "NVIDIA GPU, or load with device='cpu' (or fallback=True to fall back to CPU)"
    )
    if not fallback:
        raise DeviceUnavailable(message)
    warnings.warn(message + "; running on CPU", RuntimeWarning, stacklevel=3)
    return DevicePlan("cpu", (CPU,))
