"""modelport runtime: load registered models as data and run them with onnxruntime.

>>> import runtime
>>> m = runtime.load("fraud-clf:3")          # doctest: +SKIP
>>> m.predict(X)                             # doctest: +SKIP
"""

from runtime._refs import ModelRef, check_alias, check_name
from runtime._signature import Signature, TensorSpec
from runtime.errors import ModelportError

__all__ = [
    "ModelRef",
    "ModelportError",
    "Signature",
    "TensorSpec",
    "check_alias",
    "check_name",
]
