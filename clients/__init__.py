"""modelport clients: the Python SDK (:class:`Registry`) and the ``modelport`` CLI.

>>> from clients import Registry
>>> with Registry("http://127.0.0.1:8000") as reg:        # doctest: +SKIP
...     v = reg.push("model.onnx", "lin", wait=True)
...     path = reg.pull("lin:1", dest="models/")
"""

from clients._download import MANIFEST_NAME
from clients._errors import RegistryError, ResourceNotFound, WaitTimeout
from clients._registry import DEFAULT_URL, Registry
from clients._types import (
    AliasInfo,
    ArtifactInfo,
    JobInfo,
    ModelInfo,
    PushResult,
    VersionInfo,
)

__all__ = [
    "DEFAULT_URL",
    "MANIFEST_NAME",
    "AliasInfo",
    "ArtifactInfo",
    "JobInfo",
    "ModelInfo",
    "PushResult",
    "Registry",
    "RegistryError",
    "ResourceNotFound",
    "VersionInfo",
    "WaitTimeout",
]
